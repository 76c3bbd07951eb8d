import * as P from "../model/paths.ts";
import { servedChain } from "../model/bundles.ts";
import type { Snapshot } from "../model/state.ts";
import type { Vouch } from "../apply/vouch.ts";

// What follows a leaf in every chain inforge hands out (deploy's tls.crt, sign-csr's output): the
// files lib/model/bundles.ts servedChain names, each proven by the vouching reader (recorded
// fingerprint and signature up to a live root) — a file swapped behind the tool's back is never served.

/** The PEM text after the leaf: the issuing intermediate, then the cross-signed root during a root overlap. */
export async function servedChainPem(vouch: Vouch, snap: Snapshot, scope: string, gen: number): Promise<string> {
  const pems = await Promise.all(servedChain(snap, scope, gen).map((path) =>
    path === P.intermediateCert(scope, gen) ? vouch.intermediate({ scope, gen }) : vouch.cross()));
  return pems.join("");
}
