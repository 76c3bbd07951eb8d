import { scope, task, v } from "../lib/mod.ts";

// Runbook: a CA for a mesh's control plane in one scope (root posture) — Istio's plug-in CA,
// Linkerd's identity issuer, a cert-manager CA Issuer. The first run issues it; --rotate rolls
// it with an overlap like an intermediate's. CI exports it with inforge deploy --mesh.
export default task({
  summary: "Issue (or, with --rotate, roll) a scope's CA for istio, linkerd or cert-manager",
  args: v.strictObject({ scope: v.string(), mesh: v.string(), rotate: v.optional(v.boolean(), false), force: v.optional(v.boolean(), false) }),
  examples: ["inforge pki issuer eu --mesh istio", "inforge pki issuer eu --mesh linkerd --rotate"],
  run: ({ scope: name, mesh, rotate, force }) => (rotate ? scope(name).issuer(mesh).rotate({ force }) : scope(name).issuer(mesh).add()),
});
