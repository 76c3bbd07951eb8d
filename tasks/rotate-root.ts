import { root, task, v } from "../lib/mod.ts";

// Runbook: replace the cold root with a dual-root overlap (root posture, offline).
export default task({
  summary: "Start a root rotation (dual-root overlap), or --finish it",
  args: v.strictObject({ finish: v.optional(v.boolean(), false) }),
  examples: ["inforge pki rotate --root", "inforge pki rotate --root --finish"],
  run: ({ finish }) => (finish ? root().finish() : root().rotate()),
});
