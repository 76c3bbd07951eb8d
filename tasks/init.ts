import { root, task, v, InputError } from "../lib/mod.ts";

// Runbook: create the offline root (root posture, on the operator workstation).
export default task({
  summary: "Create the offline root; prints the new root identity once",
  args: v.strictObject({
    domain: v.optional(v.string(), "mesh.internal"),
    name: v.optional(v.string(), "inforge mesh"),
    ciRecipient: v.optional(v.string()),
    /** "dns" (default) is accepted by every TLS stack; "dns+uri" is refused by rustls (see docs/concepts.md). */
    nameConstraints: v.optional(v.picklist(["dns", "dns+uri"], 'use --name-constraints dns (default) or dns+uri')),
    /** Where the root key is made: "age" (default, root/G1.key.age) or a pkcs11: URI (a key pair on a token). */
    rootIn: v.optional(v.string()),
  }),
  examples: ["inforge pki init --domain mesh.example.internal --ci-recipient age1… --identity-out /media/usb/root.key"],
  run: ({ domain, name, ciRecipient, nameConstraints, rootIn }, ctx) => {
    const ci = ciRecipient ?? ctx.ciRecipient;
    if (!ci) throw new InputError("init needs the CI recipient: pass --ci-recipient age1… or set INFORGE_SECRETS_KEY so it can be derived");
    return root().init({ name, domain, ciRecipient: ci, ...(nameConstraints ? { nameConstraints } : {}), ...(rootIn ? { rootIn } : {}) });
  },
});
