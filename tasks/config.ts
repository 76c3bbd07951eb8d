import { root, task, v } from "../lib/mod.ts";

// Runbook: sign pki.json's trust-critical fields (recipients, domain, lifetimes, consumers, …)
// into custody.json (root posture, offline). Until then every run refuses a pki.json that differs
// from the signed record; `inforge pki config` shows the differences before it signs.
export default task({
  summary: "Sign pki.json's current trust-critical fields into custody.json (after reviewing the diff)",
  args: v.strictObject({}),
  examples: ["inforge pki config --plan", "inforge pki config"],
  run: () => root().config(),
});
