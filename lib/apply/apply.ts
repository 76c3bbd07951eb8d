import { StateError } from "../errors.ts";
import { generateIdentity, type Identity } from "../age/mod.ts";
import * as X from "../x509/mod.ts";
import { refKey, type Ref } from "../model/bundles.ts";
import * as P from "../model/paths.ts";
import type { Generation, Snapshot } from "../model/state.ts";
import type { CheckedPlan } from "../check/check-plan.ts";
import type { StepTable } from "../plan/step.ts";
import type { FileWrite, Store } from "../store/fs-store.ts";
import type { JournalEntry } from "../store/journal.ts";
import { need, openIssuer, sealKey, type Identities } from "./keys.ts";

export interface ApplyEnv {
  readonly store: Store;
  readonly identities: Identities;
  readonly command: string;
  /** Called once with a new root identity, before anything is sealed to it or written. */
  readonly revealRootIdentity?: (id: Identity) => Promise<void>;
  /** Called after each step (progress, tests). */
  readonly onStep?: (n: number) => void;
}

export interface ApplyResult {
  readonly entry: JournalEntry;
  readonly written: readonly string[];
  readonly state: Snapshot;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
const KEY_MODE = 0o600;
const PUBLIC_MODE = 0o644;
const date = (s: string) => new Date(s);

/**
 * Execute a checked plan: every key generated and every certificate signed in memory first,
 * then all files written in one crash-safe commit. A failure before the commit changes nothing.
 */
export async function apply(plan: CheckedPlan, env: ApplyEnv): Promise<ApplyResult> {
  const { store, identities } = env;
  const state = structuredClone(plan.after) as Mutable<Snapshot>;
  const writes = new Map<string, FileWrite>();
  const certs = new Map<string, string>(); // refKey → PEM, for certificates made in this run
  const issuers = new Map<string, X.Issuer>(); // refKey → opened issuer
  const put = (path: string, content: string, mode = PUBLIC_MODE) => writes.set(path, { path, content, mode });
  const config = () => {
    if (!state.config) throw new StateError("internal: applying a plan without a config");
    return state.config;
  };
  const genOf = (r: Ref): Generation => {
    const g = (r.scope === "root" ? state.root.generations : state.scopes[r.scope]?.generations ?? []).find((x) => x.gen === r.gen);
    if (!g) throw new StateError(`internal: no generation ${refKey(r)}`);
    return g;
  };
  const record = (g: { serial: string; fingerprint: string }, c: X.CertInfo) => {
    g.serial = c.serial;
    g.fingerprint = c.fingerprint;
  };

  /** A certificate of the tree, from this run or from disk (checked against the state's fingerprint). */
  const certOf = async (r: Ref): Promise<string> => {
    const made = certs.get(refKey(r));
    if (made) return made;
    const path = r.scope === "root" ? P.rootCert(r.gen) : P.intermediateCert(r.scope, r.gen);
    const pem = await store.read(path);
    if (pem === null) throw new StateError(`${path} is missing; restore it from git`);
    const g = genOf(r);
    if (g.fingerprint && X.parseCertificate(pem, path).fingerprint !== g.fingerprint) {
      throw new StateError(`${path} is not the certificate the state records (fingerprint differs): it was swapped or edited; restore it from git and run inforge pki verify`);
    }
    certs.set(refKey(r), pem);
    return pem;
  };

  const issuerOf = async (r: Ref): Promise<X.Issuer> => {
    const k = refKey(r);
    const have = issuers.get(k);
    if (have) return have;
    const posture = r.scope === "root" ? "root" : "ci";
    const id = need(identities, posture, `signing with ${k}`);
    await certOf(r); // fingerprint check first
    const iss = r.scope === "root"
      ? await openIssuer(store, P.rootCert(r.gen), P.rootKey(r.gen), id, "root")
      : await openIssuer(store, P.intermediateCert(r.scope, r.gen), P.intermediateKey(r.scope, r.gen), id, "ci");
    issuers.set(k, iss);
    return iss;
  };

  const run: StepTable<Promise<void>> = {
    "create-root-identity": async () => {
      const id = await generateIdentity();
      config().recipients.root = id.recipient;
      // Revealed before anything is sealed to it: a crash later loses nothing but this run.
      await env.revealRootIdentity?.(id);
    },
    "create-root": async (s) => {
      const key = await X.generateKeyPair();
      const c = await X.createRoot({ key, commonName: s.commonName, notBefore: date(s.notBefore), notAfter: date(s.notAfter) });
      record(genOf({ scope: "root", gen: s.gen }), c);
      certs.set(refKey({ scope: "root", gen: s.gen }), c.pem);
      issuers.set(refKey({ scope: "root", gen: s.gen }), { certPem: c.pem, signer: X.keySigner(key) });
      put(P.rootCert(s.gen), c.pem);
      put(P.rootKey(s.gen), await sealKey(key, config().recipients.root), KEY_MODE);
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
        permittedDns: [...s.permittedDns], permittedUriHosts: [...s.permittedUriHosts],
      });
      const ref = { scope: s.scope, gen: s.gen };
      record(genOf(ref), c);
      certs.set(refKey(ref), c.pem);
      issuers.set(refKey(ref), { certPem: c.pem, signer: X.keySigner(key) });
      put(P.intermediateCert(s.scope, s.gen), c.pem);
      // Intermediate keys are sealed to the CI recipient only: CI mints leaves, the root never leaves the workstation.
      put(P.intermediateKey(s.scope, s.gen), await sealKey(key, config().recipients.ci), KEY_MODE);
    },
    "issue-leaf": async (s) => {
      const issuer = await issuerOf({ scope: s.scope, gen: s.gen });
      const key = await X.generateKeyPair();
      const c = await X.createLeaf({
        publicKey: key.publicKey, issuer, commonName: s.commonName, notBefore: date(s.notBefore), notAfter: date(s.notAfter),
        dns: [...s.dns], uris: [...s.uris],
      });
      const leaf = state.leaves[s.scope]?.leaves[s.service as never];
      if (!leaf) throw new StateError(`internal: no leaf record for ${s.scope}/${s.service}`);
      record(leaf, c);
      put(P.leafCert(s.scope, s.service), c.pem);
      put(P.leafKey(s.scope, s.service), await sealKey(key, config().recipients.ci), KEY_MODE);
    },
    "set-state": async () => {},
    "sign-crl": async (s) => {
      const parts: string[] = [];
      for (const gen of s.rootGens) {
        const issuer = await issuerOf({ scope: "root", gen });
        const revoked = state.root.crl.revoked
          .filter((r) => state.scopes[r.scope]?.generations.find((g) => g.gen === r.gen)?.issuer === gen)
          .map((r) => ({ serial: r.serial, date: date(r.date) }));
        parts.push(await X.createCrl({ issuer, thisUpdate: date(s.thisUpdate), nextUpdate: date(s.nextUpdate), crlNumber: s.number, revoked }));
      }
      put(P.CRL, parts.join(""));
    },
    "write-bundle": async (s) => {
      const pems: string[] = [];
      for (const m of s.members) pems.push(await certOf(m));
      put(P.bundle(s.bundle), pems.join(""));
    },
    "write-state": async () => {}, // written below, once every serial is known
  };

  for (const [n, step] of plan.steps.entries()) {
    await (run[step.kind] as (s: typeof step) => Promise<void>)(step);
    env.onStep?.(n + 1);
  }
  // Revocation records made by the planner carry serials from the state; fill any left empty.
  for (const r of state.root.crl.revoked) if (!r.serial) r.serial = genOf({ scope: r.scope, gen: r.gen }).serial;
  for (const step of plan.steps) {
    if (step.kind !== "write-state") continue;
    put(step.file, JSON.stringify(stateFile(state, step.file), null, 2) + "\n");
  }
  const entry = await store.commit([...writes.values()], {
    at: plan.now, command: env.command, intents: plan.intents.map((i) => i.kind), steps: plan.steps.length,
  });
  return { entry, written: [...writes.keys()], state };
}

function stateFile(s: Snapshot, file: string): unknown {
  if (file === P.CONFIG) return s.config;
  if (file === P.ROOT_STATE) return s.root;
  const m = /^(scopes|leaves)\/([^/]+)\//.exec(file);
  if (m?.[1] === "scopes") return s.scopes[m[2]!];
  if (m?.[1] === "leaves") return s.leaves[m[2]!];
  throw new StateError(`internal: no state file ${file}`);
}
