import { scope, task, v } from "../lib/mod.ts";

// Runbook: planned key roll of one scope's intermediate (root posture). The new generation is
// prepared and published in the bundles first; CI promotes it after the propagation delay.
export default task({
  summary: "Planned key roll of one scope's intermediate, with overlap",
  args: v.strictObject({ scope: v.string(), force: v.optional(v.boolean(), false) }),
  examples: ["inforge pki rotate --intermediate eu"],
  run: ({ scope: name, force }) => scope(name).intermediate().rotate({ force }),
});
