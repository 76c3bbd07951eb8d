import { root, task, v } from "../lib/mod.ts";

// Runbook: replace the cold root with a dual-root overlap (root posture, offline).
export default task({
  summary: "Start a root rotation (dual-root overlap), or --finish it",
  args: v.strictObject({ finish: v.optional(v.boolean(), false), rootIn: v.optional(v.string()) }),
  examples: ["inforge pki rotate --root", "inforge pki rotate --root --root-in 'pkcs11:token=inforge;object=root-g2?module-path=/usr/lib/softhsm/libsofthsm2.so'", "inforge pki rotate --root --finish"],
  run: ({ finish, rootIn }) => (finish ? root().finish() : root().rotate(rootIn ? { rootIn } : {})),
});
