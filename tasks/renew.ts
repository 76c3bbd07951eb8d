import { all, scope, task, v } from "../lib/mod.ts";

// Runbook: scheduled leaf renewal (CI posture). Also moves rotations along: promotes a
// prepared intermediate once its propagation delay has passed, retires a retiring one.
export default task({
  summary: "Mint missing leaves, renew those past their renewal point, advance rotations",
  args: v.strictObject({ region: v.optional(v.string()) }),
  examples: ["inforge pki renew", "inforge pki renew --region eu"],
  // `--region ""` (an unset $REGION in CI) is refused by scope(), not taken as "every region".
  run: ({ region }) => (region !== undefined ? scope(region).leaves().renew() : all().leaves().renew()),
});
