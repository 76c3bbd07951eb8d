import { StateError } from "../errors.ts";
import * as X from "../x509/mod.ts";
import { servedChain } from "../model/bundles.ts";
import * as P from "../model/paths.ts";
import type { Snapshot } from "../model/state.ts";

// What follows a leaf in every chain inforge hands out (deploy's tls.crt, sign-csr's output):
// the files lib/model/bundles.ts servedChain names, read from the pki directory and held to the
// fingerprints the state records — a file swapped behind the tool's back is never served.

/** The PEM text after the leaf: the issuing intermediate, then the cross-signed root during a root overlap. */
export async function readServedChain(store: { read(rel: string): Promise<string | null> }, snap: Snapshot, scope: string, gen: number): Promise<string> {
  const recorded = new Map<string, string>();
  const g = snap.scopes[scope]?.generations.find((x) => x.gen === gen);
  if (g?.fingerprint) recorded.set(P.intermediateCert(scope, gen), g.fingerprint);
  const x = snap.root.crossSigned;
  if (x) recorded.set(P.crossCert(x.gen, x.by), x.fingerprint);
  const pems: string[] = [];
  for (const path of servedChain(snap, scope, gen)) {
    const pem = await store.read(path);
    if (pem === null) throw new StateError(`${path} is missing; restore it from git`);
    const want = recorded.get(path);
    if (want && X.parseCertificate(pem, path).fingerprint !== want) {
      throw new StateError(`${path} is not the certificate ${path.startsWith("root/") ? P.ROOT_STATE : P.scopeState(scope)} records (fingerprint differs); restore it from git and run inforge pki verify`);
    }
    pems.push(pem);
  }
  return pems.join("");
}
