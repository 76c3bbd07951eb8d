import { scope, task, v } from "../lib/mod.ts";

// Runbook: an intermediate key is believed leaked (root posture, no overlap). Revoke it, list
// it on the root CRL, issue a new generation active at once; CI then re-issues the scope's leaves.
export default task({
  summary: "Recover a compromised intermediate: revoke, replace, drop from bundles at once",
  args: v.strictObject({ scope: v.string() }),
  examples: ["inforge pki recover-intermediate eu"],
  run: ({ scope: name }) => scope(name).intermediate().recover(),
});
