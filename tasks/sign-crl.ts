import { root, task, v } from "../lib/mod.ts";

// Runbook: re-sign the root CRL before its nextUpdate (root posture, offline). Every other
// root-posture run re-signs it too; this is for when none is due.
export default task({
  summary: "Re-sign the root-signed CRL (before status warns it expires)",
  args: v.strictObject({}),
  examples: ["inforge pki crl"],
  run: () => root().crl(),
});
