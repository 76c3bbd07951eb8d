import { StateError } from "../errors.ts";
import * as X from "../x509/read.ts";
import { refKey, type Ref } from "../model/bundles.ts";
import * as P from "../model/paths.ts";
import { generationsOf, LIVE, type Snapshot } from "../model/state.ts";

// Certificates of the tree are read from a directory anyone with write access to the infra repo
// can change. Before a certificate is issued under (apply) or handed out (deploy), prove it is the
// one the state records AND that it chains to a live root: the fingerprint alone is not enough,
// because whoever can replace G1.crt.pem can also rewrite scope.json and the (unkeyed) journal.
// The root itself is anchored outside this module (pki.json's custody record and
// INFORGE_ROOT_FINGERPRINT, checked at the start of every run); everything below it is anchored here.
// Cost: one signature check per certificate, once per run (cached), not once per leaf.

/** Reads a file of the pki directory (null: missing); deploy's reader also checks the journal. */
export type ReadTree = (path: string) => Promise<string | null>;

export interface Vouch {
  /** The root certificate of generation `gen`: recorded fingerprint, self-signed, live. */
  root(gen: number): Promise<string>;
  /** An intermediate: recorded fingerprint, live, signed by the live root its scope file names. */
  intermediate(ref: Ref): Promise<string>;
  /** The cross-signed root of a root overlap: recorded fingerprint, signed by the old root, holding the new root's key. */
  cross(): Promise<string>;
}

/** A vouching reader over one snapshot (the state on disk, as read under the lock). */
export function vouching(read: ReadTree, snap: Snapshot): Vouch {
  const proven = new Map<string, Promise<string>>();
  const once = (r: Ref, f: () => Promise<string>): Promise<string> => {
    const k = refKey(r);
    let p = proven.get(k);
    if (!p) proven.set(k, (p = f()));
    return p;
  };
  const must = async (path: string): Promise<string> => {
    const pem = await read(path);
    if (pem === null) throw new StateError(`${path} is missing; restore it from git and run inforge pki verify`);
    return pem;
  };
  const fingerprint = (pem: string, path: string): string => {
    try {
      return X.certificateFingerprint(pem, path);
    } catch (e) {
      // lib/x509's message names the file and what it holds instead (a CRL, two certificates, …).
      const why = e instanceof X.X509Error ? e.message : `${path} is not a PEM certificate`;
      throw new StateError(`${why}; restore it from git and run inforge pki verify`);
    }
  };

  const root = (gen: number): Promise<string> => once({ scope: "root", gen }, async () => {
    const path = P.rootCert(gen);
    const g = snap.root.generations.find((x) => x.gen === gen);
    if (!g) throw new StateError(`${P.ROOT_STATE} records no root G${gen}, yet the state names it as an issuer; restore the pki directory from git and run inforge pki verify`);
    if (!LIVE.has(g.state)) throw new StateError(`root G${gen} (${path}) is ${g.state}, so nothing may chain to it; restore the pki directory from git and run inforge pki verify`);
    const pem = await must(path);
    if (!g.fingerprint || fingerprint(pem, path) !== g.fingerprint) {
      throw new StateError(`${path} is not the certificate the state records for root G${gen} (fingerprint differs from ${P.ROOT_STATE}); restore it from git and run inforge pki verify`);
    }
    if (!(await signedBy(pem, pem))) throw new StateError(`${path} (root G${gen}) is not self-signed; restore it from git and run inforge pki verify`);
    return pem;
  });

  // A mesh issuer (r.mesh) is proven exactly like an intermediate: it is one, under scopes/<scope>/<mesh>/.
  const intermediate = (r: Ref): Promise<string> => once(r, async () => {
    const path = P.intermediateCert(r.scope, r.gen, r.mesh);
    const state = P.scopeState(r.scope);
    const name = `${r.scope}${r.mesh ? ` ${r.mesh} issuer` : ""} G${r.gen}`;
    const g = generationsOf(snap.scopes[r.scope], r.mesh).find((x) => x.gen === r.gen);
    if (!g) throw new StateError(`${state} records no ${name}; restore the pki directory from git and run inforge pki verify`);
    if (!LIVE.has(g.state)) throw new StateError(`${name} (${path}) is ${g.state}, so nothing may chain to it; run inforge pki renew --region ${r.scope} in CI`);
    if (g.issuer === null) throw new StateError(`${state} names no root for ${name}; restore it from git and run inforge pki verify`);
    const pem = await must(path);
    if (!g.fingerprint || fingerprint(pem, path) !== g.fingerprint) {
      throw new StateError(`${path} is not the certificate the state records for ${name} (fingerprint differs from ${state}); restore it from git and run inforge pki verify`);
    }
    const rootPem = await root(g.issuer);
    if (!(await signedBy(pem, rootPem))) {
      throw new StateError(`${path} (${r.mesh ? name : `scope ${r.scope}, G${r.gen}`}) is not signed by root G${g.issuer} (${P.rootCert(g.issuer)}), the root ${state} names: the ${r.mesh ? "issuer" : "intermediate"} was substituted, so nothing is issued under it or handed out — restore scopes/${r.scope}/ from git and run inforge pki verify`);
    }
    return pem;
  });

  const cross = (): Promise<string> => once({ scope: "root-cross", gen: 0 }, async () => {
    const x = snap.root.crossSigned;
    if (!x) throw new StateError(`${P.ROOT_STATE} records no cross-signed root, yet a chain names one; restore the pki directory from git and run inforge pki verify`);
    const path = P.crossCert(x.gen, x.by);
    const pem = await must(path);
    if (!x.fingerprint || fingerprint(pem, path) !== x.fingerprint) {
      throw new StateError(`${path} is not the cross certificate ${P.ROOT_STATE} records (fingerprint differs); restore it from git and run inforge pki verify`);
    }
    // A root overlap only: the key comparison's module is loaded then (read.ts keeps status light).
    if (!(await signedBy(pem, await root(x.by))) || !(await import("../x509/core.ts")).samePublicKey(pem, await root(x.gen))) {
      throw new StateError(`${path} is not root G${x.gen}'s key certified by root G${x.by}; restore it from git and run inforge pki verify`);
    }
    return pem;
  });

  return { root, intermediate, cross };
}

/** Signature only (lib/x509 verifySignedBy); a malformed certificate is simply not signed. */
export async function signedBy(child: string, issuer: string): Promise<boolean> {
  try {
    return await X.verifySignedBy(child, issuer);
  } catch {
    return false;
  }
}
