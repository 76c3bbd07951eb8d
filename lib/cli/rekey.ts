import { InputError, PostureError, StateError, type Posture } from "../errors.ts";
import { AgeError, inspectSealed, open, parseRecipient, seal, type Identity } from "../age/mod.ts";
import { IDENTITY_VAR } from "../apply/keys.ts";
import { heldKeys } from "../model/custody.ts";
import * as P from "../model/paths.ts";
import { FsStore, type FileWrite } from "../store/fs-store.ts";
import { acquireLock } from "../store/lock.ts";
import { readSnapshot } from "../store/snapshot.ts";
import type { Args } from "./args.ts";
import type { RunContext } from "./context.ts";
import { parseWait } from "./deploy.ts";
import { loadIdentities, matchRecipients } from "./identities.ts";
import { bold, cyan, dim, green, table } from "./style.ts";
import { assertUntampered } from "./verify.ts";

// `inforge pki rekey --ci-recipient age1…` (CI posture) / `--root-recipient age1…` (root posture):
// re-seal every key one identity holds to a new recipient, and point pki.json at it — all in ONE
// crash-safe commit (FsStore.commit), so a run killed at any instant leaves every key sealed to
// the old identity with the old pki.json, or every key to the new one with the new pki.json;
// never a key sealed to nobody, never a mix. Each re-sealed file is checked before the commit:
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
    // Checked before the identity: after a run that completed (or was rolled forward), the old
    // identity no longer matches pki.json, and that is success, not an error.
    if (cfg.recipients[p] === recipient) {
      process.stdout.write(`nothing to do: pki.json already seals the ${w.held} to ${recipient}; set ${IDENTITY_VAR[p]} to its identity\n`);
      return 0;
    }
    const other: Posture = p === "ci" ? "root" : "ci";
    if (recipient === cfg.recipients[other]) {
      throw new InputError(`${w.flag} ${recipient} is the ${WHO[other].name} recipient; the two identities must stay separate (the root identity never reaches CI) — give a new recipient from age-keygen`);
    }
    matchRecipients(ids, cfg);
    // Optional files (a scope's leaf key file, older per-leaf files) are re-sealed when present.
    const files: string[] = [];
    for (const k of heldKeys(snap, p)) {
      if (k.required || (await store.read(k.path)) !== null) files.push(k.path);
    }
    printPlan(p, cfg.recipients[p], recipient, files, ctx);
    if (ctx.planOnly) {
      process.stdout.write(bold("--plan: nothing was changed") + "\n");
      return 0;
    }
    const writes: FileWrite[] = [];
    for (const f of files) writes.push({ path: f, content: await reseal(store, f, id!, recipient, p), mode: 0o600 });
    const next = { ...cfg, recipients: { ...cfg.recipients, [p]: recipient } };
    writes.push({ path: P.CONFIG, content: JSON.stringify(next, null, 2) + "\n", mode: 0o644 });
    const entry = await store.commit(writes, { at: ctx.now.toISOString().replace(/\.\d+Z$/, "Z"), command, intents: [`keys.rekey-${p}`], steps: writes.length });
    process.stdout.write(green(`applied: ${files.length} key(s) re-sealed to ${recipient} and pki.json updated in one commit (journal entry ${entry.seq})`) + "\n");
    process.stdout.write(cyan("next, ") + `set ${IDENTITY_VAR[p]} to the identity of ${recipient} ${p === "ci" ? "in CI's secrets" : "on the offline workstation"} now: from this commit on the old identity opens nothing here (it still opens copies in git history — rotate the keys themselves if it leaked)\n`);
    return 0;
  } finally {
    await lock?.release();
  }
}

/** Open with the current identity, seal to the new recipient, and prove the result before it is committed. */
async function reseal(store: FsStore, path: string, id: Identity, recipient: string, p: Posture): Promise<string> {
  const sealed = await store.read(path);
  if (sealed === null) throw new StateError(`${path} is missing; restore it from git before re-keying (nothing was changed)`);
  const plaintext = await open(sealed, id, path, IDENTITY_VAR[p]);
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
  lines.push(`pki.json recipients.${p}: ${from} → ${to}`);
  process.stdout.write(lines.join("\n") + "\n");
}
