import { REVOCATION_REASONS, scope, task, v } from "../lib/mod.ts";

// Runbook: one service's key is believed leaked (CI posture). Revoke its leaf on the scope CRL,
// issue a replacement with a new key; then deploy the service and publish crl/<region>.crl.pem.
export default task({
  summary: "Revoke one service's leaf (scope CRL) and issue its replacement",
  args: v.strictObject({
    region: v.string(),
    service: v.string(),
    reason: v.optional(v.picklist(REVOCATION_REASONS, `use --reason ${REVOCATION_REASONS.join(" | ")}`), "unspecified"),
  }),
  examples: ["inforge pki revoke --leaf payments --region eu --reason key-compromise", "inforge run revoke-leaf --region eu --service payments --plan"],
  run: ({ region, service, reason }) => scope(region).service(service).leaf().revoke({ reason }),
});
