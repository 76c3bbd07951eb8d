import { InputError, scope, task, v } from "../lib/mod.ts";

// Runbook: a CA for a mesh's control plane in one scope (root posture) — Istio's plug-in CA,
// Linkerd's identity issuer, a cert-manager CA Issuer. The first run issues it; --rotate rolls
// it with an overlap like an intermediate's; --recover revokes a leaked one on the root CRL and
// replaces it at once. CI exports it with inforge deploy --mesh.
export default task({
  summary: "Issue (or, with --rotate, roll; with --recover, revoke and replace) a scope's CA for istio, linkerd or cert-manager",
  args: v.strictObject({
    scope: v.string(), mesh: v.string(),
    rotate: v.optional(v.boolean(), false), force: v.optional(v.boolean(), false), recover: v.optional(v.boolean(), false),
  }),
  examples: ["inforge pki issuer eu --mesh istio", "inforge pki issuer eu --mesh linkerd --rotate", "inforge pki issuer eu --mesh istio --recover"],
  run: ({ scope: name, mesh, rotate, force, recover }) => {
    if (rotate && recover) throw new InputError("give --rotate (planned, with overlap) or --recover (compromise: revoke and replace now), not both");
    const issuer = scope(name).issuer(mesh);
    return recover ? issuer.recover() : rotate ? issuer.rotate({ force }) : issuer.add();
  },
});
