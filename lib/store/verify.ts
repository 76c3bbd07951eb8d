import { lstat, readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { InputError, StateError } from "../errors.ts";
import { AgeError, assertSingleRecipient, looksSealed, open, type Identity } from "../age/mod.ts";
import * as X from "../x509/mod.ts";
import { IDENTITY_VAR, type Identities } from "../apply/keys.ts";
import { decodeLeafKeys, type LeafKeyEntry } from "../apply/leaf-keys.ts";
import { timing } from "../model/config.ts";
import * as P from "../model/paths.ts";
import type { Snapshot } from "../model/state.ts";
import {
  certRecords, compareCert, defectFindings, error, expectedBundles, latestWrites, modeFindings, stateFindings,
  untrustedFingerprints, validityFindings, warning, type CertRecord, type Finding,
} from "../check/verify-rules.ts";
import { FsStore, TMP, type Store } from "./fs-store.ts";
import { GENESIS, mergeJournals, readJournal, sealEntry, sha256, tornTail, type JournalEntry } from "./journal.ts";
import { readSnapshot } from "./snapshot.ts";
import { custodyVerdict } from "./custody.ts";
import { baseline, filesAt, gitPlace } from "./history.ts";
import { rollbackFindings } from "../check/rollback.ts";
import { journalFile, pendingFile, scopeOfPath, type Domain } from "./domains.ts";
import { checkCrls, strictDefects } from "./verify-crl.ts";

// `inforge pki verify`: the disk side. Reads every file of the pki directory, parses and
// chains the certificates, opens the sealed keys whose identity is present, checks bundles,
// the CRL, modes and the journal — and changes nothing. The rules live in
// lib/check/verify-rules.ts; this file only gathers what is on disk for them.

export interface VerifyReport {
  readonly schema: "inforge.verify/v1";
  readonly ok: boolean;
  readonly at: string;
  readonly dir: string;
  readonly findings: readonly Finding[];
  readonly checked: {
    readonly files: number;
    readonly certificates: number;
    readonly bundles: number;
    readonly crls: number;
    readonly keys: { readonly present: number; readonly opened: number; readonly skipped: number };
    readonly journal: { readonly entries: number; readonly files: number };
  };
}

const SECRET = /PRIVATE KEY|AGE-SECRET-KEY/;
/** Files that are the tool's own bookkeeping, not recorded by the journal. */
const isBookkeeping = (rel: string) => rel.startsWith("journal/") || /^\.lock(-[a-z0-9-]+)?(\.takeover)?$/.test(rel);
const isStaged = (rel: string) => rel.endsWith(TMP) || /\.\d+\.tmp$/.test(rel);

interface DiskFile {
  readonly rel: string;
  readonly mode: number;
  readonly dir: boolean;
  readonly symlink: boolean;
}

async function walk(root: string): Promise<DiskFile[]> {
  const out: DiskFile[] = [];
  const go = async (rel: string) => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (r === ".git") continue;
      const st = await lstat(join(root, r));
      out.push({ rel: r, mode: st.mode, dir: st.isDirectory(), symlink: st.isSymbolicLink() });
      if (st.isDirectory()) await go(r);
    }
  };
  await go("");
  return out;
}

/**
 * A read-only view of the pki directory as the next run will see it: when an interrupted run
 * left a pending record, its files are read from where they are staged, so verify judges the
 * tree that recover() will finish (and can say whether anything would be missing).
 */
class RolledForward implements Store {
  readonly dir: string;
  readonly base: FsStore;
  readonly overlay = new Map<string, string>();
  constructor(base: FsStore) {
    this.base = base;
    this.dir = base.dir;
  }
  async read(rel: string): Promise<string | null> {
    return this.overlay.get(rel) ?? this.base.read(rel);
  }
  list(rel: string): Promise<string[]> {
    return this.base.list(rel);
  }
  commit(): Promise<JournalEntry> {
    throw new StateError("internal: verify never writes");
  }
}

/** Check the pki directory at `dir` without changing it. */
export async function verifyDir(dir: string, o: {
  now: Date; identities: Identities; env?: Readonly<Record<string, string | undefined>>;
  /** Compare with git history (anti-rollback): `since` a revision, or chosen automatically when absent. */
  history?: { since?: string };
}): Promise<VerifyReport> {
  const base = new FsStore(dir);
  if (!(await base.exists())) throw new InputError(`no pki directory at ${base.dir}; point --dir / INFORGE_PKI_DIR at it`);
  const store = new RolledForward(base);
  const findings: Finding[] = [];
  const add = (...f: Finding[]) => findings.push(...f);
  const checked = { files: 0, certificates: 0, bundles: 0, crls: 0, keys: { present: 0, opened: 0, skipped: 0 }, journal: { entries: 0, files: 0 } };

  // 1. Every file: plaintext secrets, modes, symlinks, leftovers of an interrupted run.
  const disk = await walk(base.dir);
  add(...modeFindings("", (await lstat(base.dir)).mode, true));
  const files = disk.filter((f) => !f.dir);
  checked.files = files.length;
  let staged = 0;
  // Read in parallel batches (a fleet has tens of thousands of files), judged in order.
  const contents = await mapBatched(disk, (f) => (f.dir || f.symlink ? Promise.resolve(null) : readFile(join(base.dir, f.rel))));
  for (const [i, f] of disk.entries()) {
    if (!f.symlink) add(...modeFindings(f.rel, f.mode, f.dir));
    if (f.symlink) add(error("file.symlink", `${f.rel} is a symbolic link; inforge writes only plain files, so replace it with the file it points to or restore it from git`, f.rel));
    if (f.dir || f.symlink) continue;
    if (isStaged(f.rel)) staged++;
    const bytes = contents[i]!;
    if (SECRET.test(bytes.toString("latin1"))) {
      add(error("plaintext.secret", `${f.rel} holds a private key or age identity in plaintext; treat that key as exposed — remove the file, purge it from git history and rotate what it opens`, f.rel));
    }
  }
  for (const f of files.filter((x) => /^\.lock(-[a-z0-9-]+)?$/.test(x.rel))) add(lockFinding(f.rel, (await base.read(f.rel)) ?? ""));

  // 2. Interrupted runs (the directory's, or a scope's): read their files where they are staged
  // (the rolled-forward view).
  const inJournals = await base.list("journal/scopes");
  const scopesOf = (suffix: string) => inJournals.filter((n) => n.endsWith(suffix)).map((n) => n.slice(0, -suffix.length));
  const domains: Domain[] = [null, ...new Set([...scopesOf(".jsonl"), ...scopesOf(".pending.json")])];
  const pendings = new Map<Domain, JournalEntry>();
  for (const d of domains) {
    const file = pendingFile(d);
    const text = await base.read(file);
    if (text === null) continue;
    const pending = parsePending(text);
    if (!pending) {
      add(error("commit.pending-damaged", `${file} is damaged, so the interrupted run it records cannot be finished; restore the pki directory from git`, file));
      continue;
    }
    pendings.set(d, pending);
    add(error("commit.pending", `an interrupted run ("${pending.command}", entry ${pending.seq} of ${journalFile(d)}) has not finished; run any inforge pki command that applies (the same one is best) to finish it — the checks below describe the tree as it will be then`, file));
    for (const f of pending.files) {
      const now = await base.read(f.path);
      if (now !== null && sha256(now) === f.sha256) continue;
      const next = await readFile(join(base.dir, f.path + TMP), "utf8").catch(() => null);
      if (next !== null && sha256(next) === f.sha256) store.overlay.set(f.path, next);
      else add(error("commit.unrecoverable", `${f.path} is neither the file the interrupted run wrote nor staged beside it, so that run cannot be finished; restore the pki directory from git`, f.path));
    }
  }
  if (!pendings.size && staged) {
    add(warning("commit.staged", `${staged} file(s) staged by a run that was killed before its commit point are left over; the next run that applies discards them (nothing of theirs was committed)`));
  }

  // 3. The journals: their hash chains, and every file they recorded still holds what was written.
  const journal = await journalEntries(base, domains, pendings, add);
  checked.journal.entries = journal?.length ?? 0;
  const written = latestWrites(journal ?? []);
  checked.journal.files = written.size;
  for (const [path, w] of written) {
    const now = await store.read(path);
    if (now === null) {
      add(error("journal.file-missing", `${path} is missing, but journal entry ${w.seq} ("${w.command}") wrote it; restore it from git`, path));
    } else if (sha256(now) !== w.sha256) {
      // pki.json is judged against the root-signed custody record instead (below): its unsigned
      // fields (thresholds, spiffeRefreshHint) may be edited, every other change is an error.
      if (path !== P.CONFIG) {
        add(error("journal.hash-mismatch", `${path} is not what journal entry ${w.seq} ("${w.command}") wrote: it was edited, swapped or replaced outside inforge; restore it from git`, path));
      }
    }
  }
  if (journal) {
    for (const f of files) {
      if (!written.has(f.rel) && !isBookkeeping(f.rel) && !isStaged(f.rel)) {
        add(warning("file.unrecorded", `${f.rel} was not written by inforge (no journal entry records it); remove it if nobody needs it`, f.rel));
      }
    }
  }

  // 3b. Anti-rollback: the journals only grow, the CRL number and spiffe_sequence never go down.
  if (o.history) add(...(await historyFindings(base.dir, store, o.history.since)));

  // 4. The state files and every trust invariant over them.
  let snap: Snapshot;
  try {
    snap = await readSnapshot(store);
  } catch (e) {
    if (!(e instanceof StateError)) throw e;
    add(error("state.invalid", e.message, /^(\S+\.json)\b/.exec(e.message)?.[1]));
    return report(base.dir, o.now, findings, checked);
  }
  if (!snap.config) {
    add(error("state.uninitialised", `${P.CONFIG} is missing: this pki directory was never initialised (or lost its config); run inforge pki init, or restore ${P.CONFIG} from git`, P.CONFIG));
    return report(base.dir, o.now, findings, checked);
  }
  if (!journal) add(error("journal.missing", `${P.JOURNAL} is missing, so nothing on disk can be checked against what inforge wrote; restore it from git`, P.JOURNAL));
  add(...stateFindings(snap, o.now));
  // Custody: pki.json against the record the root signed, the record's signature, the pinned roots.
  const custody = await custodyVerdict(store, snap, o.env ?? {});
  for (const i of custody?.issues ?? []) add(error(i.code, i.message, i.origin));
  for (const n of custody?.notes ?? []) add(warning("anchor.cross-only", n, P.ROOT_STATE));

  // 5. Certificates: each where the state says, the one it records, signed by its issuer, valid
  // now, and DER that every verifier reads the same way.
  const skew = timing(snap.config).clockSkew;
  const certs = new Map<string, string>(); // path → PEM, for chains and bundles
  const infos = new Map<string, X.CertInfo>();
  const records = certRecords(snap);
  const pems = await mapBatched(records, (r) => store.read(r.cert));
  for (const [i, r] of records.entries()) {
    const pem = pems[i]!;
    if (pem === null) {
      add(error("cert.missing", `${r.cert} is missing, but the state records ${r.what}; restore it from git`, r.cert));
      continue;
    }
    try {
      const info = X.parseCertificate(pem, r.cert);
      certs.set(r.cert, pem);
      infos.set(r.cert, info);
      checked.certificates++;
      add(...compareCert(r, info), ...validityFindings(r, info, o.now, skew));
    } catch (e) {
      add(error("cert.invalid", `${messageOf(e)}; restore it from git`, r.cert));
    }
  }
  // Signatures checked many at once (each waits on the crypto thread pool), reported in order.
  const signed = await mapBatched(records, (r) => {
    const pem = certs.get(r.cert);
    const issuerPem = certs.get(r.issuer ?? r.cert);
    return pem && issuerPem ? signedBy(pem, issuerPem) : Promise.resolve(null);
  });
  for (const [i, r] of records.entries()) {
    const issuer = r.issuer ?? r.cert;
    if (signed[i] === false) {
      add(error("chain.bad-signature", `${r.cert} (${r.what}) is not signed by ${r.issuer ? issuer : "its own key"}, as its scope says it must be; restore it from git`, r.cert));
    }
    const pem = pems[i];
    if (pem) add(...defectFindings("cert", r.cert, r.what, strictDefects(pem, r.cert, certs.get(issuer))));
  }

  // 6. Bundles: exactly their definition, nothing revoked, and no bundle the state does not define.
  const dead = untrustedFingerprints(snap);
  const defined = new Set<string>();
  for (const b of expectedBundles(snap)) {
    defined.add(b.file);
    const text = await store.read(b.file);
    if (text === null) {
      // Trees made before the trust-domain bundles existed get them with the scope's next
      // generation change; a file the journal never wrote is not yet due, one it wrote is lost.
      if (P.trustDomainScope(b.name) !== null && !written.has(b.file)) {
        add(warning("bundle.not-yet-written", `${b.file} (the ${b.name.slice(P.TRUST_DOMAINS.length)} trust domain's bundle) was never written: this tree predates trust-domain bundles; the scope's next intermediate rotation writes it`, b.file));
      } else add(error("bundle.missing", `${b.file} is missing; restore it from git`, b.file));
      continue;
    }
    checked.bundles++;
    const want = b.members.map((m) => certs.get(m.cert));
    if (want.every((x) => x !== undefined) && text !== want.join("")) {
      add(error("bundle.mismatch", `${b.file} is not exactly [${b.members.map((m) => `${m.ref.scope} G${m.ref.gen}`).join(", ")}] as the state defines it; restore it from git`, b.file));
    }
    try {
      for (const c of X.parseCertificates(text, b.file)) {
        const d = dead.get(c.fingerprint);
        if (d) add(error("bundle.revoked-member", `${b.file} carries ${d}, which no bundle may trust; restore it from git`, b.file));
      }
    } catch (e) {
      add(error("bundle.invalid", `${messageOf(e)}; restore it from git`, b.file));
    }
  }
  for (const file of [...(await store.list("bundles")).map((n) => `bundles/${n}`), ...(await store.list("bundles/trust-domains")).map((n) => `bundles/trust-domains/${n}`)]) {
    if (file.endsWith(".pem") && !defined.has(file)) {
      add(error("bundle.unexpected", `${file} is not a bundle the state defines; remove it (consumers that load it would trust what it holds)`, file));
    }
  }

  // 7. The CRLs: the root's (one per signing root, listing its revoked intermediates) and each
  // scope's (one per live intermediate, listing its revoked leaves) — signed, exact, current.
  await checkCrls(store, snap, certs, infos, o.now, add, () => checked.crls++);

  // 8. Sealed keys: present, age files, and (when the identity is here) the key of their certificate.
  const ids = usableIdentities(o.identities, snap, add);
  const skipped = { root: 0, ci: 0 };
  const leafScopes = new Map<string, CertRecord[]>();
  // Whether each scope has its key file, asked once per scope (not once per leaf: the file holds every leaf's key).
  const keyFiles = new Map<string, boolean>();
  for (const r of records) {
    if (!r.key) continue;
    if (r.leaf) {
      let has = keyFiles.get(r.leaf.scope);
      if (has === undefined) keyFiles.set(r.leaf.scope, (has = (await store.read(P.leafKeys(r.leaf.scope))) !== null));
      if (has) {
        let list = leafScopes.get(r.leaf.scope);
        if (!list) leafScopes.set(r.leaf.scope, (list = []));
        list.push(r);
        continue;
      }
    }
    const sealed = await store.read(r.key);
    if (sealed === null) {
      add(error("key.missing", `${r.key} is missing, so ${r.what} has lost its key; restore it from git (a key that is gone for good means re-issuing ${r.what})`, r.key));
      continue;
    }
    checked.keys.present++;
    if (!looksSealed(sealed)) {
      add(error("key.not-sealed", `${r.key} is not an age-encrypted file; restore it from git`, r.key));
      continue;
    }
    const stanzas = recipientFinding(sealed, r.key);
    if (stanzas) {
      add(stanzas);
      continue;
    }
    const id = ids[r.posture];
    if (!id) {
      skipped[r.posture]++;
      continue;
    }
    const pem = certs.get(r.cert);
    if (!pem) continue;
    const f = await keyFinding(r, sealed, pem, id);
    if (f) add(f);
    else checked.keys.opened++;
  }
  for (const [scope, leaves] of leafScopes) {
    const n = await checkLeafKeys(store, scope, leaves, certs, ids.ci, add);
    checked.keys.present += leaves.length;
    checked.keys.opened += n.opened;
    skipped.ci += n.skipped;
  }
  for (const p of ["root", "ci"] as const) {
    checked.keys.skipped += skipped[p];
    if (skipped[p]) add(warning("key.skipped", `skipped: identity not present — ${skipped[p]} sealed ${p === "root" ? "root" : "intermediate/leaf"} key(s) not opened; set ${IDENTITY_VAR[p]} to check that they match their certificates`));
  }
  return report(base.dir, o.now, findings, checked);
}

/**
 * The tree against an earlier revision in git (lib/store/history.ts, lib/check/rollback.ts).
 * Outside a git work tree there is no history: nothing to say, unless --since asked for it.
 */
async function historyFindings(dir: string, store: Store, since: string | undefined): Promise<Finding[]> {
  const place = await gitPlace(dir);
  if (place.kind === "none") {
    if (since !== undefined) throw new InputError(`--since compares with git history, but ${dir} is not inside a git work tree; run verify in the infra repo's checkout`);
    return [];
  }
  if (place.kind === "unavailable") {
    if (since !== undefined) throw new InputError(`--since needs git, which could not be run (${place.why}); install git (under deno, add --allow-run=git)`);
    return [warning("rollback.unchecked", `git could not be run (${place.why}), so the tree was not compared with its history for a rollback; install git (under deno, add --allow-run=git), or run verify --since <rev> where git runs`)];
  }
  const b = await baseline(place, since);
  if (!b) return [];
  const then = await filesAt(place, b.rev);
  const now = new Map<string, string | null>();
  for (const p of then.keys()) now.set(p, await store.read(p));
  return rollbackFindings({ label: b.label, then, now });
}

function report(dir: string, now: Date, findings: Finding[], checked: VerifyReport["checked"]): VerifyReport {
  return { schema: "inforge.verify/v1", ok: !findings.some((f) => f.severity === "error"), at: now.toISOString(), dir, findings, checked };
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** `f` over every item, up to 64 at once; results in the items' order. */
async function mapBatched<T, R>(items: readonly T[], f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  for (let i = 0; i < items.length; i += 64) {
    const part = await Promise.all(items.slice(i, i + 64).map(f));
    part.forEach((r, j) => (out[i + j] = r));
  }
  return out;
}

async function signedBy(child: string, issuer: string): Promise<boolean> {
  try {
    return await X.verifySignedBy(child, issuer);
  } catch {
    return false;
  }
}


function parsePending(text: string): JournalEntry | null {
  try {
    const e = (JSON.parse(text) as { entry?: JournalEntry }).entry;
    if (!e || !Array.isArray(e.files)) return null;
    const { hash, ...rest } = e;
    return sealEntry(rest).hash === hash ? e : null;
  } catch {
    return null;
  }
}

/**
 * Every journal's entries (journal/pki.jsonl and each scope's), with interrupted runs' entries as
 * they will be appended, merged in commit order; null when there is no journal at all.
 */
async function journalEntries(base: FsStore, domains: readonly Domain[], pendings: ReadonlyMap<Domain, JournalEntry>, add: (f: Finding) => void): Promise<JournalEntry[] | null> {
  const lists = new Map<Domain, JournalEntry[]>();
  for (const d of domains) {
    const file = journalFile(d);
    const pending = pendings.get(d);
    let text = await base.read(file);
    if (text === null && !pending) continue;
    text ??= "";
    if (pending) {
      // recover() cuts off a torn append of the pending entry before appending it again.
      const torn = tornTail(text, JSON.stringify(pending) + "\n");
      if (torn !== null) text = text.slice(0, text.length - torn.length);
    }
    const { entries, broken } = readJournal(text);
    if (broken) {
      add(error("journal.broken", `the journal's hash chain is broken: ${broken}; an entry was edited, removed or reordered — restore ${file} (and what it records) from git`, file));
    }
    if (pending && !broken && entries.at(-1)?.hash !== pending.hash) {
      if (pending.prev !== (entries.at(-1)?.hash ?? GENESIS)) {
        add(error("commit.pending-foreign", `${pendingFile(d)} does not follow the last entry of ${file}, so it is not from the last run; restore the pki directory from git`, pendingFile(d)));
      } else entries.push(pending);
    }
    lists.set(d, entries);
  }
  if (!lists.size) return null;
  return mergeJournals(lists.get(null) ?? [], [...lists].filter(([d]) => d !== null).map(([, e]) => e));
}

function lockFinding(file: string, text: string): Finding {
  let h: { pid?: number; host?: string; command?: string } = {};
  try {
    h = JSON.parse(text);
  } catch {
    // reported below as unreadable
  }
  let alive = false;
  try {
    if (typeof h.pid === "number") {
      process.kill(h.pid, 0);
      alive = true;
    }
  } catch (e) {
    alive = (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
  return alive
    ? warning("lock.held", `a run is in progress (pid ${h.pid} on ${h.host}, ${h.command}); what verify saw may be mid-change — verify again once it is done`, file)
    : warning("lock.stale", `${file} was left by a run that is gone (${h.pid ? `pid ${h.pid} on ${h.host}` : "unreadable"}); the next run takes it over`, file);
}

/** The identities that may open this tree's keys: a present identity that is not the tree's recipient is an error. */
function usableIdentities(ids: Identities, snap: Snapshot, add: (f: Finding) => void): { root?: Identity; ci?: Identity } {
  const out: { root?: Identity; ci?: Identity } = {};
  for (const p of ["root", "ci"] as const) {
    const id = ids[p];
    if (!id) continue;
    const want = snap.config?.recipients[p];
    if (want && id.recipient !== want) {
      add(error("identity.mismatch", `${IDENTITY_VAR[p]} holds the identity of ${id.recipient.slice(0, 16)}…, but this pki directory seals ${p} keys to ${want.slice(0, 16)}… (${P.CONFIG}); set ${IDENTITY_VAR[p]} to the matching key`, P.CONFIG));
      continue;
    }
    out[p] = id;
  }
  return out;
}

/** Exactly one X25519 recipient stanza, read from the header alone (no identity needed). */
function recipientFinding(sealed: string, path: string): Finding | null {
  try {
    assertSingleRecipient(sealed, path);
    return null;
  } catch (e) {
    if (!(e instanceof AgeError)) throw e;
    return error("key.recipients", e.message, path);
  }
}

async function keyFinding(r: CertRecord, sealed: string, certPem: string, id: Identity): Promise<Finding | null> {
  const key = r.key!;
  let pem: string;
  try {
    pem = await open(sealed, id, key, IDENTITY_VAR[r.posture]);
  } catch (e) {
    if (!(e instanceof AgeError)) throw e;
    return error("key.unreadable", e.message, key);
  }
  let k: X.KeyPair;
  try {
    k = await X.importPrivateKeyPem(pem);
  } catch {
    return error("key.unreadable", `${key} opened but does not hold a P-256 private key; restore it from git`, key);
  }
  return (await X.publicKeyMatches(certPem, k))
    ? null
    : error("key.mismatch", `${key} does not hold the key of ${r.cert} (${r.what}): a key or certificate was swapped; restore both from git`, key);
}

/** A scope's leaf keys, all in one sealed file: every leaf has its entry, for its serial, holding its key. */
async function checkLeafKeys(
  store: Store, scope: string, leaves: readonly CertRecord[], certs: Map<string, string>, id: Identity | undefined, add: (...f: Finding[]) => void,
): Promise<{ opened: number; skipped: number }> {
  const path = P.leafKeys(scope);
  const sealed = (await store.read(path))!;
  if (!looksSealed(sealed)) {
    add(error("key.not-sealed", `${path} is not an age-encrypted file; restore it from git`, path));
    return { opened: 0, skipped: 0 };
  }
  const stanzas = recipientFinding(sealed, path);
  if (stanzas) {
    add(stanzas);
    return { opened: 0, skipped: 0 };
  }
  if (!id) return { opened: 0, skipped: leaves.length };
  let keys: Map<string, LeafKeyEntry>;
  try {
    keys = decodeLeafKeys(await open(sealed, id, path, IDENTITY_VAR.ci), scope, path);
  } catch (e) {
    if (!(e instanceof AgeError) && !(e instanceof StateError)) throw e;
    add(error("key.unreadable", e.message, path));
    return { opened: 0, skipped: 0 };
  }
  let opened = 0;
  for (const r of leaves) {
    const svc = r.leaf!.service;
    const entry = keys.get(svc);
    const pem = certs.get(r.cert);
    if (!entry) {
      add(error("key.missing", `${path} holds no key for ${r.what}, so that leaf has lost its key; restore it from git, or rotate the leaf (inforge pki rotate --leaf ${svc} --region ${scope})`, path));
      continue;
    }
    if (!pem) continue;
    if (r.serial && entry.serial.replace(/^0+/, "") !== r.serial.replace(/^0+/, "")) {
      add(error("key.mismatch", `${path} holds the key of serial ${entry.serial} for ${r.what}, but ${r.cert} has serial ${r.serial}: the key file and the certificate are from different runs; restore both from git`, path));
      continue;
    }
    // d·G against the certificate's point, without importing thousands of keys (lib/x509 keyMatchesCertificate).
    const m = await X.keyMatchesCertificate(entry.key, pem);
    if (m === "unreadable") {
      add(error("key.unreadable", `${path} holds no usable P-256 key for ${r.what}; restore it from git`, path));
      continue;
    }
    if (m === "match") opened++;
    else add(error("key.mismatch", `${path} does not hold the key of ${r.cert} (${r.what}): a key or certificate was swapped; restore both from git`, path));
  }
  return { opened, skipped: 0 };
}

/**
 * The cheap part of verify, run before every apply: the journal's hash chain, and every file it
 * recorded still holds the bytes written. A file changed behind the tool's back (a swapped
 * certificate or bundle) stops the run before anything is planned on top of it. pki.json is
 * exempt: it is the operator's config (verify reports its edits as a warning).
 */
export async function assertUntampered(store: FsStore): Promise<void> {
  const bad: { path: string; seq: number; command: string; missing: boolean }[] = [];
  // A run locked to one scope checks the shared files and its own: other scopes' runs may be writing theirs.
  const mine = (path: string) => store.domain === null || [null, store.domain].includes(scopeOfPath(path));
  const all = [...(await journalWrites(store))].filter(([path]) => path !== P.CONFIG && mine(path));
  // Read in parallel batches: this runs before every apply, at 1,000 leaves too.
  for (let i = 0; i < all.length; i += 64) {
    await Promise.all(all.slice(i, i + 64).map(async ([path, w]) => {
      const now = await readFile(store.abs(path)).catch((e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return null;
        throw e;
      });
      if (now === null || sha256(now) !== w.sha256) bad.push({ path, ...w, missing: now === null });
    }));
  }
  if (!bad.length) return;
  bad.sort((a, b) => a.path.localeCompare(b.path));
  const b = bad[0]!;
  const more = bad.length > 1 ? ` (and ${bad.length - 1} other file(s))` : "";
  throw new StateError(
    `${b.path} ${b.missing ? "is missing" : "was changed outside inforge"}${more}: it is not what journal entry ${b.seq} ("${b.command}") wrote; nothing was changed — run inforge pki verify for the full report and restore the file(s) from git`,
  );
}

/** What the latest journal entry that wrote a file recorded of it. */
export interface Recorded {
  readonly sha256: string;
  readonly seq: number;
  readonly command: string;
}

/**
 * Every file the journals record, with what the latest entry that wrote it recorded — once the
 * hash chain of every journal (journal/pki.jsonl and the scope journals, lib/store/domains.ts, in
 * commit order) is intact; a broken chain is a StateError.
 */
export async function journalWrites(store: FsStore): Promise<Map<string, Recorded>> {
  const { entries, broken } = await store.journalEntries();
  if (broken) {
    throw new StateError(`the journal ${broken.replace(/^(\S+): /, "$1 is broken: ")}; the pki directory may have been tampered with — nothing was changed; run inforge pki verify and restore it from git`);
  }
  return latestWrites(entries);
}

/**
 * Why the bytes at `path` (null: missing) are not what the journal recorded, as the start of a
 * sentence; null when they are. A file no entry records is not vouched for either.
 */
export function unrecorded(writes: ReadonlyMap<string, Recorded>, path: string, bytes: string | Uint8Array | null): string | null {
  const w = writes.get(path);
  if (!w) return `${path} was not written by inforge (no journal entry records it)`;
  if (bytes === null) return `${path} is missing, but journal entry ${w.seq} ("${w.command}") wrote it`;
  if (sha256(bytes) !== w.sha256) return `${path} was changed outside inforge: it is not what journal entry ${w.seq} ("${w.command}") wrote`;
  return null;
}
