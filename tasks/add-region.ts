import { scope, task, v } from "../lib/mod.ts";

// Runbook: add a region (or the global scope). Root posture; then CI runs `renew`.
export default task({
  summary: "Add a region (or global): its first intermediate and its trust bundle",
  args: v.strictObject({ scope: v.string() }),
  examples: ["inforge pki intermediate eu", "inforge run add-region --scope eu"],
  run: ({ scope: name }) => scope(name).add(),
});
