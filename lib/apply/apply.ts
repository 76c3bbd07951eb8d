import { StateError } from "../errors.ts";
import { generateIdentity, open, type Identity } from "../age/mod.ts";
import * as X from "../x509/core.ts";
import { refKey, type Ref } from "../model/bundles.ts";
import * as P from "../model/paths.ts";
import { generationsOf, type Generation, type Snapshot } from "../model/state.ts";
import type { CheckedPlan } from "../check/check-plan.ts";
import type { StepTable } from "../plan/step.ts";
import type { FileWrite, Store, StreamedLog } from "../store/fs-store.ts";
import type { JournalEntry } from "../store/journal.ts";
import { checkedTokenKey, need, openIssuer, openTokenIssuer, sealKey, spkiBase64, type Identities, type RootToken } from "./keys.ts";
import { openLeafKeys, sealLeafKeys, type LeafKeyEntry } from "./leaf-keys.ts";
import { Pool } from "../pool.ts";
import { vouching } from "./vouch.ts";
import { signCustody } from "./custody.ts";
import { newLeafKey } from "./native-crypto.ts";
import { meshBundleFiles } from "../deliver/mesh-bundles.ts";
import { journalFile, scopeOfPath } from "../store/domains.ts";
import { INTERMEDIATE_REVOCATION_REASON } from "../model/revocation.ts";
import { copyData } from "../model/copy.ts";
import { LARGE_RUN, withBoundedHeap } from "./heap.ts";
import { MINT_BATCH, type MintWorkers, WorkerSetupError } from "./mint-workers.ts";
import { batchMinter, mintBatch, type BatchMinter, type MintOrder, type MintReply } from "./mint-batch.ts";

/** Leaves from which a run's redo log is written while they are made (at 10,000 its 16 MB were written and flushed whole before the commit point). */
const STREAM_FROM = 2048;

export interface ApplyEnv {
  readonly store: Store;
  readonly identities: Identities;
  readonly command: string;
  /** Called once with a new root identity, before anything is sealed to it or written. */
  readonly revealRootIdentity?: (id: Identity) => Promise<void>;
  /** Called after each step with the number of steps done and in all (progress, tests). */
  readonly onStep?: (done: number, total: number) => void;
  /**
   * Leaves issued at once (default DEFAULT_CONCURRENCY). Keygen and signing run on the platform's
   * crypto thread pool, so several in flight keep every core busy while this thread encodes.
   */
  readonly concurrency?: number;
  /**
   * The recipients of the verified custody record (lib/store/custody.ts assertCustody): keys are
   * sealed to these, never to raw pki.json. Null only when the plan signs a new record itself
   * (init, `pki config`, a root rotation), which then holds the recipients sealed to.
   */
  readonly trusted: { readonly root: string; readonly ci: string } | null;
  /** The token `--root-in pkcs11:…` names, for a root key made on it by this run. */
  readonly newRootToken?: RootToken;
  /**
   * Worker threads that mint leaves (lib/apply/mint-workers.ts, started by the caller for a
   * fleet-size plan, null when they could not start); apply stops them once its leaves are made
   * and the check beside is done. Absent: every leaf on this thread.
   */
  readonly workers?: Promise<MintWorkers | null>;
  /**
   * A check run beside the run (the tamper check), awaited before the commit point; a rejection
   * stops the run there with nothing changed. The caller may have started it already (on a mint
   * worker, ahead of the leaves); otherwise it starts with the steps, here.
   */
  readonly beside?: () => Promise<unknown>;
}

/** Enough in flight to keep the crypto thread pool fed on a small CI runner, few enough to bound memory. */
export const DEFAULT_CONCURRENCY = 16;

export interface ApplyResult {
  readonly entry: JournalEntry;
  readonly written: readonly string[];
  readonly state: Snapshot;
  /** Milliseconds spent running the steps (keys, certificates), then waiting for the last leaf key files to be sealed (each scope's is sealed as soon as its leaves are issued), then committing (whose commit point waits for the check beside). */
  readonly timings: { readonly steps: number; readonly seal: number; readonly commit: number };
  /** Worker threads that minted leaves (0: all on the main thread), and how many leaves they minted. */
  readonly mintWorkers: number;
  readonly mintedOnWorkers: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
const KEY_MODE = 0o600;
const PUBLIC_MODE = 0o644;
const date = (s: string) => new Date(s);

/**
 * Execute a checked plan: every key generated and every certificate signed in memory first,
 * then all files written in one crash-safe commit. A failure before the commit changes nothing.
 * A fleet-size run bounds the heap's growth while it runs (lib/apply/heap.ts).
 */
export function apply(plan: CheckedPlan, env: ApplyEnv): Promise<ApplyResult> {
  const leaves = plan.steps.reduce((n, s) => n + (s.kind === "issue-leaf" ? 1 : 0), 0);
  return withBoundedHeap(leaves, () => applyChecked(plan, env));
}

async function applyChecked(plan: CheckedPlan, env: ApplyEnv): Promise<ApplyResult> {
  const { store, identities } = env;
  const state = copyData(plan.after) as Mutable<Snapshot>;
  const writes = new Map<string, FileWrite>();
  const certs = new Map<string, string>(); // refKey → PEM, for certificates made in this run
  const issuers = new Map<string, X.Issuer>(); // refKey → opened issuer
  const opening = new Map<string, Promise<X.Issuer>>(); // refKey → issuer being opened (leaves ask concurrently)
  const minters = new Map<string, Promise<X.LeafIssuer>>(); // refKey → prepared leaf template
  const leafKeys = new Map<string, Map<string, LeafKeyEntry>>(); // scope → service → key issued in this run, until sealed
  // A scope's keys are sealed as soon as its last leaf is issued, and their plaintext dropped: a
  // fleet renewal holds one scope's PKCS#8 PEMs at a time instead of every key of the fleet until
  // the commit (about 350 bytes of heap per leaf, measured at 10,000 leaves).
  const leavesLeft = new Map<string, number>(); // scope → issue-leaf steps not yet done
  let leafSteps = 0;
  for (const s of plan.steps) {
    if (s.kind !== "issue-leaf") continue;
    leavesLeft.set(s.scope, (leavesLeft.get(s.scope) ?? 0) + 1);
    leafSteps++;
  }
  const sealed = new Map<string, Promise<FileWrite>>(); // scope → its sealed key file
  const keyFiles: string[] = []; // scopes in the order their first leaf was issued: the order their key files are written
  // Two literal shapes, not a spread: called once a leaf on the busy main thread.
  const put = (path: string, content: string, mode = PUBLIC_MODE, sha256?: string): FileWrite => {
    const w = sha256 ? { path, content, mode, sha256 } : { path, content, mode };
    writes.set(path, w);
    return w;
  };
  // A fleet run's redo log is written while its leaves are made (Store.streamLog): each leaf
  // certificate and each scope's sealed keys go into it as they are made, the rest at the commit.
  let log = null as StreamedLog | null; // (assigned in stepsThenCommit)
  const config = () => {
    if (!state.config) throw new StateError("internal: applying a plan without a config");
    return state.config;
  };
  // Nothing is sealed to a recipient outside a root-signed record: the verified one, or the one
  // this very commit writes (whose fields are the plan's config).
  const signsCustody = plan.steps.some((s) => s.kind === "sign-custody");
  const sealTo = (p: "root" | "ci"): string => {
    const r = signsCustody ? config().recipients[p] : env.trusted?.[p];
    if (!r) throw new StateError(`internal: no root-signed ${p} recipient to seal to (the custody record was not verified)`);
    return r;
  };
  const genOf = (r: Ref): Generation => {
    const g = (r.scope === "root" ? state.root.generations : generationsOf(state.scopes[r.scope], r.mesh)).find((x) => x.gen === r.gen);
    if (!g) throw new StateError(`internal: no generation ${refKey(r)}`);
    return g;
  };
  const record = (g: { serial: string; fingerprint: string }, c: { serial: string; fingerprint: string }) => {
    g.serial = c.serial;
    g.fingerprint = c.fingerprint;
  };

  // Certificates read from disk are proven against the state as it was read (fingerprint, and the
  // chain to a live root), once per certificate: nothing is issued under, or bundled with, a
  // substituted intermediate even when scope.json and the journal were rewritten to match it.
  const vouch = vouching((path) => store.read(path), plan.before);
  /** A certificate of the tree, from this run or from disk (vouched for, lib/apply/vouch.ts). */
  const certOf = async (r: Ref): Promise<string> => {
    const made = certs.get(refKey(r));
    if (made) return made;
    const pem = r.scope === "root" ? await vouch.root(r.gen) : await vouch.intermediate(r);
    certs.set(refKey(r), pem);
    return pem;
  };

  const issuerOf = async (r: Ref): Promise<X.Issuer> => {
    const k = refKey(r);
    const have = issuers.get(k);
    if (have) return have;
    let p = opening.get(k);
    if (!p) opening.set(k, (p = openIssuerOf(r)));
    return p;
  };
  const openIssuerOf = async (r: Ref): Promise<X.Issuer> => {
    const k = refKey(r);
    // A root key recorded on a token (pki.json rootKeys, as custody.json signed it) signs there.
    const loc = r.scope === "root" ? config().rootKeys?.[`G${r.gen}`] : undefined;
    if (loc) return setIssuer(k, await openTokenIssuer(await certOf(r), r.gen, loc, tokenFor(loc.token)));
    const posture = r.scope === "root" ? "root" : "ci";
    const id = need(identities, posture, `signing with ${k}`);
    await certOf(r); // fingerprint check first
    const iss = r.scope === "root"
      ? await openIssuer(store, P.rootCert(r.gen), P.rootKey(r.gen), id, "root")
      : await openIssuer(store, P.intermediateCert(r.scope, r.gen), P.intermediateKey(r.scope, r.gen), id, "ci");
    return setIssuer(k, iss);
  };

  const setIssuer = (k: string, iss: X.Issuer) => (issuers.set(k, iss), iss);
  /** The token with this label: INFORGE_PKI_ROOT_KEY's, or the one --root-in names. */
  const tokenFor = (label: string): RootToken | undefined =>
    [identities.rootToken, env.newRootToken].find((t) => t?.uri.token === label) ?? identities.rootToken;

  const minterOf = minterCache(minters, issuerOf);

  /**
   * One age file per scope holds its leaf keys (lib/apply/leaf-keys.ts). Leaves not re-issued in
   * this run keep their keys: the scope's current file is opened (CI identity) and carried over.
   */
  const sealScopeKeys = async (scope: string, fresh: ReadonlyMap<string, LeafKeyEntry>): Promise<string> => {
    const index = state.leaves[scope]?.leaves ?? {};
    const kept = Object.keys(index).filter((svc) => !fresh.has(svc));
    const all = new Map<string, LeafKeyEntry>();
    if (kept.length) {
      const path = P.leafKeys(scope);
      const id = need(identities, "ci", `keeping the other leaf keys of ${scope}`);
      const old = await openLeafKeys(store, scope, id);
      for (const svc of kept) {
        const serial = (index as Record<string, { serial: string }>)[svc]!.serial;
        // A tree from before keys.age keeps a leaf's key in a file of its own: moved in here.
        const e = old?.get(svc) ?? (await legacyKey(scope, svc, serial, id));
        // pki.json leafFiles "shipped": a key this checkout lacks went out with its leaf to the
        // deploy target (the repo never had it); the next deploy of that service mints anew.
        if (!e && config().leafFiles === "shipped") continue;
        if (!e || e.serial !== serial) {
          throw new StateError(`${path} ${e ? "holds the key of another certificate" : "has no key"} for "${svc}" (leaves/${scope}/index.json records serial ${serial}); restore ${path} from git, or issue a new leaf with inforge pki rotate --leaf ${svc} --region ${scope}`);
        }
        all.set(svc, e);
      }
    }
    for (const [svc, e] of fresh) all.set(svc, e);
    return sealLeafKeys(scope, all, sealTo("ci"));
  };

  /** The last leaf of `scope` is issued: seal its keys now (awaited before the commit), and let go of the plaintext. */
  const scopeIssued = (scope: string) => {
    const fresh = leafKeys.get(scope);
    if (!fresh) throw new StateError(`internal: no keys issued in ${scope}`);
    leafKeys.delete(scope);
    const p = sealScopeKeys(scope, fresh).then((content) => {
      const w = { path: P.leafKeys(scope), content, mode: KEY_MODE };
      log?.add([w]);
      return w;
    });
    p.catch(() => {}); // awaited (and rethrown) below; a step failing first must not leave it unhandled
    sealed.set(scope, p);
  };

  /** A leaf key in the per-leaf file of older trees, if it is the key of the leaf's certificate. */
  const legacyKey = async (scope: string, svc: string, serial: string, id: Identity): Promise<LeafKeyEntry | undefined> => {
    const path = P.leafKey(scope, svc);
    const [sealed, cert] = await Promise.all([store.read(path), store.read(P.leafCert(scope, svc))]);
    if (sealed === null || cert === null) return undefined;
    const key = await open(sealed, id, path, "INFORGE_SECRETS_KEY");
    return (await X.keyMatchesCertificate(key, cert)) === "match" ? { serial, key } : undefined;
  };

  /** A leaf minted here or on a worker: its record, its certificate file, its key (sealed with its scope's). */
  const recordLeaf = (s: IssueLeafStep, c: { pem: string; serial: string; fingerprint: string; sha256?: string }, keyPem: string) => {
    const leaf = state.leaves[s.scope]?.leaves[s.service as never];
    if (!leaf) throw new StateError(`internal: no leaf record for ${s.scope}/${s.service}`);
    record(leaf, c);
    // The step's own string for the path (the same text), not a second copy per leaf held until the commit.
    const path = P.leafCert(s.scope, s.service);
    const w = put(s.writes.find((w) => w === path) ?? path, c.pem, PUBLIC_MODE, c.sha256);
    log?.add([w]);
    let keys = leafKeys.get(s.scope);
    if (!keys) {
      leafKeys.set(s.scope, (keys = new Map()));
      keyFiles.push(s.scope);
    }
    keys.set(s.service, { serial: c.serial, key: keyPem });
    const left = leavesLeft.get(s.scope)! - 1;
    leavesLeft.set(s.scope, left);
    if (left === 0) scopeIssued(s.scope);
  };

  const run: StepTable<Promise<void>> = {
    "create-root-identity": async () => {
      const id = await generateIdentity();
      config().recipients.root = id.recipient;
      // Revealed before anything is sealed to it: a crash later loses nothing but this run.
      await env.revealRootIdentity?.(id);
    },
    "create-root": async (s) => {
      if (s.keyIn) {
        // Made on the token, sensitive and never extractable; pki.json rootKeys records where (signed into custody.json below).
        const token = [env.newRootToken, identities.rootToken].find((t) => t?.uri.token === s.keyIn!.token);
        if (!token) throw new StateError(`internal: no opened pkcs11 token "${s.keyIn.token}" for root G${s.gen}`);
        const made = await (await token.open()).generate(s.keyIn.object);
        const loc = { in: "pkcs11" as const, token: s.keyIn.token, object: s.keyIn.object, publicKey: spkiBase64(made) };
        config().rootKeys = { ...config().rootKeys, [`G${s.gen}`]: loc };
        const signer = await checkedTokenKey(made, null, `root G${s.gen}`, loc);
        const c = await X.createRoot({ key: signer, commonName: s.commonName, notBefore: date(s.notBefore), notAfter: date(s.notAfter) });
        record(genOf({ scope: "root", gen: s.gen }), c);
        certs.set(refKey({ scope: "root", gen: s.gen }), c.pem);
        issuers.set(refKey({ scope: "root", gen: s.gen }), { certPem: c.pem, signer });
        put(P.rootCert(s.gen), c.pem);
        return;
      }
      const key = await X.generateKeyPair();
      const c = await X.createRoot({ key, commonName: s.commonName, notBefore: date(s.notBefore), notAfter: date(s.notAfter) });
      record(genOf({ scope: "root", gen: s.gen }), c);
      certs.set(refKey({ scope: "root", gen: s.gen }), c.pem);
      issuers.set(refKey({ scope: "root", gen: s.gen }), { certPem: c.pem, signer: X.keySigner(key) });
      put(P.rootCert(s.gen), c.pem);
      put(P.rootKey(s.gen), await sealKey(key, sealTo("root")), KEY_MODE);
    },
    "cross-sign-root": async (s) => {
      const issuer = await issuerOf({ scope: "root", gen: s.by });
      const c = await X.crossSignRoot({ subjectCertPem: await certOf({ scope: "root", gen: s.gen }), issuer, notBefore: date(s.notBefore), notAfter: date(s.notAfter) });
      if (state.root.crossSigned) state.root.crossSigned.fingerprint = c.fingerprint;
      put(P.crossCert(s.gen, s.by), c.pem);
    },
    "issue-intermediate": async (s) => {
      const issuer = await issuerOf({ scope: "root", gen: s.rootGen });
      const key = await X.generateKeyPair();
      const c = await X.createIntermediate({
        publicKey: key.publicKey, issuer, commonName: s.commonName, notBefore: date(s.notBefore), notAfter: date(s.notAfter),
        permittedDns: [...s.permittedDns], permittedUriHosts: [...s.permittedUriHosts], unconstrainedUris: s.permittedUriHosts.length === 0,
        ...(s.crlUrl ? { crlUrl: s.crlUrl } : {}),
      });
      // A mesh issuer (s.mesh) is made the same way and lives beside the scope's intermediates.
      const ref: Ref = { scope: s.scope, gen: s.gen, ...(s.mesh ? { mesh: s.mesh } : {}) };
      record(genOf(ref), c);
      certs.set(refKey(ref), c.pem);
      issuers.set(refKey(ref), { certPem: c.pem, signer: X.keySigner(key) });
      put(P.intermediateCert(s.scope, s.gen, s.mesh), c.pem);
      // Intermediate keys are sealed to the CI recipient only: CI mints leaves, the root never leaves the workstation.
      put(P.intermediateKey(s.scope, s.gen, s.mesh), await sealKey(key, sealTo("ci")), KEY_MODE);
    },
    "issue-leaf": async (s) => {
      // The leaf profile from a per-issuer DER template (lib/x509/fast-leaf.ts), signed through
      // the issuer's Signer; its key joins the scope's key file, sealed once the scope's last leaf is issued (scopeIssued).
      const minter = await minterOf({ scope: s.scope, gen: s.gen });
      const key = await newLeafKey();
      const c = await minter.mint({
        spki: key.spki, commonName: s.commonName, notBefore: date(s.notBefore), notAfter: date(s.notAfter), dns: s.dns, uris: s.uris,
        ...(s.crlUrl ? { crlUrl: s.crlUrl } : {}),
      });
      recordLeaf(s, c, key.pkcs8Pem);
    },
    "issue-csr-leaf": async (s) => {
      // The workload keeps its private key: certify the CSR's public key, seal nothing.
      const c = await X.createLeaf({
        publicKey: await X.importCsrPublicKey(s.publicKey), issuer: await issuerOf({ scope: s.scope, gen: s.gen }), commonName: s.commonName,
        notBefore: date(s.notBefore), notAfter: date(s.notAfter), dns: [...s.dns], uris: [...s.uris],
        ...(s.crlUrl ? { crlUrl: s.crlUrl } : {}),
      });
      const leaf = state.leaves[s.scope]?.csr?.[s.service as never];
      if (!leaf) throw new StateError(`internal: no csr leaf record for ${s.scope}/${s.service}`);
      record(leaf, c);
      put(P.csrLeafCert(s.scope, s.service), c.pem);
    },
    "set-state": async () => {},
    "sign-crl": async (s) => {
      const parts: string[] = [];
      for (const gen of s.rootGens) {
        const issuer = await issuerOf({ scope: "root", gen });
        const revoked = state.root.crl.revoked
          .filter((r) => generationsOf(state.scopes[r.scope], r.mesh).find((g) => g.gen === r.gen)?.issuer === gen)
          // Only recovery revokes an intermediate or a mesh issuer (its key is believed leaked).
          .map((r) => ({ serial: r.serial, date: date(r.date), reason: r.reason ?? INTERMEDIATE_REVOCATION_REASON }));
        parts.push(await X.createCrl({ issuer, thisUpdate: date(s.thisUpdate), nextUpdate: date(s.nextUpdate), crlNumber: s.number, revoked }));
      }
      put(P.CRL, parts.join(""));
    },
    "sign-custody": async (s) => {
      const issuer = await issuerOf({ scope: "root", gen: s.rootGen });
      const fingerprint = genOf({ scope: "root", gen: s.rootGen }).fingerprint || X.certificateFingerprint(issuer.certPem);
      put(P.CUSTODY, await signCustody(config(), s.rootGen, fingerprint, issuer.signer, plan.now));
    },
    "sign-scope-crl": async (s) => {
      // One CRL per generation, each by its own key: a verifier looks for the CRL of the CA that
      // issued the certificate it checks (RFC 5280 §6.3.3), and OpenSSL's -crl_check_all wants one
      // for every CA in the chain.
      const parts: string[] = [];
      for (const gen of s.gens) {
        const issuer = await issuerOf({ scope: s.scope, gen });
        const revoked = (state.leaves[s.scope]?.revoked ?? [])
          .filter((r) => r.gen === gen)
          .map((r) => ({ serial: r.serial, date: date(r.date), reason: r.reason }));
        parts.push(await X.createCrl({ issuer, thisUpdate: date(s.thisUpdate), nextUpdate: date(s.nextUpdate), crlNumber: s.number, revoked }));
      }
      put(P.scopeCrl(s.scope), parts.join(""));
    },
    "write-bundle": async (s) => {
      const pems: string[] = [];
      for (const m of s.members) pems.push(await certOf(m));
      put(P.bundle(s.bundle), pems.join(""));
      // The same members in mesh formats (SPIFFE JSON, ConfigMap), in this same commit; the journal gives the SPIFFE sequence.
      // A bundle is written by directory-wide runs (journal/pki.jsonl) and by its own scope's runs (that scope's journal).
      const scope = scopeOfPath(P.bundle(s.bundle));
      const journals = [await store.read(P.JOURNAL), scope === null ? null : await store.read(journalFile(scope))];
      for (const f of meshBundleFiles(s.bundle, pems, config(), journals.filter((j) => j !== null).join("\n") || null)) put(f.path, f.content);
    },
    "write-state": async () => {}, // written below, once every serial is known
  };

  const total = plan.steps.length;
  let done = 0;
  const t0 = performance.now();
  const width = Math.max(1, env.concurrency ?? DEFAULT_CONCURRENCY);
  const exec = (step: (typeof plan.steps)[number]) => (run[step.kind] as (s: typeof step) => Promise<void>)(step).then(() => env.onStep?.(++done, total));
  /** Leaves on this thread, `width` in flight. */
  const issueHere = async (leaves: readonly IssueLeafStep[]) => {
    const pool = new Pool(width);
    for (const step of leaves) await pool.add(() => exec(step));
    await pool.drain();
  };
  const besideRun = env.beside?.();
  besideRun?.catch(() => {}); // awaited before the commit point
  // A fleet-size run is minted on worker threads, a batch of one issuer's leaves at a time, taken
  // from the front of the run; this thread takes small chunks from its back whenever it has
  // nothing else to do (between recording replies, sealing, signing the scope CRLs), so both
  // cores are busy until the last leaf. A batch a worker cannot sign (a token or KMS issuer, a
  // runtime that cannot pass the key) is minted here the usual way instead.
  const issueOnWorkers = async (leaves: readonly IssueLeafStep[], mw: MintWorkers) => {
    const queue = new LeafQueue(leaves);
    const here = new Map<string, Promise<BatchMinter | null>>(); // refKey → this thread's minter (null: cannot sign here)
    const hereMinter = (ref: Ref) => {
      let m = here.get(refKey(ref));
      if (!m) {
        here.set(refKey(ref), (m = Promise.all([minterOf(ref), issuerOf(ref)]).then(([minter, issuer]) => {
          const pair = X.signerKeyPair(issuer.signer);
          try {
            return pair ? batchMinter(minter.template, pair.privateKey) : null;
          } catch {
            return null;
          }
        })));
      }
      return m;
    };
    const recordAll = (batch: readonly IssueLeafStep[], replies: readonly MintReply[], onWorker: boolean) =>
      replies.forEach((r, n) => {
        if (onWorker) onWorkers++;
        recordLeaf(batch[n]!, r, r.key);
        env.onStep?.(++done, total);
      });
    let stop = false;
    // The issuers are opened one after another ahead of the workers (their keys decrypted,
    // imported, checked): opened when a worker's next batch first needed one, on this busy
    // thread, the worker ran dry for tens of milliseconds at a scope's start.
    const refs = [...new Map(leaves.map((l) => [`${l.scope}/${l.gen}`, { scope: l.scope, gen: l.gen } as Ref])).values()];
    const ahead = (async () => {
      for (const ref of refs) if (!stop) await Promise.all([minterOf(ref), issuerOf(ref)]);
    })();
    ahead.catch(() => {}); // a failure surfaces where the issuer is used
    // Four batches in flight per worker, so a worker does not run dry while this thread is busy
    // (opening the next issuer, sealing a scope's keys); batches shrink with what is left, so the
    // last ones do not leave this thread idle while a worker finishes them.
    const pool = new Pool(4 * mw.size);
    const size = () => Math.max(MAIN_CHUNK, Math.min(MINT_BATCH, Math.floor(queue.left / (8 * mw.size))));
    const toWorkers = (async () => {
      for (let batch = queue.front(size()); batch && !stop; batch = queue.front(size())) {
        const b = batch;
        const ref: Ref = { scope: b[0]!.scope, gen: b[0]!.gen };
        const [minter, issuer] = await Promise.all([minterOf(ref), issuerOf(ref)]);
        const pair = X.signerKeyPair(issuer.signer);
        await pool.add(async () => {
          if (!pair) return issueHere(b);
          try {
            recordAll(b, await mw.mint(refKey(ref), minter.template, pair.privateKey, b.map(orderOf)), true);
          } catch (e) {
            if (e instanceof WorkerSetupError) return issueHere(b);
            throw e;
          }
        });
      }
      await pool.drain();
    })();
    const onThisThread = (async () => {
      for (let batch = queue.back(MAIN_CHUNK); batch && !stop; batch = queue.back(MAIN_CHUNK)) {
        const ref: Ref = { scope: batch[0]!.scope, gen: batch[0]!.gen };
        const m = await hereMinter(ref);
        if (m) recordAll(batch, mintBatch(m, batch.map(orderOf)), false);
        else await issueHere(batch);
        await new Promise((r) => setImmediate(r)); // what else waits on this thread goes first
      }
    })();
    try {
      await Promise.all([toWorkers, onThisThread]);
    } finally {
      stop = true;
      await Promise.allSettled([toWorkers, onThisThread]);
    }
  };
  const workers = env.workers ?? Promise.resolve(null);
  let onWorkers = 0; // leaves the workers minted
  const issueLeaves = async (leaves: readonly IssueLeafStep[]) => {
    const mw = await workers;
    return mw ? issueOnWorkers(leaves, mw) : issueHere(leaves);
  };
  let committing = false;
  try {
    return await stepsThenCommit();
  } catch (e) {
    if (!committing) await log?.drop(); // a commit takes its log back itself
    throw e;
  } finally {
    // A run that failed lets the check beside finish first: the caller reports a tampered tree
    // as the cause, not the worker stopped under it.
    await besideRun?.catch(() => {});
    await (await workers)?.close();
  }

  async function stepsThenCommit(): Promise<ApplyResult> {
    // Steps run in plan order, except that issue-leaf steps (independent of each other: each
    // reads only its issuer, which an earlier step made or the disk holds) are gathered and
    // issued concurrently, across the steps that do not touch leaves (LEAF_INDEPENDENT: a
    // renewal's per-scope CRLs). Any other step waits until the leaves before it are done.
    // The independent steps wait too, and then run while the leaves are issued (the leaves are
    // handed out first: on workers they need this thread only to be sent and recorded).
    if (leafSteps >= STREAM_FROM) log = (await store.streamLog?.()) ?? null;
    let leafRun: IssueLeafStep[] = [];
    let deferred: PlanStep[] = [];
    const flush = async () => {
      const [leaves, steps] = [leafRun, deferred];
      [leafRun, deferred] = [[], []];
      const others = (async () => {
        for (const step of steps) await exec(step);
      })();
      others.catch(() => {}); // awaited below, after the leaves
      if (leaves.length) await issueLeaves(leaves);
      await others;
    };
    for (const step of plan.steps) {
      if (step.kind === "issue-leaf") leafRun.push(step);
      else if (LEAF_INDEPENDENT.has(step.kind)) deferred.push(step);
      else {
        await flush();
        await exec(step);
      }
    }
    await flush();
    const t1 = performance.now();
    // Each scope's key file was sealed once its last leaf was issued.
    for (const scope of keyFiles) {
      const p = sealed.get(scope);
      if (!p) throw new StateError(`internal: the keys of ${scope} were not sealed`);
      const w = await p;
      writes.set(w.path, w); // the object the log holds
    }
    const t2 = performance.now();
    // Revocation records made by the planner carry serials from the state; fill any left empty.
    for (const r of state.root.crl.revoked) if (!r.serial) r.serial = genOf({ scope: r.scope, gen: r.gen, ...(r.mesh ? { mesh: r.mesh } : {}) }).serial;
    for (const step of plan.steps) {
      if (step.kind !== "write-state") continue;
      put(step.file, JSON.stringify(stateFile(state, step.file), null, 2) + "\n");
    }
    // A fleet's commit is the run's peak of memory: from LARGE_RUN leaves the workers go as soon
    // as the check beside is done; below it they stay, and one writes half the certificates past
    // the commit point (10,000 took one thread ~170 ms; split, ~120 each plus ~20 to post a half:
    // the kernel's locks on the same directories keep the two from halving it).
    const mw = await workers;
    const helper = mw && leafSteps < LARGE_RUN ? mw : undefined;
    if (!helper) void (besideRun ?? Promise.resolve()).catch(() => {}).then(() => mw?.close());
    committing = true;
    const entry = await store.commit([...writes.values()], {
      ...(log ? { log } : {}),
      at: plan.now, command: env.command, intents: plan.intents.map((i) => i.kind), steps: plan.steps.length,
      beforeCommitPoint: () => besideRun ?? Promise.resolve(),
      ...(helper ? { helper } : {}),
    });
    const t3 = performance.now();
    return { entry, written: [...writes.keys()], state, timings: { steps: t1 - t0, seal: t2 - t1, commit: t3 - t2 }, mintWorkers: onWorkers ? mw!.size : 0, mintedOnWorkers: onWorkers };
  }
}

/** Prepare (once per issuer) the leaf template of an issuer. */
function minterCache(minters: Map<string, Promise<X.LeafIssuer>>, issuerOf: (r: Ref) => Promise<X.Issuer>) {
  return (r: Ref): Promise<X.LeafIssuer> => {
    const k = refKey(r);
    let m = minters.get(k);
    if (!m) minters.set(k, (m = issuerOf(r).then((i) => X.prepareLeafIssuer(i))));
    return m;
  };
}

function stateFile(s: Snapshot, file: string): unknown {
  if (file === P.CONFIG) return s.config;
  if (file === P.ROOT_STATE) return s.root;
  const m = /^(scopes|leaves)\/([^/]+)\//.exec(file);
  if (m?.[1] === "scopes") return s.scopes[m[2]!];
  if (m?.[1] === "leaves") return s.leaves[m[2]!];
  throw new StateError(`internal: no state file ${file}`);
}

type PlanStep = CheckedPlan["steps"][number];
type IssueLeafStep = Extract<PlanStep, { kind: "issue-leaf" }>;

/**
 * Steps that neither read nor change what an issue-leaf step makes, so they may run before the
 * leaves planned ahead of them: a scope CRL lists revocations the plan recorded, signed by the
 * scope's issuer; state files are written after every step.
 */
const LEAF_INDEPENDENT: ReadonlySet<CheckedPlan["steps"][number]["kind"]> = new Set(["sign-scope-crl", "write-state", "set-state"]);

/**
 * Leaves this thread mints at a time between other work: about 1.5 ms, so the workers' replies
 * (and their next batches) are never held up long. At 10,000 leaves on 2 cores, chunks of 16
 * renewed in 2.22–2.31 s (medians of 4), of 32 in 2.27–2.40 s, of 64 in 2.38 s.
 */
const MAIN_CHUNK = 16;

/**
 * A run of issue-leaf steps handed out from both ends, in chunks of one issuer's leaves: the
 * workers take from the front, the main thread from the back.
 */
class LeafQueue {
  private lo = 0;
  private hi: number;
  private readonly leaves: readonly IssueLeafStep[];
  constructor(leaves: readonly IssueLeafStep[]) {
    this.leaves = leaves;
    this.hi = leaves.length;
  }
  front(max: number): readonly IssueLeafStep[] | null {
    if (this.lo >= this.hi) return null;
    const first = this.leaves[this.lo]!;
    let j = this.lo + 1;
    while (j < this.hi && j - this.lo < max && sameIssuer(this.leaves[j]!, first)) j++;
    const out = this.leaves.slice(this.lo, j);
    this.lo = j;
    return out;
  }
  get left(): number {
    return this.hi - this.lo;
  }
  back(max: number): readonly IssueLeafStep[] | null {
    if (this.lo >= this.hi) return null;
    const last = this.leaves[this.hi - 1]!;
    let k = this.hi - 1;
    while (k > this.lo && this.hi - k < max && sameIssuer(this.leaves[k - 1]!, last)) k--;
    const out = this.leaves.slice(k, this.hi);
    this.hi = k;
    return out;
  }
}

const sameIssuer = (a: IssueLeafStep, b: IssueLeafStep) => a.scope === b.scope && a.gen === b.gen;

const orderOf = (s: IssueLeafStep): MintOrder => ({
  commonName: s.commonName, notBefore: s.notBefore, notAfter: s.notAfter, dns: s.dns, uris: s.uris,
  ...(s.crlUrl ? { crlUrl: s.crlUrl } : {}),
});
