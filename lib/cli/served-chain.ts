import { servedChain } from "../model/bundles.ts";
import type { Snapshot } from "../model/state.ts";
import type { Vouch } from "../apply/vouch.ts";
import type { Mesh } from "../model/mesh.ts";

// What follows a leaf in every chain inforge hands out (deploy's tls.crt, sign-csr's output): the
// files lib/model/bundles.ts servedChain names, each proven by the vouching reader (recorded
// fingerprint and signature up to a live root) — a file swapped behind the tool's back is never served.

/**
 * The PEM text after the leaf: the issuing intermediate (or mesh issuer), then the cross-signed
 * root during a root overlap — as one text, and the issuer and what follows it apart.
 */
export async function servedChainPem(vouch: Vouch, snap: Snapshot, scope: string, gen: number, mesh?: Mesh): Promise<string> {
  const { issuer, rest } = await servedChainParts(vouch, snap, scope, gen, mesh);
  return issuer + rest;
}

export async function servedChainParts(vouch: Vouch, snap: Snapshot, scope: string, gen: number, mesh?: Mesh): Promise<{ issuer: string; rest: string }> {
  // servedChain's first path is the issuer's own certificate; any after it is the cross certificate.
  const behind = servedChain(snap, scope, gen, mesh).slice(1);
  const issuer = await vouch.intermediate({ scope, gen, ...(mesh ? { mesh } : {}) });
  const rest = await Promise.all(behind.map(() => vouch.cross()));
  return { issuer, rest: rest.join("") };
}
