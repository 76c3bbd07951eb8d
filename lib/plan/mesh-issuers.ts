// Mesh issuers (issue 14): a scope's CA for Istio, Linkerd or cert-manager — issued, rotated with
// an overlap and recovered like an intermediate, advanced by CI's renew. Pure like the rest of
// the planner: the draft in, steps out.
import { InputError } from "../errors.ts";
import { constraintMode, timing } from "../model/config.ts";
import { formatDuration } from "../model/duration.ts";
import * as P from "../model/paths.ts";
import { generationsOf, LIVE, type Generation } from "../model/state.ts";
import { meshIssuerProfile, MESHES, trustDomain, type Mesh } from "../model/mesh.ts";
import { refKey } from "../model/bundles.ts";
import { INTERMEDIATE_REVOCATION_REASON } from "../model/revocation.ts";
import {
  activeOf, activeRoot, configOf, iso, ms, nestedWindow, newGeneration, nextGen, preparedOf, promote, requireScope, retireDue, requireTopology, scopeFlag, signingIdentity, skewed, type Draft,
} from "./draft.ts";
import { signCrl } from "./root-crl.ts";
import type { Handlers } from "./intents.ts";

/**
 * Issue a new generation of a scope's mesh issuer under the active root (or `rootGen`): a CA like
 * the scope's intermediate (pathLen 0, key sealed to CI, nested in its root, same lifetime), fenced
 * to the mesh's naming (lib/model/mesh.ts). Its constraints are always recorded in the state.
 */
export function issueMeshIssuer(d: Draft, scope: string, mesh: Mesh, state: "prepared" | "active", origin: string, rootGen?: Generation): Generation {
  const cfg = configOf(d, origin);
  const t = timing(cfg);
  const root = rootGen ?? activeRoot(d, origin);
  const sf = d.scopes[scope]!;
  const gens = ((sf.issuers ??= {})[mesh] ??= []);
  const gen = nextGen(gens);
  const what = `${scope} ${mesh} issuer G${gen}`;
  const { nb, na } = nestedWindow(d, { from: skewed(d, t), life: t.intermediate }, root, what);
  const g = newGeneration(gen, state, nb, na, root.gen, d.now);
  if (state === "prepared") g.activateAfter = iso(d.now + t.propagation);
  const p = meshIssuerProfile(mesh, scope, cfg.domain, { naming: d.topology.scopes[scope]?.naming, uriConstraints: constraintMode(cfg) === "dns+uri", name: cfg.name, gen });
  g.permittedDns = p.permittedDns;
  gens.push(g);
  d.fresh.add(refKey({ scope, gen, mesh }));
  d.steps.push({
    kind: "issue-intermediate", origin, identity: signingIdentity(d, "root", root.gen), scope, mesh, gen, rootGen: root.gen, state,
    commonName: p.commonName, notBefore: g.notBefore, notAfter: g.notAfter, permittedDns: p.permittedDns, permittedUriHosts: p.permittedUriHosts,
    ...(cfg.crl ? { crlUrl: P.crlUrl(cfg.crl.url, "root", root.gen) } : {}),
    writes: [P.intermediateCert(scope, gen, mesh), P.intermediateKey(scope, gen, mesh)],
  });
  return g;
}

export const exportNext = (scope: string, mesh: Mesh) => `in CI: inforge deploy --mesh ${mesh} --region ${scope} --out DIR (writes the issuer, its key — plaintext, outside the repo — and the trust anchors in ${mesh}'s format; docs/meshes.md)`;

/**
 * Publish-before-use for mesh issuers, CI side: a prepared generation whose delay has passed
 * becomes active (and is what deploy --mesh exports from then on), the one it replaces retiring;
 * a retiring one retires once the workload certificates the mesh signed under it can have
 * expired. inforge does not see those: they must live at most lifetimes.leaf (docs/meshes.md).
 */
export function advanceIssuers(d: Draft, scope: string, origin: string) {
  const t = timing(configOf(d, origin));
  const sf = d.scopes[scope]!;
  for (const mesh of MESHES) {
    const gens = sf.issuers?.[mesh];
    if (!gens) continue;
    retireDue(d, scope, gens, origin, (g) => `the workload certificates it signed expired by ${g.retireAfter}`, mesh);
    const p = preparedOf(gens);
    if (p?.activateAfter && ms(p.activateAfter) <= d.now) {
      promote(d, scope, gens, p, origin, {
        mesh,
        // The mesh's workload certificates live at most lifetimes.leaf: inforge does not see them.
        retireAfter: () => d.now + t.leaf + t.clockSkew,
        retiringWhy: (a) => `G${p.gen} takes over; workload certificates it signed stay valid until ${a.retireAfter}`,
        activeWhy: (published) => `prepared since ${published}; propagation delay passed`,
      });
      d.next.push(`now: ${exportNext(scope, mesh).replace(/^in CI: /, "")} — ${mesh} in ${scope} signs with G${p.gen} once the control plane reloads it`);
    } else if (p?.activateAfter) {
      d.next.push(`in CI after ${p.activateAfter}: inforge pki renew ${scopeFlag(scope)} (promotes the ${scope} ${mesh} issuer G${p.gen} to active)`);
    }
    const r = gens.find((g) => g.state === "retiring");
    if (r?.retireAfter) d.next.push(`in CI after ${r.retireAfter}: inforge pki renew ${scopeFlag(scope)} (retires the ${scope} ${mesh} issuer G${r.gen})`);
  }
}

/** The planning functions of the issuer.* intents (merged into planIntent). */
export const issuerHandlers: Pick<Handlers, "issuer.add" | "issuer.rotate" | "issuer.recover"> = {
  "issuer.add": (d, i) => {
    activeRoot(d, i.origin);
    requireTopology(d, i.scope, i.origin);
    requireScope(d, i.scope, i.origin);
    const live = generationsOf(d.scopes[i.scope], i.mesh).find((g) => LIVE.has(g.state));
    if (live) {
      throw new InputError(`scope "${i.scope}" already has a ${i.mesh} issuer (G${live.gen}, ${live.state}) (${i.origin}); to replace it use inforge pki issuer ${i.scope} --mesh ${i.mesh} --rotate`);
    }
    const g = issueMeshIssuer(d, i.scope, i.mesh, "active", i.origin);
    d.notes.push(`${i.scope} ${i.mesh} issuer G${g.gen} permits ${g.permittedDns!.map((n) => JSON.stringify(n)).join(", ")}${i.mesh === "istio" ? ` and SPIFFE IDs in the trust domain ${trustDomain(i.scope, configOf(d, i.origin).domain)} (set meshConfig.trustDomain to it)` : ""}`);
    d.next.push(exportNext(i.scope, i.mesh));
  },

  "issuer.rotate": (d, i) => {
    requireScope(d, i.scope, i.origin);
    const t = timing(configOf(d, i.origin));
    const gens = generationsOf(d.scopes[i.scope], i.mesh);
    const a = activeOf(gens);
    if (!a) throw new InputError(`scope "${i.scope}" has no active ${i.mesh} issuer to rotate (${i.origin}); issue one with inforge pki issuer ${i.scope} --mesh ${i.mesh}`);
    const p = preparedOf(gens);
    if (p) throw new InputError(`a rotation of the ${i.scope} ${i.mesh} issuer is already under way: G${p.gen} is prepared (${i.origin}); run inforge pki renew ${scopeFlag(i.scope)} in CI after ${p.activateAfter} to promote it`);
    if (ms(a.notAfter) <= d.now) {
      a.state = "retired";
      a.since = iso(d.now);
      d.steps.push({ kind: "set-state", origin: i.origin, identity: null, scope: i.scope, mesh: i.mesh, gen: a.gen, from: "active", to: "retired", why: `expired on ${a.notAfter}; not revoked: its key is not suspect`, writes: [P.scopeState(i.scope)] });
      const g = issueMeshIssuer(d, i.scope, i.mesh, "active", i.origin);
      d.next.push(exportNext(i.scope, i.mesh).replace("in CI:", `in CI now (G${g.gen} replaces the expired G${a.gen}):`));
      return;
    }
    // The same overlap as an intermediate's: the mesh's workload certificates (at most the tree's
    // leaf life) signed by the old issuer must expire while it is still valid.
    const need = t.propagation + t.leaf + t.clockSkew;
    const left = ms(a.notAfter) - d.now;
    if (left < need && !i.force) {
      throw new InputError(`rotating the ${i.scope} ${i.mesh} issuer needs an overlap of ${formatDuration(need)} (leaf life + propagation + clock skew) but G${a.gen} expires in ${formatDuration(left)} (${i.origin}); pass --force to accept a shorter overlap`);
    }
    if (left < need) d.notes.push(`forced: the ${i.scope} ${i.mesh} issuer G${a.gen} expires in ${formatDuration(left)}, less than the ${formatDuration(need)} overlap`);
    const g = issueMeshIssuer(d, i.scope, i.mesh, "prepared", i.origin);
    d.next.push(`in CI after ${g.activateAfter}: inforge pki renew ${scopeFlag(i.scope)} (promotes the ${i.scope} ${i.mesh} issuer G${g.gen}), then ${exportNext(i.scope, i.mesh).replace("in CI: ", "")}`);
  },

  // A mesh issuer's key believed leaked: revoked on the root CRL and replaced now, no overlap.
  // Meshes anchor on the root, so no bundle changes; the workload certificates it signed stay
  // valid for any consumer that does not check the root CRL until they expire (at most the
  // mesh's own workload lifetime): the control plane must take the new issuer at once.
  "issuer.recover": (d, i) => {
    requireScope(d, i.scope, i.origin);
    activeRoot(d, i.origin);
    const suspects = generationsOf(d.scopes[i.scope], i.mesh).filter((g) => g.state === "active" || g.state === "prepared");
    if (!suspects.length) throw new InputError(`scope "${i.scope}" has no active or prepared ${i.mesh} issuer to recover (${i.origin}); issue one with inforge pki issuer ${i.scope} --mesh ${i.mesh}`);
    for (const g of suspects) {
      const from = g.state;
      g.state = "revoked";
      g.since = iso(d.now);
      delete g.activateAfter;
      d.root.crl.revoked.push({ scope: i.scope, mesh: i.mesh, gen: g.gen, serial: g.serial, date: iso(d.now), reason: INTERMEDIATE_REVOCATION_REASON });
      d.steps.push({ kind: "set-state", origin: i.origin, identity: null, scope: i.scope, mesh: i.mesh, gen: g.gen, from, to: "revoked", why: "believed compromised: listed on the root CRL, never exported again", writes: [P.scopeState(i.scope)] });
    }
    const g = issueMeshIssuer(d, i.scope, i.mesh, "active", i.origin);
    signCrl(d, i.origin);
    d.notes.push(`blast radius: workload certificates signed by ${suspects.map((s) => `${i.scope} ${i.mesh} G${s.gen}`).join(" and ")} stay valid, for peers that do not check the root CRL, until they expire; restart the ${i.mesh} control plane on G${g.gen} and roll its workloads`);
    d.next.push(exportNext(i.scope, i.mesh).replace("in CI:", `in CI now (G${g.gen} replaces the revoked issuer):`));
  },

};
