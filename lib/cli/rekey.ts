import { InputError, PostureError, StateError, type Posture } from "../errors.ts";
import { AgeError, inspectSealed, open, parseRecipient, seal, type Identity } from "../age/mod.ts";
import { IDENTITY_VAR } from "../apply/keys.ts";
import { heldKeys } from "../model/custody.ts";
import type { PkiConfig } from "../model/config.ts";
import type { Snapshot } from "../model/state.ts";
import * as X from "../x509/core.ts";
import { signCustody } from "../apply/custody.ts";
import { assertCustody } from "../store/custody.ts";
import * as P from "../model/paths.ts";
import { entryRef } from "../store/domains.ts";
import { FsStore, type FileWrite } from "../store/fs-store.ts";
import { acquireLock } from "../store/lock.ts";
import { readSnapshot } from "../store/snapshot.ts";
import type { Args } from "../runbook/args.ts";
import type { RunContext } from "../runbook/context.ts";
import { parseWait } from "./deploy.ts";
import { loadIdentities, matchRecipients } from "../store/identities.ts";
import { bold, cyan, dim, green, table } from "../term/style.ts";
import { assertUntampered } from "../store/tamper.ts";

// `inforge pki rekey --ci-recipient age1…` (CI posture) / `--root-recipient age1…` (root posture):
// re-seal every key one identity holds to a new recipient — all in ONE crash-safe commit
// (FsStore.commit), so a run killed at any instant leaves every key sealed to the old identity or
// every key to the new one; never a key sealed to nobody, never a mix. Nothing is sealed to a
// recipient the root has not signed (custody.json): the root posture changes pki.json and the
// record in the same commit; CI cannot sign, so a new CI recipient is accepted first on the
// offline workstation (pki.json recipients.ci + `inforge pki config`), and rekey then re-seals to it. Each re-sealed file is checked before the commit:
// its header has exactly one X25519 stanza, and the old identity no longer opens it (the new one
// is not here to try — that is the point of re-keying to a recipient).

const WHO: Record<Posture, { flag: string; name: string; held: string; posture: string }> = {
  ci: { flag: "--ci-recipient", name: "CI master", held: "intermediate and leaf keys", posture: "CI posture" },
  root: { flag: "--root-recipient", name: "offline root", held: "root keys", posture: "root posture" },
};

export async function rekeyCommand(a: Args, ctx: RunContext, command: string): Promise<number> {
  const given = (["ci", "root"] as const).filter((p) => a.flags[p === "ci" ? "ci-recipient" : "root-recipient"] !== undefined);
  if (given.length !== 1) throw new InputError("inforge pki rekey needs exactly one of --ci-recipient age1… (CI posture) or --root-recipient age1… (root posture)");
  const p = given[0]!;
  const w = WHO[p];
  const value = a.flags[p === "ci" ? "ci-recipient" : "root-recipient"];
  if (typeof value !== "string") throw new InputError(`${w.flag} needs a recipient (age1…)`);
  const recipient = parseRecipient(value, w.flag);
  const ids = await loadIdentities(ctx.env);
  const id = ids[p];
  if (!id && !ctx.planOnly) {
    throw new PostureError(`re-sealing the ${w.held} needs the current ${w.name} identity to open them: set ${IDENTITY_VAR[p]} (${w.posture}); nothing was changed`, p);
  }
  const probe = new FsStore(ctx.dir);
  if (!(await probe.exists())) throw new InputError(`no pki directory at ${ctx.dir}; point --dir / INFORGE_PKI_DIR at it`);
  const lock = ctx.planOnly ? null : await acquireLock(ctx.dir, command, ctx.now, parseWait(a));
  try {
    const store = new FsStore(ctx.dir, lock ? { run: lock.run } : {});
    if (lock) {
      await store.recover(); // finishes a rekey that died past its commit point
      await assertUntampered(store);
    }
    const snap = await readSnapshot(store);
    const cfg = snap.config;
    if (!cfg) throw new InputError(`the pki directory ${ctx.dir} is not initialised; there is nothing to re-seal`);
    // pki.json must be what the root signed before any key moves (DESIGN invariant 6).
    const custody = (await assertCustody(store, snap, ctx.env))!;
    const other: Posture = p === "ci" ? "root" : "ci";
    if (recipient === cfg.recipients[other]) {
      throw new InputError(`${w.flag} ${recipient} is the ${WHO[other].name} recipient; the two identities must stay separate (the root identity never reaches CI) — give a new recipient from age-keygen`);
    }
    // CI cannot sign: a new CI recipient is accepted into the custody record on the offline
    // workstation first (pki.json recipients.ci + inforge pki config), and only then sealed to here.
    if (p === "ci" && recipient !== custody.recipients.ci) {
      throw new InputError(`--ci-recipient ${recipient} is not the CI recipient the root signed (${P.CUSTODY} holds ${custody.recipients.ci}); accept a new CI recipient first on the offline workstation — set recipients.ci in pki.json and run inforge pki config (root posture) — then run this in CI with the current identity; nothing was changed`);
    }
    // Checked before the identity: after a run that completed (or was rolled forward), the old
    // identity no longer matches, and that is success, not an error.
    if ((p === "root" && cfg.recipients.root === recipient) || id?.recipient === recipient) {
      process.stdout.write(`nothing to do: pki.json already seals the ${w.held} to ${recipient}; set ${IDENTITY_VAR[p]} to its identity\n`);
      return 0;
    }
    if (p === "root") matchRecipients({ root: id }, cfg);
    // Optional files (a scope's leaf key file, older per-leaf files) are re-sealed when present.
    const files: string[] = [];
    for (const k of heldKeys(snap, p)) {
      if (k.required || (await store.read(k.path)) !== null) files.push(k.path);
    }
    printPlan(p, p === "ci" ? "the current CI identity" : cfg.recipients.root, recipient, files, ctx);
    if (ctx.planOnly) {
      process.stdout.write(bold("--plan: nothing was changed") + "\n");
      return 0;
    }
    const writes: FileWrite[] = [];
    // A CI key that the current identity does not open was sealed after pki config accepted the
    // new recipient (a root-posture run in between): it is sealed to the signed recipient already.
    const kept: string[] = [];
    for (const f of files) {
      const content = await reseal(store, f, id!, recipient, p);
      if (content === null) kept.push(f);
      else writes.push({ path: f, content, mode: 0o600 });
    }
    if (!writes.length) {
      process.stdout.write(`nothing to do: no ${w.held.replace(" and ", " or ")} opens with ${IDENTITY_VAR[p]} (${id!.recipient.slice(0, 16)}…), so they are sealed to ${recipient} already; set ${IDENTITY_VAR[p]} to its identity\n`);
      return 0;
    }
    if (p === "root") {
      // The root recipient is trust-critical: pki.json and the custody record change in this same
      // commit, the record signed again by the active root (whose key is opened here anyway).
      const next = { ...cfg, recipients: { ...cfg.recipients, root: recipient } };
      writes.push({ path: P.CONFIG, content: JSON.stringify(next, null, 2) + "\n", mode: 0o644 });
      writes.push({ path: P.CUSTODY, content: await resignCustody(store, snap, next, id!, ctx.now), mode: 0o644 });
    }
    const entry = await store.commit(writes, { at: ctx.now.toISOString().replace(/\.\d+Z$/, "Z"), command, intents: [`keys.rekey-${p}`], steps: writes.length });
    const what = p === "root" ? "pki.json and custody.json updated" : "pki.json and custody.json already name it";
    process.stdout.write(green(`applied: ${writes.filter((x) => x.mode === 0o600).length} key(s) re-sealed to ${recipient}, ${what}, in one commit (journal entry ${entryRef(null, entry.seq)})`) + "\n");
    if (kept.length) process.stdout.write(`${kept.length} key(s) did not open with the current identity and were left as they are: sealed after pki config, to ${recipient} already (${kept.slice(0, 3).join(", ")}${kept.length > 3 ? ", …" : ""})\n`);
    process.stdout.write(cyan("next, ") + `set ${IDENTITY_VAR[p]} to the identity of ${recipient} ${p === "ci" ? "in CI's secrets" : "on the offline workstation"} now: from this commit on the old identity opens nothing here (it still opens copies in git history — rotate the keys themselves if it leaked)\n`);
    return 0;
  } finally {
    await lock?.release();
  }
}

/** The active root's key, opened with the root identity, signs the record of the new pki.json. */
async function resignCustody(store: FsStore, snap: Snapshot, next: PkiConfig, id: Identity, now: Date): Promise<string> {
  const g = snap.root.generations.find((x) => x.state === "active");
  if (!g) throw new StateError(`there is no active root to sign ${P.CUSTODY}; nothing was changed`);
  const [pem, sealed] = await Promise.all([store.read(P.rootCert(g.gen)), store.read(P.rootKey(g.gen))]);
  if (pem === null || sealed === null) throw new StateError(`${pem === null ? P.rootCert(g.gen) : P.rootKey(g.gen)} is missing; restore it from git (nothing was changed)`);
  if (X.certificateFingerprint(pem, P.rootCert(g.gen)) !== g.fingerprint) throw new StateError(`${P.rootCert(g.gen)} is not the certificate ${P.ROOT_STATE} records; restore it from git (nothing was changed)`);
  const key = await X.importPrivateKeyPem(await open(sealed, id, P.rootKey(g.gen), IDENTITY_VAR.root));
  return signCustody(next, g.gen, g.fingerprint, X.keySigner(key), now.toISOString().replace(/\.\d+Z$/, "Z"));
}

/**
 * Open with the current identity, seal to the new recipient, and prove the result before it is
 * committed. Null for a CI key the identity does not open (sealed to the new recipient already).
 */
async function reseal(store: FsStore, path: string, id: Identity, recipient: string, p: Posture): Promise<string | null> {
  const sealed = await store.read(path);
  if (sealed === null) throw new StateError(`${path} is missing; restore it from git before re-keying (nothing was changed)`);
  let plaintext: string;
  try {
    plaintext = await open(sealed, id, path, IDENTITY_VAR[p]);
  } catch (e) {
    if (p === "ci" && e instanceof AgeError && e.code === "open.wrong-identity") return null;
    throw e;
  }
  const out = await seal(plaintext, [recipient]);
  const stanzas = inspectSealed(out, path).stanzas;
  if (stanzas.length !== 1 || stanzas[0] !== "X25519") {
    throw new StateError(`internal: re-sealed ${path} has recipient stanzas [${stanzas.join(", ")}], expected exactly one X25519; nothing was changed`);
  }
  try {
    await open(out, id, path);
  } catch (e) {
    if (e instanceof AgeError && e.code === "open.wrong-identity") return out;
    throw e;
  }
  throw new StateError(`internal: re-sealed ${path} still opens with the old identity; nothing was changed`);
}

function printPlan(p: Posture, from: string, to: string, files: readonly string[], ctx: RunContext): void {
  if (ctx.json) return;
  const w = WHO[p];
  const rows = [["#", "action", "file", "identity"]];
  const shown = files.length > 12 ? [...files.slice(0, 10)] : [...files];
  shown.forEach((f, n) => rows.push([String(n + 1), "re-seal", f, p]));
  const lines = [bold(`rekey ${p} — re-seal the ${w.held} to a new ${w.name} recipient`), table(rows)];
  if (files.length > shown.length) lines.push(dim(`(and ${files.length - shown.length} more key(s))`));
  lines.push(p === "ci" ? `sealed to: ${from} → ${to} (the CI recipient pki.json and custody.json already name)` : `pki.json recipients.root: ${from} → ${to} (custody.json signed again by the active root)`);
  process.stdout.write(lines.join("\n") + "\n");
}
