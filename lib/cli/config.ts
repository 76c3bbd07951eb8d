import { InputError } from "../errors.ts";
import { fieldChanges, showValue, trustCritical, type FieldChange } from "../model/custody-record.ts";
import * as P from "../model/paths.ts";
import type { PkiConfig } from "../model/config.ts";
import { custodyVerdict } from "../store/custody.ts";
import { FsStore } from "../store/fs-store.ts";
import { readSnapshot } from "../store/snapshot.ts";
import type { RunContext } from "../runbook/context.ts";
import { bold, cyan, table, yellow } from "../term/style.ts";

// `inforge pki config` (root posture): the field-by-field difference between pki.json and the
// custody record the root last signed — the plan an operator reviews — then the shipped task
// `config` signs pki.json's current values (lib/plan: a sign-custody step, journalled and
// committed like every other write). The run itself re-checks everything under the lock.

/** What changes, printed; null when the record already signs pki.json's values. Refuses what config must not accept. */
export async function reviewConfig(ctx: RunContext, set: Partial<PkiConfig> = {}): Promise<FieldChange[] | null> {
  const store = new FsStore(ctx.dir);
  if (!(await store.exists())) throw new InputError(`no pki directory at ${ctx.dir}; run inforge pki init first, or point --dir / INFORGE_PKI_DIR at it`);
  const snap = await readSnapshot(store);
  if (!snap.config) throw new InputError(`the pki directory ${ctx.dir} is not initialised; inforge pki init signs its first custody record`);
  const verdict = (await custodyVerdict(store, snap, ctx.env, { compareFields: false }))!;
  // A forged record or an unanchored root is refused by the run; a missing record is what config fixes.
  // Fields the run sets (--promotion, --probe-max-age) are shown as pki.json will hold them.
  const now = trustCritical({ ...snap.config, ...set });
  const changes = verdict.record ? fieldChanges(verdict.record.config, now) : fieldChanges({}, now);
  if (verdict.record && !changes.length) return null;
  const signed = verdict.record?.config.recipients as { root?: string } | undefined;
  if (signed?.root !== undefined && signed.root !== snap.config.recipients.root) {
    throw new InputError(`pki.json recipients.root differs from the signed record (${showValue(signed.root)} → ${showValue(snap.config.recipients.root)}); the root recipient changes only with inforge pki rekey --root-recipient, which re-seals the root keys in the same commit — restore recipients.root in pki.json; nothing was changed`);
  }
  if (snap.config.recipients.ci === snap.config.recipients.root) {
    throw new InputError(`pki.json recipients.ci is the root recipient; the two identities must stay separate (the root identity never reaches CI) — give CI its own recipient from age-keygen; nothing was changed`);
  }
  if (!ctx.json) {
    const rows = [["pki.json field", "signed", "pki.json now"], ...changes.map((c) => [c.field, showValue(c.signed), showValue(c.now)])];
    const head = verdict.record
      ? `custody record signed by root G${verdict.record.signedBy.gen} at ${verdict.record.signedAt}; pki.json differs in ${changes.length} field(s):`
      : yellow(`${P.CUSTODY} is missing: nothing records what the root approved, so review EVERY value below before signing it:`);
    process.stdout.write([bold("config — sign pki.json's trust-critical fields"), head, table(rows)].join("\n") + "\n");
    const ci = changes.find((c) => c.field === "recipients.ci");
    if (ci && verdict.record) {
      process.stdout.write(cyan("then, ") + `in CI with the current CI identity (${String(ci.signed).slice(0, 16)}…): inforge pki rekey --ci-recipient ${String(ci.now)} re-seals the intermediate and leaf keys to it; CI refuses other runs until then\n`);
    }
  }
  return changes;
}
