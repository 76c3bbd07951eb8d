import { chmod, lstat, mkdir, readFile, rename, rmdir, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { InputError, PostureError, StateError } from "../errors.ts";
import { AgeError, assertSingleRecipient, open, type Identity } from "../age/mod.ts";
import * as X from "../x509/mod.ts";
import { scope as scopeOf } from "../dsl/builders.ts";
import type { Intent } from "../dsl/intent.ts";
import { bundleMembers, refKey } from "../model/bundles.ts";
import * as P from "../model/paths.ts";
import { parseWait as parseWaitFlag } from "../model/duration.ts";
import type { Snapshot } from "../model/state.ts";
import type { LeafReason } from "../plan/step.ts";
import { deployBundle, type DeployFile } from "../deliver/deploy-bundle.ts";
import { IDENTITY_VAR } from "../apply/keys.ts";
import { openLeafKeys, type LeafKeyEntry } from "../apply/leaf-keys.ts";
import { signedBy, vouching, type Vouch } from "../apply/vouch.ts";
import { fsyncDir, writeDurable } from "../store/atomic.ts";
import { symlinkRefusal } from "../store/no-follow.ts";
import { ioFailure } from "../store/io-errors.ts";
import { FsStore } from "../store/fs-store.ts";
import { acquireLock } from "../store/lock.ts";
import { readSnapshot } from "../store/snapshot.ts";
import { assertCustody } from "../store/custody.ts";
import type { Args } from "../runbook/args.ts";
import type { RunContext } from "../runbook/context.ts";
import { loadIdentities, matchRecipients } from "../store/identities.ts";
import { runIntents, type RunOutcome } from "../runbook/pipeline.ts";
import { servedChainPem } from "./served-chain.ts";
import { journalWrites, unrecorded, type Recorded } from "../store/tamper.ts";
import { checkOut } from "./out-dir.ts";
import { bold, green } from "../term/style.ts";
import { deployMeshCommand } from "./deploy-mesh.ts";

// `inforge deploy <service> --region R [--out DIR]` (CI posture): make sure the service has a
// current leaf — through the planner, as `leaves.renew` for just that service, so what is due is
// decided in one place — then write the files the service loads (lib/deliver/deploy-bundle.ts)
// outside the pki directory. Files whose bytes are already right are not touched, so a re-run
// with nothing due changes no byte and no mtime. Shared with `releases deploy`.

/** One service to deliver, and where. */
export interface Target {
  readonly scope: string;
  readonly service: string;
  readonly out: string;
}

export interface Delivered extends Target {
  /** Why a leaf was minted in this run, or null when the current one was reused. */
  readonly minted: LeafReason | null;
  readonly notAfter: string;
  /** Files rewritten (empty: everything was already up to date). */
  readonly changed: readonly string[];
}

/** The services' intent: renew each leaf that is missing or due (the planner decides). `origin`
 *  names what asked (the command, or the release file) in the planner's messages; `absent`, the
 *  services whose leaf files this checkout lacks (absentLeaves), minted anew. */
export function deployIntent(scope: string, services: readonly string[], origin: string, absent: readonly string[] = []): Intent {
  const renew = scopeOf(scope).leaves().renew({ services });
  return Object.freeze({ ...renew, origin, ...(absent.length ? { absent: Object.freeze(services.filter((s) => absent.includes(s))) } : {}) } as Intent);
}

/**
 * With pki.json leafFiles "shipped" (the repo does not commit leaf certificates and keys; the
 * deploy target holds the leaf), the services whose leaf this checkout cannot hand out — its
 * certificate, or its key in leaves/<scope>/keys.age, is not here — so deploy mints them anew
 * rather than failing. Empty in the default layout, where an absent file is damage. Read without
 * the lock: a file that vanishes meanwhile is refused by deliver(), under it.
 */
export async function absentLeaves(ctx: RunContext, ci: Identity | undefined, scope: string, services: readonly string[]): Promise<string[]> {
  const store = new FsStore(ctx.dir);
  let cfg: { leafFiles?: unknown } | null = null;
  try {
    cfg = JSON.parse((await store.read(P.CONFIG)) ?? "null") as { leafFiles?: unknown } | null;
  } catch {
    return []; // a damaged pki.json is reported by the run that reads the state
  }
  if (cfg?.leafFiles !== "shipped") return [];
  const certs = await Promise.all(services.map(async (s) => (await store.read(P.leafCert(scope, s))) !== null));
  const keys = ci && certs.some(Boolean) ? await openLeafKeys(store, scope, ci) : null;
  return services.filter((s, i) => !certs[i] || (ci !== undefined && !keys?.has(s)));
}

/** Deploy output must never land in the pki directory, nor anywhere git would commit it (lib/cli/out-dir.ts). */
export { checkOut };

/** The CI identity, required before anything runs: deploy opens the service's sealed key. */
export async function ciIdentity(ctx: RunContext, what: string): Promise<Identity | undefined> {
  const ids = await loadIdentities(ctx.env);
  if (!ids.ci && !ctx.planOnly) {
    throw new PostureError(`${what} opens the service's sealed leaf key and needs the CI master identity: set ${IDENTITY_VAR.ci} (CI posture); nothing was changed`, "ci");
  }
  return ids.ci;
}

/** What the plan minted, by "scope/service" (nothing when it was not applied). */
export function mintedBy(o: RunOutcome | null): Map<string, LeafReason> {
  const out = new Map<string, LeafReason>();
  if (!o?.result) return out;
  for (const s of o.plan.steps) if (s.kind === "issue-leaf") out.set(`${s.scope}/${s.service}`, s.reason);
  return out;
}

/**
 * What every hand-out starts with, under the run's lock: an interrupted run finished, the state
 * read, pki.json held to the root-signed custody record, and the CI identity matched to its
 * recipient — before any file is read for delivery (deploy, releases deploy, deploy --mesh).
 */
export async function openUnderLock(ctx: RunContext, run: string, ci: Identity | undefined): Promise<{ store: FsStore; snap: Snapshot }> {
  const store = new FsStore(ctx.dir, { run });
  await store.recover();
  const snap = await readSnapshot(store);
  await assertCustody(store, snap, ctx.env);
  matchRecipients({ ci }, snap.config);
  return { store, snap };
}

/**
 * Read and open everything the targets need, under the directory lock (so no commit lands
 * between reading a certificate and its key), checking each file against the journal and the
 * chain, then write each target's directory. A file the state does not vouch for refuses the
 * whole delivery (nothing written); otherwise each target succeeds or fails on its own, and
 * `done` is called after each one.
 */
export async function deliver(
  ctx: RunContext, ci: Identity, targets: readonly Target[], minted: ReadonlyMap<string, LeafReason>, command: string, waitMs: number,
  done: (t: Target, r: Delivered | Error, n: number) => void,
): Promise<(Delivered | Error)[]> {
  const lock = await acquireLock(ctx.dir, command, ctx.now, waitMs);
  const inputs: (DeployRead | Error)[] = [];
  try {
    const { store, snap } = await openUnderLock(ctx, lock.run, ci);
    // Every file handed out is checked every time, minted in this run or not: its bytes are what
    // the journal recorded (hash chain intact), and its certificates chain to a live root.
    const writes = await journalWrites(store);
    const read = recordedReader(store, writes);
    const vouch = vouching(read, snap);
    const keys = new Map<string, Promise<Map<string, LeafKeyEntry> | null>>(); // a scope's key file, opened once
    const keysOf = (scope: string) => {
      let k = keys.get(scope);
      if (!k) keys.set(scope, (k = openLeafKeys(store, scope, ci, read)));
      return k;
    };
    for (const t of targets) inputs.push(await readTarget({ store, snap, read, vouch, keysOf }, t, ci).catch((e: unknown) => asError(e)));
  } finally {
    await lock.release();
  }
  // A file the state does not vouch for (tampered, swapped, unrecorded, missing) stops the whole
  // delivery before anything is written: a release must not ship half of a tree someone edited.
  const refused = inputs.find((i) => i instanceof StateError || i instanceof AgeError);
  if (refused) throw refused;
  const results: (Delivered | Error)[] = [];
  for (const [n, t] of targets.entries()) {
    const input = inputs[n]!;
    let r: Delivered | Error;
    if (input instanceof Error) r = input;
    else {
      try {
        const changed = await writeDeployDir(t.out, input.files);
        r = { ...t, minted: minted.get(`${t.scope}/${t.service}`) ?? null, notAfter: input.notAfter, changed };
      } catch (e) {
        r = asError(e);
      }
    }
    results.push(r);
    done(t, r, n + 1);
  }
  return results;
}

interface DeployRead {
  readonly files: DeployFile[];
  readonly notAfter: string;
}

interface Reading {
  readonly store: FsStore;
  readonly snap: Snapshot;
  /** Reads a file of the pki directory, refusing one the journal does not vouch for. */
  readonly read: (path: string) => Promise<string | null>;
  readonly vouch: Vouch;
  readonly keysOf: (scope: string) => Promise<Map<string, LeafKeyEntry> | null>;
}

/**
 * A reader that hands back a file only when its bytes are what the latest journal entry that
 * wrote it recorded (the very bytes then handed out, so nothing changes in between). Missing
 * files the journal never recorded read as null; each file is read and hashed once.
 */
export function recordedReader(store: FsStore, writes: ReadonlyMap<string, Recorded>): (path: string) => Promise<string | null> {
  const seen = new Map<string, Promise<string | null>>();
  const readOnce = async (path: string): Promise<string | null> => {
    const text = await store.read(path);
    if (text === null && !writes.has(path)) return null;
    const why = unrecorded(writes, path, text);
    if (why) throw new StateError(`${why}; nothing was handed out — restore it from git and run inforge pki verify`);
    return text;
  };
  return (path) => {
    let p = seen.get(path);
    if (!p) seen.set(path, (p = readOnce(path)));
    return p;
  };
}

async function readTarget(r: Reading, t: Target, ci: Identity): Promise<DeployRead> {
  const { store, snap, read, vouch } = r;
  const cfg = snap.config;
  if (!cfg) throw new StateError(`the pki directory ${store.dir} is not initialised; run inforge pki init first (root posture)`);
  const leaf = snap.leaves[t.scope]?.leaves[t.service as never];
  if (!leaf) throw new StateError(`${t.scope}/${t.service} has no leaf in ${P.leafIndex(t.scope)}; run inforge deploy ${t.service} --region ${t.scope} (it mints one)`);
  const must = async (path: string) => {
    const text = await read(path);
    if (text === null) throw new StateError(`${path} is missing; restore it from git`);
    return text;
  };
  // The state files the checks below trust are themselves what the journal recorded.
  const members = bundleMembers(snap, t.scope);
  for (const f of new Set([P.ROOT_STATE, P.leafIndex(t.scope), ...[t.scope, ...members.map((m) => m.scope)].map(P.scopeState)])) await must(f);
  // So is the manifest that vouches for the leaf certificate (lib/store/manifest.ts): a changed one is named itself.
  await read(P.leafManifest(t.scope));
  const leafPath = P.leafCert(t.scope, t.service);
  const [leafPem, bundlePem] = await Promise.all([must(leafPath), must(P.bundle(t.scope))]);
  // Hand out only what the state vouches for: the recorded leaf, signed by its live issuer, which
  // chains to a live root (lib/apply/vouch.ts), and the bundle exactly as the state defines it.
  if (X.parseCertificate(leafPem, leafPath).fingerprint !== leaf.fingerprint) {
    throw new StateError(`${leafPath} is not the leaf ${P.leafIndex(t.scope)} records (fingerprint differs); restore it from git and run inforge pki verify`);
  }
  if (!members.some((m) => refKey(m) === refKey({ scope: t.scope, gen: leaf.gen }))) {
    throw new StateError(`the leaf of ${t.scope}/${t.service} is signed by ${t.scope} G${leaf.gen}, which is not in bundles/${t.scope}.pem; run inforge pki renew --region ${t.scope} in CI`);
  }
  const intermediatePem = await vouch.intermediate({ scope: t.scope, gen: leaf.gen });
  if (!(await signedBy(leafPem, intermediatePem))) {
    throw new StateError(`${leafPath} is not signed by ${P.intermediateCert(t.scope, leaf.gen)}, the issuer ${P.leafIndex(t.scope)} records; restore it from git and run inforge pki verify`);
  }
  const want = (await Promise.all(members.map((m) => vouch.intermediate(m)))).join("");
  if (bundlePem !== want) {
    throw new StateError(`${P.bundle(t.scope)} is not exactly [${members.map((m) => `${m.scope} G${m.gen}`).join(", ")}], the bundle the state defines (a certificate was added, removed or swapped); restore it from git and run inforge pki verify`);
  }
  // The key: the scope's key file (leaves/<scope>/keys.age), or a per-leaf file in older trees.
  const entry = (await r.keysOf(t.scope))?.get(t.service);
  let keyPem: string;
  let keyPath: string;
  if (entry) {
    [keyPem, keyPath] = [entry.key, P.leafKeys(t.scope)];
    if (entry.serial !== leaf.serial) throw new StateError(`${keyPath} holds the key of another certificate for "${t.service}" (${P.leafIndex(t.scope)} records serial ${leaf.serial}); restore it from git, or run inforge pki rotate --leaf ${t.service} --region ${t.scope}`);
  } else {
    keyPath = P.leafKey(t.scope, t.service);
    const sealed = await read(keyPath);
    if (sealed === null) throw new StateError(`no key for ${t.scope}/${t.service} in ${P.leafKeys(t.scope)} (nor ${keyPath}); restore it from git, or run inforge pki rotate --leaf ${t.service} --region ${t.scope}`);
    assertSingleRecipient(sealed, keyPath);
    keyPem = await open(sealed, ci, keyPath, IDENTITY_VAR.ci);
  }
  if (!(await X.publicKeyMatches(leafPem, await X.importPrivateKeyPem(keyPem)))) {
    throw new StateError(`${keyPath} does not hold the key of ${leafPath} (a key or certificate was swapped); restore both from git`);
  }
  // The chain served after the leaf: the vouched intermediate, then the cross-signed root during a
  // root overlap, each proven by the vouching reader (journal, recorded fingerprint, signature).
  const chainPem = await servedChainPem(vouch, snap, t.scope, leaf.gen);
  const trustDomains = await trustDomainPems(vouch, snap, t.scope, cfg.domain);
  const spiffeId = leaf.names?.find((n) => n.startsWith("spiffe://"));
  const files = deployBundle({ scope: t.scope, service: t.service, domain: cfg.domain, leafPem, chainPem, keyPem, bundlePem, trustDomains, notAfter: leaf.notAfter, ...(spiffeId ? { spiffeId } : {}) });
  return { files, notAfter: leaf.notAfter };
}

/**
 * The trust domains a service of `scope` talks to — those of the scopes in its bundle (its own
 * and global; every scope for global) — each with its own live intermediates, built from the
 * certificate files the state records and checked against their recorded fingerprints, so an
 * older tree without bundles/trust-domains/ gets them too and a swapped file is refused.
 */
async function trustDomainPems(vouch: Vouch, snap: Snapshot, scope: string, domain: string): Promise<{ name: string; pem: string }[]> {
  const scopes = [...new Set(bundleMembers(snap, scope).map((r) => r.scope))];
  const out: { name: string; pem: string }[] = [];
  for (const s of scopes) {
    // Each member vouched for like the bundle's (journal, state record, chain to a live root).
    const pems = await Promise.all(bundleMembers(snap, P.trustDomainBundle(s, domain)).map((ref) => vouch.intermediate(ref)));
    out.push({ name: `${s}.${domain}`, pem: pems.map((t) => (t.endsWith("\n") ? t : t + "\n")).join("") });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Write the files whose bytes differ, and only those: each is staged beside its target (durable),
 * then all are renamed into place, so a reader sees each file old or new, never half. A file
 * with the right bytes but a wrong mode only gets its mode fixed (no new mtime).
 */
export async function writeDeployDir(out: string, files: readonly DeployFile[]): Promise<string[]> {
  // `out` is a real path (checkOut). The directory holds a plaintext key: private to the CI user,
  // every level created 0700 whatever the umask, and no level of it a symlink.
  await mkdir(out, { recursive: true, mode: 0o700 }).catch((e: unknown) => {
    throw ioFailure(e, "nothing was written");
  });
  if (!(await lstat(out)).isDirectory()) throw symlinkRefusal(out, "remove it; deploy writes into a directory of its own");
  // Subdirectories of the bundle (trust/): never a symlink; created 0700 like `out`, only when
  // something is written (and removed again if the write fails), so a refusal leaves `out` as it was.
  const subdirs = [...new Set(files.map((f) => dirname(f.name)).filter((d) => d !== "."))].map((d) => join(out, d));
  const missing: string[] = [];
  for (const d of subdirs) {
    const st = await lstat(d).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return null;
      throw ioFailure(e, "nothing was written");
    });
    if (!st) missing.push(d);
    else if (!st.isDirectory()) throw symlinkRefusal(d, "remove it; deploy writes into a directory of its own");
  }
  // Nothing is written through a symlink: a planted `out/tls.key -> victim` is refused before
  // any file is touched (rename would replace the link, but chmod and the comparison would
  // follow it). A planted `tls.key.inforge-new` is unlinked and created anew (writeDurable).
  const have = new Map<string, Uint8Array | null>();
  for (const f of files) {
    const path = join(out, f.name);
    const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return null;
      throw ioFailure(e, "nothing was written");
    });
    if (st?.isSymbolicLink()) throw symlinkRefusal(path, "remove it; deploy writes its own files");
    if (st && !st.isFile()) throw new InputError(`${path} is not a regular file; remove it — deploy writes its own files — nothing was written`);
    have.set(f.name, st ? await readFile(path) : null);
  }
  const staged: [tmp: string, path: string][] = [];
  const changed: string[] = [];
  const made: string[] = [];
  try {
    for (const d of missing) {
      await mkdir(d, { mode: 0o700 });
      made.push(d);
    }
    for (const f of files) {
      const path = join(out, f.name);
      const old = have.get(f.name) ?? null;
      if (old !== null && sameBytes(old, new TextEncoder().encode(f.content))) {
        const mode = (await lstat(path)).mode & 0o777;
        if (mode !== f.mode) await chmod(path, f.mode);
        continue;
      }
      const tmp = `${path}.inforge-new`;
      await writeDurable(tmp, f.content, f.mode);
      staged.push([tmp, path]);
      changed.push(f.name);
    }
    for (const [tmp, path] of staged) await rename(tmp, path);
  } catch (e) {
    for (const [tmp] of staged) await unlink(tmp).catch(() => {});
    for (const d of made) await rmdir(d).catch(() => {});
    throw ioFailure(e, "the service's files were left as they were");
  }
  if (staged.length) for (const d of [out, ...subdirs]) await fsyncDir(d);
  return changed;
}

/** `--wait` of a command's flags (lib/model/duration.ts parseWait). */
export const parseWait = (a: Args): number => parseWaitFlag(a.flags.wait);

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** `inforge deploy <service> --region R [--out DIR]` (or `--mesh <m> --region R --out DIR`: lib/cli/deploy-mesh.ts). */
export async function deployCommand(a: Args, ctx: RunContext, command: string): Promise<number> {
  if (a.flags.mesh !== undefined) return deployMeshCommand(a, ctx, command);
  const service = a.positionals[1];
  if (!service) throw new InputError("missing service; for example: inforge deploy payments --region eu");
  if (a.positionals.length > 2) throw new InputError(`unexpected argument "${a.positionals[2]}"; deploy one service (use inforge releases deploy for several)`);
  const region = a.flags.region;
  if (typeof region !== "string") throw new InputError(`inforge deploy needs --region; for example: inforge deploy ${service} --region eu (or --region global)`);
  const outFlag = a.flags.out;
  if (outFlag === true) throw new InputError("--out needs a directory");
  deployIntent(region, [service], "inforge deploy"); // validates both names
  const out = await checkOut(outFlag ?? join("deploy", region, service), ctx.dir, { allowInRepo: a.flags["allow-in-repo"] === true });
  const ci = await ciIdentity(ctx, "inforge deploy");
  const intent = deployIntent(region, [service], "inforge deploy", await absentLeaves(ctx, ci, region, [service]));
  const waitMs = parseWait(a);
  const held: string[] = [];
  let outcome: RunOutcome;
  try {
    outcome = await runIntents([intent], ctx, { title: `deploy ${region}/${service}`, command, waitMs, print: (s) => held.push(s) });
  } catch (e) {
    flush(held);
    throw e;
  }
  // A plan that mints something is shown; "nothing to do" is said in the one line below instead.
  if (outcome.plan.steps.length || ctx.planOnly) flush(held);
  if (ctx.planOnly) return 0;
  const minted = mintedBy(outcome);
  const [r] = await deliver(ctx, ci!, [{ scope: region, service, out }], minted, command, waitMs, () => {});
  if (r instanceof Error) throw r;
  const d = r!;
  if (ctx.json) {
    process.stdout.write(JSON.stringify({ schema: "inforge.deploy/v1", scope: d.scope, service: d.service, out: d.out, minted: d.minted, notAfter: d.notAfter, changed: d.changed }) + "\n");
    return 0;
  }
  const leaf = d.minted ? `minted a new leaf (${d.minted})` : "reused the current leaf";
  const files = d.changed.length ? `wrote ${d.changed.join(", ")}` : "every file already up to date, nothing written";
  process.stdout.write(`${d.changed.length ? green("deployed") : bold("deployed")} ${d.scope}/${d.service} to ${d.out}: ${leaf}, valid until ${d.notAfter}; ${files}\n`);
  return 0;
}

/** Print held lines (a plan printed only when it does something). */
export function flush(lines: string[]): void {
  for (const l of lines.splice(0)) process.stdout.write(l + "\n");
}
