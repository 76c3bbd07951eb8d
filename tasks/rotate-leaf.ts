import { scope, task, v } from "../lib/mod.ts";

// Runbook: force a new key and certificate for one service (CI posture).
export default task({
  summary: "Rotate one service's leaf now (new key and certificate)",
  args: v.strictObject({ region: v.string(), service: v.string() }),
  examples: ["inforge pki rotate --leaf payments --region eu"],
  run: ({ region, service }) => scope(region).service(service).leaf().rotate(),
});
