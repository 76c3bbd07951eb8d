import { CheckError, type Issue } from "../errors.ts";
import { bundleMembers, bundleNames, refKey } from "../model/bundles.ts";
import { derivedWrites } from "../plan/writes.ts";
import { GLOBAL } from "../model/names.ts";
import { defaultSpiffeId, flatNames, leafNames, withinDns } from "../model/naming.ts";
import { generationsOf, LIVE, type Leaf } from "../model/state.ts";
import { MESHES, SHARED_CONTROL_PLANE_NAMES, type Mesh } from "../model/mesh.ts";
import type { Plan, Step, StepTable } from "../plan/step.ts";
import { checkState } from "./check-state.ts";
import { ms } from "../model/instant.ts";

declare const checked: unique symbol;
/** A plan the checker has passed. Only this can be applied. */
export type CheckedPlan = Plan & { readonly [checked]: true };

const t = ms;

/**
 * Prove a plan keeps every invariant before anything is signed or written. Returns the issues
 * as data (each with the step number and the runbook line that asked for it).
 */
export function checkPlan(plan: Plan): Issue[] {
  const issues: Issue[] = checkState(plan.after).map((i) => ({ ...i, origin: plan.intents[0]?.origin }));
  const allowed = writableScopes(plan);
  const fresh = new Set<string>();
  const rules = stepRules(); // one table of closures for the plan, not one per step
  // One pass over the steps without a closure or a Set per step: a fleet's plan has 10,000.
  let n = 0;
  let step: Step;
  const add = (code: string, message: string) => issues.push({ code, message, step: n + 1, origin: step.origin });
  const judge = (w: string) => {
    if (OUTSIDE.test(w)) add("write.outside", `step writes "${w}", outside the pki directory`);
    const region = allowed && regionOf(w);
    if (region && !allowed.has(region)) add("write.foreign-region", `step writes "${w}", a file of region "${region}", which this plan does not target`);
  };
  for (; n < plan.steps.length; n++) {
    step = plan.steps[n]!;
    const derived = (derivedWrites[step.kind] as (x: typeof step) => string[])(step);
    // Each path once, declared ones first.
    const writes = step.writes;
    for (let i = 0; i < writes.length; i++) if (writes.indexOf(writes[i]!) === i) judge(writes[i]!);
    for (let i = 0; i < derived.length; i++) {
      const w = derived[i]!;
      if (writes.includes(w) || derived.indexOf(w) !== i) continue;
      add("write.undeclared", `step writes "${w}" but does not declare it`);
      judge(w);
    }
    // A signing step opens its issuer's key with that issuer's identity — unless the issuer
    // was created earlier in this plan and its key is still in memory.
    const expected = IDENTITY[step.kind];
    if (step.identity !== expected && !(step.identity === null && issuerFresh(step))) {
      add("step.identity", `a ${step.kind} step must use the ${expected ?? "no"} identity, not ${step.identity ?? "none"}`);
    }
    for (const [code, message] of rules[step.kind](step as never)) add(code, message);
    for (const r of creates(step)) fresh.add(r);
  }
  function issuerFresh(s: Step): boolean {
    const signers = signedBy(s);
    return signers.length > 0 && signers.every((r) => fresh.has(r));
  }
  // Every bundle whose members change gets written (a missing write would leave a revoked or
  // retired generation trusted, or a new one unpublished).
  const written = new Set(plan.steps.flatMap((s) => (s.kind === "write-bundle" ? [s.bundle] : [])));
  for (const name of new Set([...bundleNames(plan.before), ...bundleNames(plan.after)])) {
    const was = bundleMembers(plan.before, name).map(refKey).join(", ");
    const now = bundleMembers(plan.after, name).map(refKey).join(", ");
    if (was !== now && !written.has(name)) issues.push({ code: "bundle.definition", message: `bundle ${name} changes from [${was}] to [${now}] but the plan does not write it` });
  }
  // A new revocation is published: the plan re-signs the CRL, and the CRL lists every revocation.
  const crlSteps = plan.steps.filter((s) => s.kind === "sign-crl");
  const revokedKeys = plan.after.root.crl.revoked.map(refKey).sort().join(", ");
  if (plan.after.root.crl.revoked.length > plan.before.root.crl.revoked.length && !crlSteps.length) {
    issues.push({ code: "revoked.not-on-crl", message: `the plan revokes [${revokedKeys}] but does not re-sign the root CRL` });
  }
  for (const c of crlSteps) {
    const listed = c.revoked.map(refKey).sort().join(", ");
    if (listed !== revokedKeys) issues.push({ code: "revoked.not-on-crl", message: `the CRL would list [${listed}] but the revoked generations are [${revokedKeys}]` });
  }
  // A newly revoked leaf is published: the plan re-signs its scope's CRL (invariant 5).
  for (const [scope, idx] of Object.entries(plan.after.leaves)) {
    const was = new Set((plan.before.leaves[scope]?.revoked ?? []).map((r) => r.serial));
    const added = (idx.revoked ?? []).filter((r) => !was.has(r.serial));
    if (added.length && !plan.steps.some((s) => s.kind === "sign-scope-crl" && s.scope === scope)) {
      issues.push({ code: "revoked.not-on-crl", message: `the plan revokes leaf ${added.map((r) => `${scope}/${r.service}`).join(", ")} but does not re-sign ${scope}'s CRL` });
    }
  }
  return issues;

  function findGen(scope: string, gen: number, mesh?: Mesh) {
    return (scope === "root" ? plan.after.root.generations : generationsOf(plan.after.scopes[scope], mesh)).find((g) => g.gen === gen);
  }

  // One rule set per step kind (a new kind does not compile until it has one).
  function stepRules(): StepTable<Found> { return {
    "create-root-identity": () => [],
    "create-root": (s) => (t(s.notAfter) > t(s.notBefore) ? [] : [["validity.empty", `root G${s.gen} has an empty validity`]]),
    "cross-sign-root": (s) => {
      const by = findGen("root", s.by);
      return by && t(s.notAfter) <= t(by.notAfter) ? [] : [["validity.outlives-issuer", `the cross-signed root G${s.gen} outlives root G${s.by}`]];
    },
    "issue-intermediate": (s) => {
      const root = findGen("root", s.rootGen);
      const out: Found = [];
      if (!root || root.state !== "active") out.push(["intermediate.issuer-not-active", `${s.scope} G${s.gen} is signed by root G${s.rootGen}, which is not the active root`]);
      else if (t(s.notBefore) < t(root.notBefore) || t(s.notAfter) > t(root.notAfter)) out.push(["validity.outlives-issuer", `${s.scope} G${s.gen} outlives root G${root.gen}`]);
      if (s.mesh) return [...out, ...meshIssuerRules(s)];
      // Invariant 4: the constraints permit exactly the scope's own name space, in every name form.
      const own = plan.after.config ? `${s.scope}.${plan.after.config.domain}` : null;
      const uriOptOut = plan.after.config?.nameConstraints === "dns";
      if (s.permittedDns.length === 0 || (s.permittedUriHosts.length === 0 && !uriOptOut)) out.push(["intermediate.unconstrained", `${s.scope} G${s.gen} must constrain both DNS and URI names`]);
      else if (own && (s.permittedDns[0] !== own || s.permittedUriHosts.some((n) => n !== own))) {
        out.push(["intermediate.unconstrained", `${s.scope} G${s.gen} would permit [${[...new Set([...s.permittedDns, ...s.permittedUriHosts])].join(", ")}] but its own name space is "${own}"`]);
      } else if (own) {
        // Naming templates may widen the DNS fence (lib/model/naming.ts), never into a subtree
        // another scope may issue under, never to a whole TLD, and only as the state records.
        const g = findGen(s.scope, s.gen);
        if ((g?.permittedDns ?? [own]).join() !== s.permittedDns.join()) out.push(["intermediate.unconstrained", `${s.scope} G${s.gen} would permit [${s.permittedDns.join(", ")}] but the state records [${(g?.permittedDns ?? [own]).join(", ")}]`]);
        for (const n of s.permittedDns.slice(1)) {
          if (n.split(".").length < 2) out.push(["intermediate.unconstrained", `${s.scope} G${s.gen} would permit the whole of "${n}"`]);
          const other = otherFences(s.scope).find((f) => withinDns(n, f.name) || withinDns(f.name, n));
          if (other) out.push(["intermediate.fence-overlap", `${s.scope} G${s.gen} would permit "${n}", which overlaps "${other.name}" of ${other.scope}: both could issue the same names`]);
        }
      }
      return out;
    },
    "issue-leaf": (s) => {
      const issuer = findGen(s.scope, s.gen);
      const out: Found = [];
      if (!issuer || issuer.state !== "active") out.push(["leaf.issuer-not-active", `leaf ${s.scope}/${s.service} is signed by ${s.scope} G${s.gen}, which is ${issuer?.state ?? "missing"}; only the active generation issues`]);
      else if (t(s.notBefore) < t(issuer.notBefore) || t(s.notAfter) > t(issuer.notAfter)) out.push(["validity.outlives-issuer", `leaf ${s.scope}/${s.service} outlives ${s.scope} G${s.gen}`]);
      const names = leafNameRules(s, plan.after.leaves[s.scope]?.leaves[s.service as never]);
      return names.length ? [...out, ...names] : out;
    },
    "issue-csr-leaf": (s) => {
      const issuer = findGen(s.scope, s.gen);
      const out: Found = [];
      if (!issuer || issuer.state !== "active") out.push(["leaf.issuer-not-active", `leaf ${s.scope}/${s.service} (csr) is signed by ${s.scope} G${s.gen}, which is ${issuer?.state ?? "missing"}; only the active generation issues`]);
      else if (t(s.notBefore) < t(issuer.notBefore) || t(s.notAfter) > t(issuer.notAfter)) out.push(["validity.outlives-issuer", `leaf ${s.scope}/${s.service} (csr) outlives ${s.scope} G${s.gen}`]);
      // A requester's key gets exactly the service's own names, never what the CSR asked for.
      out.push(...leafNameRules(s, plan.after.leaves[s.scope]?.csr?.[s.service as never]));
      return out;
    },
    "set-state": () => [],
    "sign-crl": (s) => (t(s.nextUpdate) > t(s.thisUpdate) ? [] : [["crl.empty-window", "the CRL's nextUpdate is not after its thisUpdate"]]),
    // The record is signed by the root that is active once the plan is applied (after a rotation, the new one).
    "sign-custody": (s) => (findGen("root", s.rootGen)?.state === "active" ? [] : [["custody.signer-not-active", `the custody record would be signed by root G${s.rootGen}, which is not the active root`]]),
    "sign-scope-crl": (s) => {
      const out: Found = [];
      if (t(s.nextUpdate) <= t(s.thisUpdate)) out.push(["crl.empty-window", `the CRL of ${s.scope}'s nextUpdate is not after its thisUpdate`]);
      // Each CRL is signed by a generation that still vouches for leaves (active or retiring).
      for (const g of s.gens) {
        const gen = findGen(s.scope, g);
        if (!gen || (gen.state !== "active" && gen.state !== "retiring")) out.push(["crl.signer-not-live", `the CRL of ${s.scope} would be signed by ${s.scope} G${g}, which is ${gen?.state ?? "missing"}`]);
      }
      // It lists exactly the scope's recorded revocations, each under the generation that signed the leaf.
      const want = (plan.after.leaves[s.scope]?.revoked ?? []).map((r) => `${r.service}@${r.serial}`).sort().join(", ");
      const got = s.revoked.map((r) => `${r.service}@${r.serial}`).sort().join(", ");
      if (want !== got) out.push(["revoked.not-on-crl", `the CRL of ${s.scope} would list [${got}] but the revoked leaves are [${want}]`]);
      for (const r of s.revoked) if (!s.gens.includes(r.gen)) out.push(["revoked.not-on-crl", `leaf ${s.scope}/${r.service} (serial ${r.serial}) is signed by ${s.scope} G${r.gen}, which signs no CRL in this plan`]);
      return out;
    },
    "write-bundle": (s) => {
      const want = bundleMembers(plan.after, s.bundle).map(refKey).join(", ");
      const got = s.members.map(refKey).join(", ");
      return want === got ? [] : [["bundle.definition", `bundle ${s.bundle} would hold [${got}] but must hold [${want}]`]];
    },
    "write-state": () => [],
  }; }

  /** The DNS subtrees every other scope's live generations (intermediates and mesh issuers) permit. */
  function otherFences(scope: string): { scope: string; name: string }[] {
    const domain = plan.after.config?.domain ?? "";
    return Object.entries(plan.after.scopes).filter(([o]) => o !== scope).flatMap(([o, sf]) => {
      const gens = [...sf.generations, ...MESHES.flatMap((m) => generationsOf(sf, m))].filter((g) => LIVE.has(g.state));
      return [...new Set([`${o}.${domain}`, ...gens.flatMap((g) => g.permittedDns ?? [])])].filter((n) => !SHARED_CONTROL_PLANE_NAMES.includes(n)).map((name) => ({ scope: o, name }));
    });
  }

  /**
   * A mesh issuer (lib/model/mesh.ts): pathLen 0 and nesting as for an intermediate (lib/x509 and
   * the rule above); its DNS fence is what the state records, never overlapping another scope's
   * (istiod's fixed name aside); a URI constraint only on its own trust domain.
   */
  function meshIssuerRules(s: Extract<Step, { kind: "issue-intermediate" }>): Found {
    const domain = plan.after.config?.domain;
    if (!domain) return [];
    const what = `the ${s.scope} ${s.mesh} issuer G${s.gen}`;
    const out: Found = [];
    const td = `${s.scope}.${domain}`;
    const g = findGen(s.scope, s.gen, s.mesh);
    if (!s.permittedDns.length) out.push(["intermediate.unconstrained", `${what} must constrain DNS names`]);
    if ((g?.permittedDns ?? []).join() !== s.permittedDns.join()) out.push(["intermediate.unconstrained", `${what} would permit [${s.permittedDns.join(", ")}] but the state records [${(g?.permittedDns ?? []).join(", ")}]`]);
    for (const h of s.permittedUriHosts) if (h !== td) out.push(["intermediate.unconstrained", `${what} would permit URI host "${h}" but its trust domain is "${td}"`]);
    for (const n of s.permittedDns) {
      if (SHARED_CONTROL_PLANE_NAMES.includes(n)) continue;
      if (n.split(".").length < 2) out.push(["intermediate.unconstrained", `${what} would permit the whole of "${n}"`]);
      const other = otherFences(s.scope).find((f) => withinDns(n, f.name) || withinDns(f.name, n));
      if (other) out.push(["intermediate.fence-overlap", `${what} would permit "${n}", which overlaps "${other.name}" of ${other.scope}: both could issue the same names`]);
    }
    return out;
  }

  /**
   * Invariant 4 for one leaf: it carries its region-fenced name first, every DNS name inside what
   * its issuer permits, SPIFFE IDs only in its scope's trust domain, and exactly the names its
   * record says (which the next renewal compares with the templates).
   */
  function leafNameRules(s: { scope: string; service: string; gen: number; commonName: string; dns: readonly string[]; uris: readonly string[] }, rec: Leaf | undefined): Found {
    const domain = plan.after.config?.domain;
    if (!domain) return [];
    const what = () => `leaf ${s.scope}/${s.service}`; // for messages only: a fleet's leaves pass
    const own = `${s.service}.${s.scope}.${domain}`;
    const td = `${s.scope}.${domain}`;
    const out: Found = [];
    if (s.commonName !== own || s.dns[0] !== own) out.push(["leaf.foreign-name", `${what()} must carry ${own} as its common name and first DNS name`]);
    const fence = findGen(s.scope, s.gen)?.permittedDns ?? [td];
    for (const n of s.dns) if (!fence.some((c) => withinDns(n, c))) out.push(["leaf.outside-constraints", `${what()} would carry the DNS name "${n}", outside what ${s.scope} G${s.gen} permits (${fence.join(", ")})`]);
    const spiffe = `spiffe://${td}/`;
    for (const u of s.uris) if (!u.startsWith(spiffe)) out.push(["leaf.foreign-name", `${what()} would carry the SPIFFE ID "${u}", outside its trust domain ${td}`]);
    // A leaf whose record has no names carries today's (one DNS name, one SPIFFE ID): compared in place.
    const recorded = rec?.names;
    const has = (n: string, i: number) => n === (i < s.dns.length ? s.dns[i] : s.uris[i - s.dns.length]);
    const same = recorded
      ? recorded.length === s.dns.length + s.uris.length && recorded.every(has)
      : s.dns.length === 1 && s.uris.length === 1 && s.dns[0] === own && s.uris[0] === defaultSpiffeId(s.scope, s.service, domain);
    if (!same) {
      const want = recorded ?? flatNames(leafNames(s.scope, s.service, domain));
      out.push(["leaf.foreign-name", `${what()} would carry [${[...s.dns, ...s.uris].join(", ")}] but its record says [${want.join(", ")}]`]);
    }
    return out;
  }
}

type Found = [code: string, message: string][];

/** The certificates (as "scope/Gn") whose keys sign in this step. */
function signedBy(s: Step): string[] {
  switch (s.kind) {
    case "cross-sign-root": return [`root/G${s.by}`];
    case "issue-intermediate": return [`root/G${s.rootGen}`];
    case "issue-leaf": return [`${s.scope}/G${s.gen}`];
    case "issue-csr-leaf": return [`${s.scope}/G${s.gen}`];
    case "sign-crl": return s.rootGens.map((g) => `root/G${g}`);
    case "sign-custody": return [`root/G${s.rootGen}`];
    case "sign-scope-crl": return s.gens.map((g) => `${s.scope}/G${g}`);
    default: return [];
  }
}

/** The certificates a step creates (with their keys, in memory for later steps). */
function creates(s: Step): string[] {
  if (s.kind === "create-root") return [`root/G${s.gen}`];
  if (s.kind === "issue-intermediate") return [refKey({ scope: s.scope, gen: s.gen, ...(s.mesh ? { mesh: s.mesh } : {}) })];
  return [];
}

/** Check, and brand the plan as applicable; throws one CheckError listing every issue. */
export function assertChecked(plan: Plan): CheckedPlan {
  const issues = checkPlan(plan);
  if (issues.length) {
    const lines = issues.map((i) => `  - [${i.code}] ${i.message}${i.step ? ` (step ${i.step}` : ""}${i.origin ? `${i.step ? ", " : " ("}${i.origin})` : i.step ? ")" : ""}`);
    throw new CheckError(`the plan breaks ${issues.length} trust invariant(s); nothing was applied:\n${lines.join("\n")}`, issues);
  }
  return plan as CheckedPlan;
}

const IDENTITY: { readonly [K in Step["kind"]]: "root" | "ci" | null } = {
  "create-root-identity": null,
  "create-root": null,
  "cross-sign-root": "root",
  "issue-intermediate": "root",
  "issue-leaf": "ci",
  "issue-csr-leaf": "ci",
  "set-state": null,
  "sign-crl": "root",
  "sign-custody": "root",
  "sign-scope-crl": "ci",
  "write-bundle": null,
  "write-state": null,
};

/** An absolute path, or one with a ".." component. */
const OUTSIDE = /^\/|(?:^|\/)\.\.(?:\/|$)/;

/** The region a file belongs to, if it belongs to one (global and root files do not). */
function regionOf(path: string): string | null {
  const m = /^(?:scopes|leaves)\/([^/]+)\//.exec(path) ?? /^bundles\/([^/.]+)\.(?:pem|spiffe\.json|configmap\.yaml)$/.exec(path) ?? /^bundles\/trust-domains\/([^/.]+)\.[^/]+\.pem$/.exec(path) ?? /^crl\/([^/.]+)\.crl\.pem$/.exec(path);
  if (!m || m[1] === GLOBAL || m[1] === "root") return null;
  return m[1]!;
}

/** Regions whose files the plan may write; null when it may write any (root or fleet-wide intents). */
function writableScopes(plan: Plan): Set<string> | null {
  const out = new Set<string>();
  for (const i of plan.intents) {
    if (!("scope" in i) || i.scope === "all" || i.scope === GLOBAL) return null;
    out.add(i.scope);
  }
  return out;
}
