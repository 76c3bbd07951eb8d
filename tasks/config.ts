import { Duration, root, task, v } from "../lib/mod.ts";

// Runbook: sign pki.json's trust-critical fields (recipients, domain, lifetimes, consumers, …)
// into custody.json (root posture, offline). Until then every run refuses a pki.json that differs
// from the signed record; `inforge pki config` shows the differences before it signs.
export default task({
  summary: "Sign pki.json's current trust-critical fields into custody.json (after reviewing the diff)",
  args: v.strictObject({
    /** When renew promotes a prepared intermediate: "time" (after the propagation delay) or "probe" (on probe evidence). */
    promotion: v.optional(v.picklist(["time", "probe"], 'promotion is "time" or "probe"')),
    /** How old probe evidence may be for a promotion, such as "1h". */
    probeMaxAge: v.optional(Duration),
  }),
  examples: ["inforge pki config --plan", "inforge pki config", "inforge pki config --promotion probe --probe-max-age 1h"],
  run: ({ promotion, probeMaxAge }) => root().config({ ...(promotion ? { promotion } : {}), ...(probeMaxAge ? { probeMaxAge } : {}) }),
});
