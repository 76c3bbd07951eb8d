import { InputError } from "../errors.ts";
import type { Intent, RootKeyIn } from "../dsl/intent.ts";
import { checkInitOptions, constraintMode, timing, DEFAULTS, URI_CONSTRAINT_CAVEAT, type PkiConfig } from "../model/config.ts";
import { formatDuration, parseDuration } from "../model/duration.ts";
import { consumerVoters, newRootDuringOverlap, DEFAULT_PROBE_MAX_AGE, promotionVerdict, type PromotionVerdict } from "../model/probes.ts";
import * as P from "../model/paths.ts";
import { generationsOf, type Generation, type Leaf } from "../model/state.ts";
import { MESHES } from "../model/mesh.ts";
import { flatNames, isDefaultNames, leafNames, scopeDnsConstraints, withinDns, type LeafNames } from "../model/naming.ts";
import {
  activeOf, activeRoot, configOf, iso, ms, nestedWindow, newGeneration, nextGen, preparedOf, promote, requireScope, requireTopology, retireDue, scopeFlag, signingIdentity, skewed, type Draft,
} from "./draft.ts";
import { advanceIssuers, issueMeshIssuer, issuerHandlers } from "./mesh-issuers.ts";
import { signCrl } from "./root-crl.ts";
import type { LeafReason, Step } from "./step.ts";
import type { CsrRequest } from "../dsl/intent.ts";
import { consumersOnFinish, consumersOnRotate } from "./consumers.ts";
import { signScopeCrl } from "./scope-crl.ts";
import { INTERMEDIATE_REVOCATION_REASON } from "../model/revocation.ts";
import { finishReadyText, rootOverlap } from "../model/root-overlap.ts";
import { unprovisioned, unprovisionedText } from "../model/unprovisioned.ts";

// One planning function per intent kind. Each reads and changes the draft and appends steps;
// none does I/O or crypto. Preconditions that make an intent impossible throw an InputError
// that names the runbook line and says what to run instead.

export type Handlers = { readonly [K in Intent["kind"]]: (d: Draft, i: Extract<Intent, { kind: K }>) => void };

/** Issue a new intermediate generation for a scope under the active root. */
function issueIntermediate(d: Draft, scope: string, state: "prepared" | "active", origin: string, rootGen?: Generation): Generation {
  const cfg = configOf(d, origin);
  const t = timing(cfg);
  const root = rootGen ?? activeRoot(d, origin);
  const s = (d.scopes[scope] ??= { scope: scope as never, generations: [] });
  const gen = nextGen(s.generations);
  const { nb, na } = nestedWindow(d, { from: skewed(d, t), life: t.intermediate }, root, `${scope} intermediate G${gen}`);
  const g = newGeneration(gen, state, nb, na, root.gen, d.now);
  if (state === "prepared") g.activateAfter = iso(d.now + t.propagation);
  const host = `${scope}.${cfg.domain}`;
  // Naming templates widen the DNS fence by their literal suffixes (lib/model/naming.ts); recorded
  // only then, so a tree without templates keeps byte-identical state and intermediates.
  const permittedDns = scopeDnsConstraints(scope, cfg.domain, d.topology.scopes[scope]?.naming);
  if (permittedDns.join() !== host) g.permittedDns = permittedDns;
  // A widened fence is shown to the root operator who signs it: region files are not root-signed.
  const prev = activeOf(s.generations);
  const added = prev ? permittedDns.filter((n) => !permitted(prev, host).includes(n)) : permittedDns.slice(1);
  if (added.length) d.notes.push(`${scope} G${gen} permits the DNS names the naming templates of regions/${scope}.json add (${added.map((n) => JSON.stringify(n)).join(", ")})${prev ? `, which G${prev.gen} does not` : ""}`);
  s.generations.push(g);
  d.fresh.add(`${scope}/G${gen}`);
  d.steps.push({
    kind: "issue-intermediate", origin, identity: signingIdentity(d, "root", root.gen), scope, gen, rootGen: root.gen, state,
    commonName: `${cfg.name} ${scope} intermediate G${gen}`, notBefore: g.notBefore, notAfter: g.notAfter,
    // RFC 5280 §4.2.1.10: a dNSName constraint permits the name and its subdomains; a URI
    // constraint matches the host. Every name form a leaf carries is constrained.
    permittedDns, permittedUriHosts: constraintMode(cfg) === "dns" ? [] : [host],
    ...(cfg.crl ? { crlUrl: P.crlUrl(cfg.crl.url, "root", root.gen) } : {}),
    writes: [P.intermediateCert(scope, gen), P.intermediateKey(scope, gen)],
  });
  return g;
}

/** What every leaf of a service carries, and the window it gets under the active issuer. */
function leafTerms(d: Draft, scope: string, service: string, origin: string, what: string) {
  const cfg = configOf(d, origin);
  const t = timing(cfg);
  const issuer = activeOf(d.scopes[scope]!.generations)!;
  if (ms(issuer.notAfter) <= d.now) {
    throw new InputError(`the ${scope} intermediate G${issuer.gen} expired on ${issuer.notAfter} (${origin}); replace it with inforge pki rotate --intermediate ${scope} (root posture: a new generation at once, no overlap, no revocation)`);
  }
  const { nb, na } = nestedWindow(d, { from: skewed(d, t), life: t.leaf }, issuer, what);
  const names = carriedNames(d, scope, service, cfg.domain, issuer);
  const record: Leaf = { gen: issuer.gen, serial: "", fingerprint: "", notBefore: iso(nb), notAfter: iso(na) };
  if (!isDefaultNames(names, scope, service, cfg.domain)) record.names = flatNames(names);
  return {
    issuer, record, names,
    name: names.commonName,
    index: (d.leaves[scope] ??= { scope: scope as never, leaves: {} }),
    // Certificates issued once pki.json names a CRL location point at their issuer's CRL there.
    cdp: cfg.crl ? { crlUrl: P.crlUrl(cfg.crl.url, scope, issuer.gen) } : {},
  };
}

/** The DNS subtrees a generation permits (lib/model/naming.ts): recorded, or `<scope>.<domain>`. */
const permitted = (g: Generation, host: string): readonly string[] => g.permittedDns ?? [host];

/**
 * The names a leaf of `service` gets under `issuer`: its naming templates, less any DNS name the
 * issuer does not permit — a template widened after the issuer was made. Such a leaf keeps working
 * under its region-fenced names, and the plan says which rotation brings the others.
 */
function carriedNames(d: Draft, scope: string, service: string, domain: string, issuer: Generation): LeafNames {
  const naming = d.topology.scopes[scope]?.naming;
  const want = leafNames(scope, service, domain, naming);
  const host = `${scope}.${domain}`;
  const fence = permitted(issuer, host);
  // Without templates a leaf's one DNS name is <service>.<host>, inside any fence that holds the
  // host: nothing to filter (a fleet's renewal asks this for every leaf).
  if (naming === undefined && fence.some((c) => withinDns(host, c))) return want;
  const outside = want.dns.filter((n) => !fence.some((c) => withinDns(n, c)));
  if (!outside.length) return want;
  d.notes.push(`the naming templates of regions/${scope}.json give ${service} DNS names that ${scope} G${issuer.gen} does not permit (${outside.map((n) => JSON.stringify(n)).join(", ")}): it is issued without them until a new intermediate permits them`);
  if (!preparedOf(d.scopes[scope]!.generations)) d.next.push(`root posture: inforge pki rotate --intermediate ${scope} (its new generation permits the DNS names the naming templates of regions/${scope}.json add; leaves carry them once it is active)`);
  return { ...want, dns: want.dns.filter((n) => !outside.includes(n)) };
}

function issueLeaf(d: Draft, scope: string, service: string, reason: LeafReason, origin: string) {
  const { issuer, record, names, name, index, cdp } = leafTerms(d, scope, service, origin, `leaf ${scope}/${service}`);
  index.leaves[service as never] = record;
  d.steps.push({
    kind: "issue-leaf", origin, identity: signingIdentity(d, scope, issuer.gen), scope, service, gen: issuer.gen, reason,
    commonName: name, notBefore: record.notBefore, notAfter: record.notAfter, dns: [...names.dns], uris: [...names.uris], ...cdp,
    writes: [P.leafCert(scope, service), keyFileOf(scope)],
  });
}

/**
 * One string per scope for its key file's path, which every issue-leaf step of the scope writes:
 * a plan of 100,000 leaves held 100,000 copies of twenty strings (about 60 bytes a leaf).
 */
function keyFileOf(scope: string): string {
  let path = keyFiles.get(scope);
  if (path === undefined) {
    if (keyFiles.size >= 1024) keyFiles.clear();
    keyFiles.set(scope, (path = P.leafKeys(scope)));
  }
  return path;
}
const keyFiles = new Map<string, string>();

/**
 * A leaf for a workload's own key, from a verified CSR. It carries exactly the names our own leaf
 * for the service would (CN and DNS `<svc>.<scope>.<domain>`, URI `spiffe://<scope>.<domain>/svc/<svc>`),
 * and the CSR may ask for those and nothing else: any other name — another region's, an IP — is
 * refused rather than dropped, so the requester learns what it will not get.
 */
function issueCsrLeaf(d: Draft, scope: string, service: string, csr: CsrRequest, origin: string) {
  const { issuer, record, names, name, index, cdp } = leafTerms(d, scope, service, origin, `leaf ${scope}/${service} (csr)`);
  const own = flatNames(names);
  const asked = [...csr.commonNames, ...csr.dns, ...csr.uris, ...csr.other];
  const bad = asked.find((n) => !own.includes(n));
  if (bad !== undefined) {
    throw new InputError(`the CSR asks for the name ${JSON.stringify(bad)}, which ${scope}/${service} may not carry (${origin}); a CSR for ${service} in ${scope} may ask only for ${own.join(" and ")} — make it with -subj "/CN=${name}"`);
  }
  (index.csr ??= {})[service as never] = record;
  d.steps.push({
    kind: "issue-csr-leaf", origin, identity: signingIdentity(d, scope, issuer.gen), scope, service, gen: issuer.gen,
    commonName: name, notBefore: record.notBefore, notAfter: record.notAfter, dns: [...names.dns], uris: [...names.uris], publicKey: csr.publicKey, key: csr.key, ...cdp,
    writes: [P.csrLeafCert(scope, service)],
  });
}

function requireService(services: readonly string[], scope: string, service: string, origin: string) {
  if (!services.includes(service)) {
    throw new InputError(`unknown service "${service}" in "${scope}" (${origin}; known: ${services.join(", ") || "none"}); add it to regions/${scope}.json`);
  }
}

/** Publish-before-use, CI side: promote a prepared generation whose delay has passed, retire
 *  a retiring one once every leaf it signed has expired. No key is opened for either. */
function advanceLifecycle(d: Draft, scope: string, origin: string): boolean {
  const s = d.scopes[scope]!;
  const t = timing(configOf(d, origin));
  let promoted = false;
  retireDue(d, scope, s.generations, origin, (g) => `its last leaf expired by ${g.retireAfter}`);
  const p = preparedOf(s.generations);
  const gate = p ? promotionGate(d, scope, p, origin) : null;
  if (p && (gate ? gate.ready : p.activateAfter && ms(p.activateAfter) <= d.now)) {
    promote(d, scope, s.generations, p, origin, {
      // Trusted until the last leaf it signed has expired (plus the clock skew).
      retireAfter: (a) => {
        const idx = d.leaves[scope];
        const own = [...Object.values(idx?.leaves ?? {}), ...Object.values(idx?.csr ?? {})].filter((l) => l.gen === a.gen);
        return Math.max(d.now, ...own.map((l) => ms(l.notAfter))) + t.clockSkew;
      },
      retiringWhy: (a) => `G${p.gen} takes over; stays trusted until ${a.retireAfter}`,
      activeWhy: (published) => gate ? `in the bundles since ${published}; every probed endpoint (${gate.endpoints}) accepted it at ${gate.at}` : `in the bundles since ${published}; propagation delay passed`,
    });
    promoted = true;
  } else if (p && gate) {
    d.notes.push(`${scope} G${p.gen} stays prepared: pki.json promotion is "probe", and the last probe does not show every endpoint of ${scope} (${gate.endpoints}) trusting it — ${gate.blockers.join("; ")}`);
    d.next.push(`in CI, once the services have loaded ${P.bundle(scope)}: inforge pki probe ${scopeFlag(scope)}, then inforge pki renew ${scopeFlag(scope)} (promotes ${scope} G${p.gen} when every endpoint accepts it)`);
  } else if (p?.activateAfter) {
    d.next.push(`in CI after ${p.activateAfter}: inforge pki renew ${scopeFlag(scope)} (promotes ${scope} G${p.gen} to active and re-issues the scope's leaves)`);
  }
  const r = s.generations.find((g) => g.state === "retiring");
  if (r?.retireAfter) d.next.push(`in CI after ${r.retireAfter}: inforge pki renew ${scopeFlag(scope)} (retires ${scope} G${r.gen}; it then leaves the bundles)`);
  return promoted;
}

/**
 * Under `promotion: "probe"`: what the last probe says about the prepared generation `p` (null
 * under the time rule, or when the scope lists no endpoint that asks for client certificates —
 * there is then nothing to wait for, and the time rule decides).
 */
function promotionGate(d: Draft, scope: string, p: Generation, origin: string): PromotionVerdict | null {
  const cfg = configOf(d, origin);
  if (cfg.promotion !== "probe") return null;
  const voters = newRootDuringOverlap(d.root, p) ? consumerVoters(cfg.consumers) : [];
  const v = promotionVerdict(d.evidence[scope], p, d.topology.scopes[scope]?.probes, d.now, parseDuration(cfg.probeMaxAge ?? DEFAULT_PROBE_MAX_AGE)!, voters);
  if (!v) d.notes.push(`pki.json promotion is "probe", but regions/${scope}.json lists no probe endpoint with clientAuth${newRootDuringOverlap(d.root, p) ? " and no root-anchoring consumer lists probes" : ""}: ${scope} G${p.gen} is promoted by the time rule (after ${p.activateAfter ?? "its propagation delay"})`);
  return v;
}

const mintNext = (scope: string) => `in CI: inforge pki renew ${scopeFlag(scope)} (mints the scope's leaves)`;

/**
 * An expired intermediate has nothing to overlap with: no chain through it verifies any more (and
 * every leaf it signed nests in its validity, so they expired with it). It leaves the bundles now,
 * retired rather than revoked — its key is not suspect — and a new generation is active at once.
 */
function replaceExpired(d: Draft, scope: string, a: Generation, origin: string) {
  a.state = "retired";
  a.since = iso(d.now);
  d.steps.push({ kind: "set-state", origin, identity: null, scope, gen: a.gen, from: "active", to: "retired", why: `expired on ${a.notAfter}; not revoked: its key is not suspect`, writes: [P.scopeState(scope)] });
  const g = issueIntermediate(d, scope, "active", origin);
  d.notes.push(`${scope} G${a.gen} expired ${formatDuration(d.now - ms(a.notAfter))} ago (${a.notAfter}): G${g.gen} replaces it now, with no overlap (nothing verifies through an expired intermediate) and no revocation (its key is not suspect)`);
  d.next.push(`in CI now: inforge pki renew ${scopeFlag(scope)} (mints every leaf of "${scope}" under G${g.gen})`);
}

/** When a leaf is due for renewal: `renewAt` (pki.json, 2/3 by default) of its life. */
export function leafDueAt(l: { readonly notBefore: string; readonly notAfter: string }, renewAt: number): number {
  const nb = ms(l.notBefore);
  return nb + (ms(l.notAfter) - nb) * renewAt;
}

/**
 * `only`: just these services (a deploy or a release), each of which must be declared. `absent`:
 * those of them whose leaf files the checkout lacks (pki.json leafFiles "shipped"), minted anew.
 */
function renewScope(d: Draft, scope: string, origin: string, only?: readonly string[], absent?: readonly string[]) {
  // The region file first: without it, `pki intermediate` would be refused too.
  const topo = requireTopology(d, scope, origin);
  requireScope(d, scope, origin);
  for (const svc of only ?? []) requireService(topo.services, scope, svc, origin);
  const t = timing(configOf(d, origin));
  const cfgDomain = configOf(d, origin).domain;
  advanceLifecycle(d, scope, origin);
  advanceIssuers(d, scope, origin);
  const s = d.scopes[scope]!;
  const active = activeOf(s.generations)!;
  const have = d.leaves[scope]?.leaves ?? {};
  for (const service of only ? topo.services.filter((x) => only.includes(x)) : topo.services) {
    const l = have[service];
    let reason: LeafReason | null = null;
    if (!l || absent?.includes(service)) reason = "missing";
    else if (l.gen !== active.gen) {
      reason = s.generations.find((g) => g.gen === l.gen)?.state === "revoked" ? "issuer revoked" : "new issuer";
    } else {
      if (d.now >= leafDueAt(l, t.renewAt)) reason = "due";
      // A naming template changed what the leaf carries: it is re-issued with the new names.
      else if ((l.names ?? flatNames(leafNames(scope, service, cfgDomain))).join() !== flatNames(carriedNames(d, scope, service, cfgDomain, active)).join()) reason = "names changed";
    }
    if (reason) issueLeaf(d, scope, service, reason, origin);
  }
  // An earlier intent of this plan (scope.add) asked for a CI renewal that this one performs.
  const minted = d.next.indexOf(mintNext(scope));
  if (minted >= 0) d.next.splice(minted, 1);
  const listed = new Set<string>(topo.services); // 500 services × 20 regions: includes() was quadratic
  for (const svc of only ? [] : Object.keys(have)) {
    if (!listed.has(svc)) {
      d.notes.push(`leaf ${scope}/${svc} is kept but no longer renewed: "${svc}" is not in regions/${scope}.json`);
    }
  }
  signScopeCrl(d, scope, origin);
}

/**
 * The create-root step for generation `gen`, its key made where `keyIn` says. A token key is
 * recorded in pki.json rootKeys (signed into custody.json by the same run); its public key is
 * known only once the token has made it, and apply fills it in.
 */
function createRoot(d: Draft, origin: string, gen: number, commonName: string, g: Generation, keyIn: RootKeyIn): Step {
  const base = { kind: "create-root" as const, origin, identity: null, gen, commonName, notBefore: g.notBefore, notAfter: g.notAfter };
  if (keyIn === "age") return { ...base, writes: [P.rootCert(gen), P.rootKey(gen)] };
  const cfg = configOf(d, origin);
  cfg.rootKeys = { ...cfg.rootKeys, [`G${gen}`]: { in: "pkcs11", token: keyIn.token, object: keyIn.object, publicKey: "" } };
  return { ...base, keyIn: { token: keyIn.token, object: keyIn.object }, writes: [P.rootCert(gen)] };
}

/** Where a rotation makes the new root key: as asked; a root on a token must be told (no silent move to a file). */
function rotateTarget(cfg: PkiConfig, oldGen: number, rootIn: RootKeyIn | undefined, origin: string): RootKeyIn {
  if (rootIn) return rootIn;
  const loc = cfg.rootKeys?.[`G${oldGen}`];
  if (loc) {
    throw new InputError(`the active root G${oldGen} lives on pkcs11 token "${loc.token}" (${origin}); say where the new root key goes: --root-in pkcs11:token=…;object=…?module-path=… for a token, or --root-in age for an age-sealed file`);
  }
  return "age";
}

/**
 * Sign pki.json's trust-critical fields into custody.json with the root that is active once the
 * plan is applied. Sealing then uses the recipients of this record (lib/apply).
 */
function signCustody(d: Draft, origin: string, why: string) {
  const r = activeRoot(d, origin);
  d.steps.push({ kind: "sign-custody", origin, identity: signingIdentity(d, "root", r.gen), rootGen: r.gen, why, writes: [P.CUSTODY] });
}

export const planIntent: Handlers = {
  ...issuerHandlers,
  "root.init": (d, i) => {
    if (d.config || d.root.generations.length) {
      throw new InputError(`the pki directory is already initialised (${i.origin}); to replace the root use inforge pki rotate --root`);
    }
    checkInitOptions(i); // before pki.json holds them: a secret key given as the recipient would sit there in plaintext
    d.config = {
      version: 1, name: i.name, domain: i.domain,
      recipients: { root: "", ci: i.ciRecipient },
      lifetimes: { ...DEFAULTS.lifetimes }, renewAt: Math.round(DEFAULTS.renewAt * 1000) / 1000,
      propagation: DEFAULTS.propagation, clockSkew: DEFAULTS.clockSkew, crlLifetime: DEFAULTS.crlLifetime,
      // Written explicitly, so that an absent field keeps meaning what it meant in older trees ("dns+uri").
      nameConstraints: i.nameConstraints ?? DEFAULTS.nameConstraints,
    };
    if (d.config.nameConstraints === "dns+uri") d.notes.push(URI_CONSTRAINT_CAVEAT);
    const t = timing(d.config);
    d.steps.push({ kind: "create-root-identity", origin: i.origin, identity: null, writes: [] });
    const nb = skewed(d, t);
    const g = newGeneration(1, "active", nb, nb + t.root, null, d.now);
    d.root.generations.push(g);
    d.fresh.add("root/G1");
    d.steps.push(createRoot(d, i.origin, 1, `${i.name} root G1`, g, i.rootIn ?? "age"));
    signCrl(d, i.origin);
    signCustody(d, i.origin, "pki.json as init writes it");
    d.next.push(`root posture: inforge pki intermediate global, then inforge pki intermediate <region> for each region`);
  },

  "scope.add": (d, i) => {
    activeRoot(d, i.origin);
    requireTopology(d, i.scope, i.origin);
    if (d.scopes[i.scope]?.generations.length) {
      throw new InputError(`scope "${i.scope}" already has an intermediate (${i.origin}); to replace it use inforge pki rotate --intermediate ${i.scope}`);
    }
    issueIntermediate(d, i.scope, "active", i.origin);
    d.next.push(mintNext(i.scope));
  },

  "intermediate.rotate": (d, i) => {
    const s = requireScope(d, i.scope, i.origin);
    const t = timing(configOf(d, i.origin));
    const p = preparedOf(s.generations);
    if (p && d.steps.some((x) => x.kind === "issue-intermediate" && x.scope === i.scope && x.gen === p.gen)) {
      throw new InputError(`this plan already rotates "${i.scope}" (G${p.gen} is prepared by an earlier intent; ${i.origin}); a scope's intermediate rotates once per plan — ask for it once`);
    }
    if (p) {
      throw new InputError(`a rotation of "${i.scope}" is already under way: G${p.gen} is prepared (${i.origin}); run inforge pki renew ${scopeFlag(i.scope)} in CI after ${p.activateAfter} to promote it`);
    }
    const a = activeOf(s.generations)!;
    if (ms(a.notAfter) <= d.now) return replaceExpired(d, i.scope, a, i.origin);
    // Publish trust before use: both generations must stay in the bundles for at least the
    // longest leaf life plus propagation plus clock skew, so the old one must outlive that.
    const need = t.propagation + t.leaf + t.clockSkew;
    const left = ms(a.notAfter) - d.now;
    if (left < need && !i.force) {
      throw new InputError(
        `rotating "${i.scope}" needs an overlap of ${formatDuration(need)} (leaf life + propagation + clock skew) but G${a.gen} expires in ${formatDuration(left)} (${i.origin}); recover instead with inforge pki recover-intermediate ${i.scope}, or pass --force to accept a shorter overlap`,
      );
    }
    if (left < need) d.notes.push(`forced: G${a.gen} expires in ${formatDuration(left)}, less than the ${formatDuration(need)} overlap; some consumers may see failures`);
    const g = issueIntermediate(d, i.scope, "prepared", i.origin);
    d.next.push(`in CI after ${g.activateAfter}: inforge pki renew ${scopeFlag(i.scope)} (promotes G${g.gen}, re-issues the scope's leaves)`);
  },

  "intermediate.recover": (d, i) => {
    const s = requireScope(d, i.scope, i.origin);
    const suspects = s.generations.filter((g) => g.state === "active" || g.state === "prepared");
    for (const g of suspects) {
      const from = g.state;
      g.state = "revoked";
      g.since = iso(d.now);
      delete g.activateAfter;
      d.root.crl.revoked.push({ scope: i.scope, gen: g.gen, serial: g.serial, date: iso(d.now), reason: INTERMEDIATE_REVOCATION_REASON });
      d.steps.push({ kind: "set-state", origin: i.origin, identity: null, scope: i.scope, gen: g.gen, from, to: "revoked", why: "believed compromised: leaves every bundle now, listed on the root CRL", writes: [P.scopeState(i.scope)] });
    }
    const g = issueIntermediate(d, i.scope, "active", i.origin);
    signCrl(d, i.origin);
    const hit = [...Object.entries(d.leaves[i.scope]?.leaves ?? {}), ...Object.entries(d.leaves[i.scope]?.csr ?? {}).map(([svc, l]) => [`${svc} (csr)`, l] as const)].filter(([, l]) => suspects.some((s) => s.gen === l.gen)).map(([svc]) => svc);
    d.notes.push(`blast radius: ${hit.length} leaf(s) of "${i.scope}" signed by the revoked generation stop verifying now: ${hit.join(", ") || "none"}`);
    d.next.push(`in CI now: inforge pki renew ${scopeFlag(i.scope)} (re-issues every leaf of "${i.scope}" under G${g.gen})`);
  },

  "leaves.renew": (d, i) => {
    configOf(d, i.origin);
    if (i.scope !== "all") renewScope(d, i.scope, i.origin, i.services, i.absent);
    else {
      const scopes = Object.keys(d.scopes).filter((s) => activeOf(d.scopes[s]!.generations) && d.topology.scopes[s]).sort();
      for (const s of scopes) renewScope(d, s, i.origin);
      // A declared region with no intermediate gets no leaves: say so rather than "nothing to do".
      for (const s of unprovisioned(d.topology, d.scopes)) d.notes.push(unprovisionedText(s));
    }
    // The last old intermediate retired (now or earlier): only the root posture can end the overlap.
    const overlap = rootOverlap(d.root, d.scopes);
    if (overlap && !overlap.blockers.length) d.next.push(finishReadyText(overlap.old));
  },

  "leaf.rotate": (d, i) => {
    const topo = requireTopology(d, i.scope, i.origin);
    requireScope(d, i.scope, i.origin);
    requireService(topo.services, i.scope, i.service, i.origin);
    advanceLifecycle(d, i.scope, i.origin);
    issueLeaf(d, i.scope, i.service, "forced", i.origin);
    signScopeCrl(d, i.scope, i.origin);
  },

  "leaf.revoke": (d, i) => {
    // The names first: a mistyped region or service is the likelier mistake than a missing intermediate.
    requireService(requireTopology(d, i.scope, i.origin).services, i.scope, i.service, i.origin);
    requireScope(d, i.scope, i.origin);
    const idx = d.leaves[i.scope];
    const old = idx?.leaves[i.service];
    if (!old || !old.serial) {
      throw new InputError(`"${i.service}" in "${i.scope}" has no leaf to revoke (${i.origin}); nothing was issued for it yet — inforge pki renew ${scopeFlag(i.scope)} mints it`);
    }
    advanceLifecycle(d, i.scope, i.origin);
    const issuer = d.scopes[i.scope]!.generations.find((g) => g.gen === old.gen);
    const live = issuer?.state === "active" || issuer?.state === "retiring";
    if (live) {
      (idx!.revoked ??= []).push({ service: i.service, gen: old.gen, serial: old.serial, notAfter: old.notAfter, date: iso(d.now), reason: i.reason });
    } else {
      d.notes.push(`leaf ${i.scope}/${i.service} was signed by ${i.scope} G${old.gen}, which is ${issuer?.state ?? "gone"}: no chain through it verifies any more, so it is only replaced, not listed on a CRL`);
    }
    issueLeaf(d, i.scope, i.service, "replaces revoked", i.origin);
    signScopeCrl(d, i.scope, i.origin, { force: live, why: `${i.service} revoked (${i.reason})` });
    // Who must act: the service loads its new key and certificate; every consumer that checks
    // revocation loads the new CRL. Until both happen, the old leaf is refused only by the latter.
    const deploy = `inforge deploy ${i.service} ${scopeFlag(i.scope)}`;
    d.next.push(`now: ${deploy} — ${i.service} must reload tls.crt and tls.key (its old key is revoked${live ? " and on the CRL" : ""})`);
    if (live) d.next.push(`now: publish ${P.scopeCrl(i.scope)} to every consumer that checks revocation${configOf(d, i.origin).crl ? ` (at ${P.crlUrl(configOf(d, i.origin).crl!.url, i.scope, old.gen)}, DER)` : ""}; until a consumer loads it, it still accepts the old leaf`);
  },

  "leaf.sign-csr": (d, i) => {
    requireService(requireTopology(d, i.scope, i.origin).services, i.scope, i.service, i.origin);
    requireScope(d, i.scope, i.origin);
    advanceLifecycle(d, i.scope, i.origin);
    issueCsrLeaf(d, i.scope, i.service, i.csr, i.origin);
    signScopeCrl(d, i.scope, i.origin);
  },

  "root.rotate": (d, i) => {
    const cfg = configOf(d, i.origin);
    const t = timing(cfg);
    const old = activeRoot(d, i.origin);
    for (const [scope, s] of Object.entries(d.scopes)) {
      const p = preparedOf(s.generations);
      if (p) throw new InputError(`scope "${scope}" is mid-rotation (G${p.gen} prepared) (${i.origin}); finish it with inforge pki renew ${scopeFlag(scope)} in CI after ${p.activateAfter}, then rotate the root`);
      for (const mesh of MESHES) {
        const q = preparedOf(generationsOf(s, mesh));
        if (q) throw new InputError(`the ${scope} ${mesh} issuer is mid-rotation (G${q.gen} prepared) (${i.origin}); finish it with inforge pki renew ${scopeFlag(scope)} in CI after ${q.activateAfter}, then rotate the root`);
      }
    }
    const gen = nextGen(d.root.generations);
    const nb = skewed(d, t);
    const nu = newGeneration(gen, "active", nb, nb + t.root, null, d.now);
    old.state = "retiring";
    old.since = iso(d.now);
    d.root.generations.push(nu);
    d.fresh.add(`root/G${gen}`);
    d.steps.push(createRoot(d, i.origin, gen, `${cfg.name} root G${gen}`, nu, rotateTarget(cfg, old.gen, i.rootIn, i.origin)));
    d.steps.push({ kind: "set-state", origin: i.origin, identity: null, scope: "root", gen: old.gen, from: "active", to: "retiring", why: `G${gen} signs from now on; G${old.gen} stays in root.pem until the overlap is finished`, writes: [P.ROOT_STATE] });
    // The cross-signed certificate (same subject and key as the new root, issued by the old)
    // lets a consumer that still anchors only on the old root verify chains under the new one.
    const xna = Math.min(ms(nu.notAfter), ms(old.notAfter));
    d.root.crossSigned = { gen, by: old.gen, fingerprint: "" };
    d.steps.push({ kind: "cross-sign-root", origin: i.origin, identity: "root", gen, by: old.gen, notBefore: nu.notBefore, notAfter: iso(xna), writes: [P.crossCert(gen, old.gen)] });
    for (const scope of Object.keys(d.scopes).sort()) {
      if (!activeOf(d.scopes[scope]!.generations)) continue;
      issueIntermediate(d, scope, "prepared", i.origin, nu);
      // Mesh issuers move under the new root the same way (publish before use).
      for (const mesh of MESHES) if (activeOf(generationsOf(d.scopes[scope], mesh))) issueMeshIssuer(d, scope, mesh, "prepared", i.origin, nu);
    }
    signCrl(d, i.origin);
    signCustody(d, i.origin, `signed again by the new active root G${gen}`);
    const consumers = consumersOnRotate(cfg, old.gen, gen);
    d.notes.push(...consumers.notes);
    d.next.push(...consumers.next);
    d.next.push(`in CI after ${iso(d.now + t.propagation)}: inforge pki renew (promotes every scope's new intermediate under root G${gen})`);
    d.next.push(`root posture, once every old intermediate has retired: inforge pki rotate --root --finish (G${old.gen} leaves root.pem)`);
  },

  "root.crl": (d, i) => {
    signCrl(d, i.origin);
    d.next.push("publish crl/root.crl.pem where verifiers fetch it");
  },

  "root.config": (d, i) => {
    // Fields set here are written to pki.json in the same commit as the record that signs them.
    if (i.set) d.config = { ...configOf(d, i.origin), ...i.set };
    const cfg = configOf(d, i.origin);
    if (cfg.recipients.ci === cfg.recipients.root) {
      throw new InputError(`pki.json recipients.ci is the root recipient (${i.origin}); the two identities must stay separate (the root identity never reaches CI) — give CI its own recipient from age-keygen`);
    }
    signCustody(d, i.origin, "accepts pki.json's current recipients, domain, lifetimes and other trust-critical fields");
    d.next.push("commit pki.json and custody.json together; CI checks every run against the record");
  },

  "root.finish": (d, i) => {
    activeRoot(d, i.origin);
    const overlap = rootOverlap(d.root, d.scopes);
    if (!overlap) throw new InputError(`no root overlap to finish (${i.origin}); start one with inforge pki rotate --root`);
    const old = d.root.generations.filter((g) => g.state === "retiring");
    const blockers = overlap.blockers.map((b) => `${b.scope} G${b.g.gen} (${b.g.state})`);
    if (blockers.length) {
      throw new InputError(`the root overlap cannot finish while intermediates of the old root are live: ${blockers.join(", ")} (${i.origin}); run inforge pki renew in CI until they retire, then finish`);
    }
    for (const g of old) {
      g.state = "retired";
      g.since = iso(d.now);
      d.steps.push({ kind: "set-state", origin: i.origin, identity: null, scope: "root", gen: g.gen, from: "retiring", to: "retired", why: "nothing live chains to it any more", writes: [P.ROOT_STATE] });
    }
    d.root.crossSigned = null;
    signCrl(d, i.origin);
    signCustody(d, i.origin, `signed again by root G${activeRoot(d, i.origin).gen} now that the overlap is finished`);
    d.next.push(`publish bundles/root.pem to every root-anchoring consumer; the old root is no longer trusted`);
    d.next.push(...consumersOnFinish(configOf(d, i.origin), old.map((g) => g.gen)));
  },
};
