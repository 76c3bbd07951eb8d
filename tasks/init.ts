import { root, task, v, InputError } from "../lib/mod.ts";

// Runbook: create the offline root (root posture, on the operator workstation).
export default task({
  summary: "Create the offline root; prints the new root identity once",
  args: v.strictObject({
    domain: v.optional(v.string(), "mesh.internal"),
    name: v.optional(v.string(), "inforge mesh"),
    ciRecipient: v.optional(v.string()),
    /** "dns" leaves URIs unconstrained, for rustls-based verifiers (see docs/concepts.md). */
    nameConstraints: v.optional(v.picklist(["dns+uri", "dns"], 'use --name-constraints dns+uri (default) or dns')),
  }),
  examples: ["inforge pki init --domain mesh.example.internal --ci-recipient age1… --identity-out /media/usb/root.key"],
  run: ({ domain, name, ciRecipient, nameConstraints }, ctx) => {
    const ci = ciRecipient ?? ctx.ciRecipient;
    if (!ci) throw new InputError("init needs the CI recipient: pass --ci-recipient age1… or set INFORGE_SECRETS_KEY so it can be derived");
    return root().init({ name, domain, ciRecipient: ci, ...(nameConstraints ? { nameConstraints } : {}) });
  },
});
