import { lstat } from "node:fs/promises";
import { InputError, StateError } from "../errors.ts";
import * as X from "../x509/mod.ts";
import type { Identities } from "../apply/keys.ts";
import { timing } from "../model/config.ts";
import * as P from "../model/paths.ts";
import type { Snapshot } from "../model/state.ts";
import {
  certRecords, compareCert, defectFindings, error, expectedBundles, latestWrites, modeFindings, stateFindings,
  untrustedFingerprints, validityFindings, warning, type Finding,
} from "../check/verify-rules.ts";
import { fileFindings } from "../check/disk-rules.ts";
import { FsStore } from "./fs-store.ts";
import { sha256 } from "./journal.ts";
import { readSnapshot } from "./snapshot.ts";
import { custodyVerdict } from "./custody.ts";
import type { Domain } from "./domains.ts";
import { checkCrls, strictDefects } from "./verify-crl.ts";
import { isBookkeeping, isStaged, mapBatched, readWalked, walk } from "./disk-walk.ts";
import { journalEntries, RolledForward, rollForward } from "./rolled-forward.ts";
import { historyFindings } from "./verify-history.ts";
import { lockFinding } from "./verify-lock.ts";
import { checkKeys } from "./verify-keys.ts";
import { expandManifests, manifestScope } from "./manifest.ts";
import { verifyPool, verifyWorkerCount, withVerifyWorkers } from "../apply/mint-workers.ts";

// `inforge pki verify`: the disk side. Reads every file of the pki directory, parses and
// chains the certificates, opens the sealed keys whose identity is present, checks bundles,
// the CRL, modes and the journal — and changes nothing. The rules live in lib/check
// (verify-rules.ts, disk-rules.ts); this file orchestrates what gathers the disk for them:
// disk-walk.ts (the walk), rolled-forward.ts (an interrupted run's view), verify-crl.ts,
// verify-keys.ts, verify-history.ts and verify-lock.ts. The pipeline's tamper check is tamper.ts.

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
    /** Leaves whose files this checkout lacks (pki.json leafFiles "shipped"): not checked here. */
    readonly shipped: number;
  };
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
  const checked = { files: 0, certificates: 0, bundles: 0, crls: 0, keys: { present: 0, opened: 0, skipped: 0 }, journal: { entries: 0, files: 0 }, shipped: 0 };

  // 1. Every file: plaintext secrets, modes, symlinks, leftovers of an interrupted run.
  const disk = await walk(base.dir);
  add(...modeFindings("", (await lstat(base.dir)).mode, true));
  const files = disk.filter((f) => !f.dir);
  checked.files = files.length;
  let staged = 0;
  // Every file read once, judged in order (lib/store/disk-walk.ts: why synchronously).
  const contents = readWalked(base.dir, disk);
  for (const [i, f] of disk.entries()) {
    add(...fileFindings(f, contents[i]?.toString("latin1") ?? null));
    if (!f.dir && !f.symlink && isStaged(f.rel)) staged++;
  }
  for (const f of files.filter((x) => /^\.lock(-[a-z0-9-]+)?$/.test(x.rel))) add(lockFinding(f.rel, (await base.read(f.rel)) ?? ""));
  // The walk's bytes, read once: the journal check and the certificates below read from them
  // (at 10,000 leaves each file read again one at a time cost about a second).
  const walked = new Map<string, Buffer>();
  for (const [i, f] of disk.entries()) if (contents[i]) walked.set(f.rel, contents[i]!);
  /** A file as the rolled-forward view reads it; a regular file from the walk's bytes. */
  const bytesOf = (path: string): Promise<string | Uint8Array | null> =>
    store.overlay.has(path) || !walked.has(path) ? store.read(path) : Promise.resolve(walked.get(path)!);
  const textOf = async (path: string) => {
    const b = await bytesOf(path);
    return b === null || typeof b === "string" ? b : Buffer.from(b).toString("utf8");
  };

  // 2. Interrupted runs (the directory's, or a scope's): read their files where they are staged
  // (the rolled-forward view).
  const inJournals = await base.list("journal/scopes");
  const scopesOf = (suffix: string) => inJournals.filter((n) => n.endsWith(suffix)).map((n) => n.slice(0, -suffix.length));
  const domains: Domain[] = [null, ...new Set([...scopesOf(".jsonl"), ...scopesOf(".pending.json")])];
  const pendings = await rollForward(base, store, domains, add);
  if (!pendings.size && staged) {
    add(warning("commit.staged", `${staged} file(s) staged by a run that was killed before its commit point are left over; the next run that applies discards them (nothing of theirs was committed)`));
  }

  // 3. The journals: their hash chains, and every file they recorded still holds what was written.
  const journal = await journalEntries(base, domains, pendings, add);
  checked.journal.entries = journal?.length ?? 0;
  const written = latestWrites(journal ?? []);
  // A recorded leaf manifest vouches for the certificates it lists (lib/store/manifest.ts); one
  // whose bytes are not the recorded ones vouches for nothing, and is reported below.
  let untrusted: string[] = [];
  try {
    untrusted = await expandManifests(written, textOf);
  } catch (e) {
    if (!(e instanceof StateError)) throw e;
    add(error("journal.manifest-invalid", e.message, /^(\S+)/.exec(e.message)?.[1]));
  }
  checked.journal.files = written.size;
  // Leaf files a repo with pki.json leafFiles "shipped" does not commit: judged once the config is read (step 4).
  const absentLeafFiles: Finding[] = [];
  for (const [path, w] of written) {
    const now = await bytesOf(path);
    if (now === null) {
      (P.isLeafFile(path) ? absentLeafFiles : findings).push(error("journal.file-missing", `${path} is missing, but journal entry ${w.seq} ("${w.command}") wrote it; restore it from git`, path));
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
      // Under a manifest that was tampered with, its certificates are unvouched: that one error says so.
      const underBad = untrusted.some((m) => f.rel.startsWith(m.slice(0, m.lastIndexOf("/") + 1)) && manifestScope(f.rel) !== null);
      if (!written.has(f.rel) && !isBookkeeping(f.rel) && !isStaged(f.rel) && !underBad) {
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
  // leafFiles "shipped": the deploy targets hold the leaves; what is absent here is not checked
  // (and is minted anew by the next deploy), what is present is checked like any file.
  const shipped = snap.config.leafFiles === "shipped";
  if (!shipped) add(...absentLeafFiles);
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
  const all = certRecords(snap);
  // A fleet's verify workers start loading now, while this thread reads and parses the
  // certificates; every signature and key check below is asked for, and answered, while they are
  // there (withVerifyWorkers stops them when its function ends).
  const workers = verifyWorkerCount(all.length);
  const pool = verifyPool(workers);
  try {
    return await withVerifyWorkers(pool, async () => {
      const allPems = await mapBatched(all, (r) => textOf(r.cert));
      const here = all.map((r, i) => !(shipped && r.leaf && allPems[i] === null));
      const records = all.filter((_, i) => here[i]);
      const pems = allPems.filter((_, i) => here[i]);
      checked.shipped = all.length - records.length;
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
      // Signatures checked many at once (each waits on the crypto thread pool); a fleet's on worker
      // threads, in batches (lib/apply/mint-workers.ts), many more in flight — while this thread
      // goes on with the DER checks, the bundles, the CRLs and the keys. Findings are reported in
      // the order of the sections, whichever finishes first.
      const signing = mapBatched(records, (r) => {
        const pem = certs.get(r.cert);
        const issuerPem = certs.get(r.issuer ?? r.cert);
        return pem && issuerPem ? signedBy(pem, issuerPem) : Promise.resolve(null);
      }, workers ? 1024 : undefined);
      signing.catch(() => {}); // awaited below
      const sections: Finding[][] = [];
      const section = () => {
        const list: Finding[] = [];
        sections.push(list);
        return (...f: Finding[]) => void list.push(...f);
      };
      const defects: Finding[][] = [];
      for (const [i, r] of records.entries()) {
        // A turn for the event loop now and then: the signature checks are handed out from it.
        if (i % 256 === 255) await new Promise((resolve) => setImmediate(resolve));
        const pem = pems[i];
        defects.push(pem ? defectFindings("cert", r.cert, r.what, strictDefects(pem, r.cert, certs.get(r.issuer ?? r.cert))) : []);
      }

      // 6. Bundles: exactly their definition, nothing revoked, and no bundle the state does not define.
      const addBundle = section();
      const dead = untrustedFingerprints(snap);
      const defined = new Set<string>();
      for (const b of expectedBundles(snap)) {
        defined.add(b.file);
        const text = await store.read(b.file);
        if (text === null) {
          // Trees made before the trust-domain bundles existed get them with the scope's next
          // generation change; a file the journal never wrote is not yet due, one it wrote is lost.
          if (P.trustDomainScope(b.name) !== null && !written.has(b.file)) {
            addBundle(warning("bundle.not-yet-written", `${b.file} (the ${b.name.slice(P.TRUST_DOMAINS.length)} trust domain's bundle) was never written: this tree predates trust-domain bundles; the scope's next intermediate rotation writes it`, b.file));
          } else addBundle(error("bundle.missing", `${b.file} is missing; restore it from git`, b.file));
          continue;
        }
        checked.bundles++;
        const want = b.members.map((m) => certs.get(m.cert));
        if (want.every((x) => x !== undefined) && text !== want.join("")) {
          addBundle(error("bundle.mismatch", `${b.file} is not exactly [${b.members.map((m) => `${m.ref.scope} G${m.ref.gen}`).join(", ")}] as the state defines it; restore it from git`, b.file));
        }
        try {
          for (const c of X.parseCertificates(text, b.file)) {
            const d = dead.get(c.fingerprint);
            if (d) addBundle(error("bundle.revoked-member", `${b.file} carries ${d}, which no bundle may trust; restore it from git`, b.file));
          }
        } catch (e) {
          addBundle(error("bundle.invalid", `${messageOf(e)}; restore it from git`, b.file));
        }
      }
      for (const file of [...(await store.list("bundles")).map((n) => `bundles/${n}`), ...(await store.list("bundles/trust-domains")).map((n) => `bundles/trust-domains/${n}`)]) {
        if (file.endsWith(".pem") && !defined.has(file)) {
          addBundle(error("bundle.unexpected", `${file} is not a bundle the state defines; remove it (consumers that load it would trust what it holds)`, file));
        }
      }

      // 7. The CRLs: the root's (one per signing root, listing its revoked intermediates) and each
      // scope's (one per live intermediate, listing its revoked leaves) — signed, exact, current.
      await checkCrls(store, snap, certs, infos, o.now, section(), () => checked.crls++);

      // 8. Sealed keys: present, age files, and (when the identity is here) the key of their certificate.
      await checkKeys(store, snap, records, certs, o.identities, section(), checked.keys);

      // The certificates' signatures and DER (section 5), then the sections above, in that order.
      const signed = await signing;
      for (const [i, r] of records.entries()) {
        if (signed[i] === false) {
          add(error("chain.bad-signature", `${r.cert} (${r.what}) is not signed by ${r.issuer ? r.issuer : "its own key"}, as its scope says it must be; restore it from git`, r.cert));
        }
        add(...defects[i]!);
      }
      for (const list of sections) add(...list);
      return report(base.dir, o.now, findings, checked);
    });
  } finally {
    await pool.then((mw) => mw?.close()); // also when it never ran
  }
}

function report(dir: string, now: Date, findings: Finding[], checked: VerifyReport["checked"]): VerifyReport {
  return { schema: "inforge.verify/v1", ok: !findings.some((f) => f.severity === "error"), at: now.toISOString(), dir, findings, checked };
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function signedBy(child: string, issuer: string): Promise<boolean> {
  try {
    return await X.verifySignedBy(child, issuer);
  } catch {
    return false;
  }
}
