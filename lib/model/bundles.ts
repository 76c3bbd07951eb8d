import { GLOBAL } from "./names.ts";
import * as P from "./paths.ts";
import { trustDomainBundle, trustDomainScope } from "./paths.ts";
import { generationsOf, LIVE, type Snapshot } from "./state.ts";
import type { Mesh } from "./mesh.ts";

/** A certificate of the tree: a root generation, or a scope's intermediate generation. */
export interface Ref {
  readonly scope: string; // "root" or a scope name
  readonly gen: number;
  /** A mesh issuer of the scope (never a bundle member: meshes anchor on the root). */
  readonly mesh?: Mesh;
}

export const refKey = (r: Ref) => `${r.scope}/${r.mesh ? `${r.mesh}/` : ""}G${r.gen}`;

/**
 * What each trust bundle must hold (DESIGN.md invariants 1–3):
 * - `root`: the live roots (two during a root overlap) — for root-anchoring consumers only;
 * - a region R: the live intermediates of R and of `global`, never another region's;
 * - `global`: the live intermediates of every scope, because a global service is called by,
 *   and calls, services of every region;
 * - `trust-domains/<scope>.<domain>`: the live intermediates of that scope only.
 * Live = prepared, active or retiring: trust is published before a generation issues, and kept
 * until no leaf it signed is still in use.
 */
export function bundleMembers(state: Snapshot, name: string): Ref[] {
  const live = (scope: string): Ref[] =>
    (state.scopes[scope]?.generations ?? []).filter((g) => LIVE.has(g.state)).map((g) => ({ scope, gen: g.gen }));
  // A trust domain's bundle (SPIFFE federation model): that scope's CAs and no other, so a
  // consumer that picks the bundle by a peer's trust domain refuses an ID minted by another
  // scope's key. Name constraints cannot carry this fence on every stack (docs/interop.md).
  const td = trustDomainScope(name);
  if (td !== null) return state.config && name === trustDomainBundle(td, state.config.domain) ? live(td) : [];
  if (name === "root") {
    return state.root.generations.filter((g) => LIVE.has(g.state)).map((g) => ({ scope: "root", gen: g.gen }));
  }
  if (name === GLOBAL) {
    const others = Object.keys(state.scopes).filter((s) => s !== GLOBAL).sort();
    return [...live(GLOBAL), ...others.flatMap(live)];
  }
  return [...live(name), ...(name in state.scopes ? live(GLOBAL) : [])];
}

/** Every bundle the state defines: root, once there is a root, one per scope, and one per trust domain (scope). */
export function bundleNames(state: Snapshot): string[] {
  const scopes = Object.keys(state.scopes).sort();
  const domains = state.config ? scopes.map((s) => trustDomainBundle(s, state.config!.domain)) : [];
  return [...(state.root.generations.length ? ["root"] : []), ...scopes, ...domains];
}

/**
 * The certificates a leaf signed by `scope` G`gen` is served with, after the leaf itself, in
 * the order a TLS stack sends them (DESIGN.md invariant 7):
 * - the intermediate that signed it;
 * - during a root overlap, when that intermediate was issued by the new root and the old root
 *   is still live, the new root cross-signed by the old (root/G<new>-by-G<old>.crt.pem), so a
 *   consumer still anchored only on the old root can build leaf → intermediate → cross → old root.
 * The self-signed new root is never served: a consumer that trusts it has it already, and in an
 *   untrusted list OpenSSL may pick it up instead of the cross certificate (it must come first;
 *   LIBRARY-NOTES). Once the overlap is finished (`crossSigned` cleared, old root retired) the
 *   cross certificate is gone from every chain. Paths under the pki directory. A mesh issuer
 *   (`mesh`) is served the same way: deploy --mesh's chain behind it.
 */
export function servedChain(state: Snapshot, scope: string, gen: number, mesh?: Mesh): string[] {
  const chain = [P.intermediateCert(scope, gen, mesh)];
  const issuer = generationsOf(state.scopes[scope], mesh).find((g) => g.gen === gen)?.issuer ?? null;
  const x = state.root.crossSigned;
  const by = x ? state.root.generations.find((g) => g.gen === x.by) : undefined;
  if (x && issuer === x.gen && by && LIVE.has(by.state)) chain.push(P.crossCert(x.gen, x.by));
  return chain;
}
