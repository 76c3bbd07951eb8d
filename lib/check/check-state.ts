import type { Issue } from "../errors.ts";
import { ms } from "../model/instant.ts";
import { bundleMembers, bundleNames } from "../model/bundles.ts";
import { trustDomainScope } from "../model/paths.ts";
import { generationsOf, LIVE, type Generation, type Snapshot } from "../model/state.ts";
import { MESHES } from "../model/mesh.ts";

// The trust invariants of DESIGN.md over a state, as data. Pure; collects, never throws.
// Used on the state a plan leads to (before anything is applied) and by `pki verify`.

const t = ms;

function nests(child: { notBefore: string; notAfter: string }, issuer: Generation): boolean {
  return t(child.notBefore) >= t(issuer.notBefore) && t(child.notAfter) <= t(issuer.notAfter);
}

export function checkState(s: Snapshot): Issue[] {
  const issues: Issue[] = [];
  const add = (code: string, message: string) => issues.push({ code, message });
  const roots = s.root.generations;
  const activeRoots = roots.filter((g) => g.state === "active");
  if (roots.length && activeRoots.length !== 1) add("root.active-count", `exactly one root must be active, found ${activeRoots.length}`);
  if (!roots.length && Object.keys(s.scopes).length) add("root.missing", "scopes exist but there is no root");

  for (const [scope, sf] of Object.entries(s.scopes)) {
    if (sf.scope !== scope) add("scope.name-mismatch", `scope file of "${scope}" names "${sf.scope}"`);
    const active = sf.generations.filter((g) => g.state === "active");
    // Invariant 4: exactly one active intermediate per scope issues leaves.
    if (active.length !== 1) add("intermediate.active-count", `scope "${scope}" must have exactly one active intermediate, found ${active.length}`);
    if (sf.generations.filter((g) => g.state === "prepared").length > 1) add("intermediate.prepared-count", `scope "${scope}" has more than one prepared intermediate`);
    const gens = new Set<number>();
    for (const g of sf.generations) {
      if (gens.has(g.gen)) add("intermediate.duplicate-gen", `scope "${scope}" lists G${g.gen} twice`);
      gens.add(g.gen);
      const issuer = roots.find((r) => r.gen === g.issuer);
      if (!issuer) add("intermediate.issuer-missing", `${scope} G${g.gen} names root G${g.issuer}, which does not exist`);
      else {
        if (!nests(g, issuer)) add("validity.outlives-issuer", `${scope} G${g.gen} (${g.notBefore} – ${g.notAfter}) is not within root G${issuer.gen} (${issuer.notBefore} – ${issuer.notAfter})`);
        if (LIVE.has(g.state) && !LIVE.has(issuer.state)) add("intermediate.issuer-not-live", `${scope} G${g.gen} is ${g.state} but its root G${issuer.gen} is ${issuer.state}`);
      }
      // Invariant 5: a revoked generation is on the root CRL.
      if (g.state === "revoked" && !s.root.crl.revoked.some((r) => r.scope === scope && !r.mesh && r.gen === g.gen)) {
        add("revoked.not-on-crl", `${scope} G${g.gen} is revoked but not on the root CRL`);
      }
    }
  }

  // Mesh issuers (pki issuer): per mesh, at most one active and one prepared generation, each
  // nested in a root that exists, none live under a dead root, each with its recorded fence.
  for (const [scope, sf] of Object.entries(s.scopes)) {
    for (const mesh of MESHES) {
      const gens = generationsOf(sf, mesh);
      const what = `the ${scope} ${mesh} issuer`;
      if (gens.filter((g) => g.state === "active").length > 1) add("issuer.active-count", `${what} has more than one active generation`);
      if (gens.filter((g) => g.state === "prepared").length > 1) add("issuer.prepared-count", `${what} has more than one prepared generation`);
      if (new Set(gens.map((g) => g.gen)).size !== gens.length) add("issuer.duplicate-gen", `${what} lists a generation twice`);
      for (const g of gens) {
        // Invariant 5: a revoked generation is on the root CRL.
        if (g.state === "revoked" && !s.root.crl.revoked.some((r) => r.scope === scope && r.mesh === mesh && r.gen === g.gen)) {
          add("revoked.not-on-crl", `${what} G${g.gen} is revoked but not on the root CRL`);
        }
        if (!g.permittedDns?.length) add("issuer.unconstrained", `${what} G${g.gen} records no permitted names`);
        const issuer = roots.find((r) => r.gen === g.issuer);
        if (!issuer) add("intermediate.issuer-missing", `${what} G${g.gen} names root G${g.issuer}, which does not exist`);
        else {
          if (!nests(g, issuer)) add("validity.outlives-issuer", `${what} G${g.gen} (${g.notBefore} – ${g.notAfter}) is not within root G${issuer.gen} (${issuer.notBefore} – ${issuer.notAfter})`);
          if (LIVE.has(g.state) && !LIVE.has(issuer.state)) add("intermediate.issuer-not-live", `${what} G${g.gen} is ${g.state} but its root G${issuer.gen} is ${issuer.state}`);
        }
      }
    }
  }

  for (const [scope, idx] of Object.entries(s.leaves)) {
    const sf = s.scopes[scope];
    for (const [svc, l] of Object.entries(idx.leaves)) {
      const issuer = sf?.generations.find((g) => g.gen === l.gen);
      if (!issuer) {
        add("leaf.issuer-missing", `leaf ${scope}/${svc} names ${scope} G${l.gen}, which does not exist`);
        continue;
      }
      if (!nests(l, issuer)) add("validity.outlives-issuer", `leaf ${scope}/${svc} (${l.notBefore} – ${l.notAfter}) is not within ${scope} G${issuer.gen} (${issuer.notBefore} – ${issuer.notAfter})`);
      // A generation retires once its last leaf has expired (retireAfter), so a leaf that expired
      // before its issuer retired is dead, not broken — only one still valid then has lost its trust.
      if (issuer.state === "retired" && t(l.notAfter) > t(issuer.since)) add("leaf.issuer-retired", `leaf ${scope}/${svc} is signed by ${scope} G${l.gen}, which is retired and in no bundle`);
    }
    // Invariant 5: a revoked leaf is never the service's current leaf (its replacement is).
    for (const r of idx.revoked ?? []) {
      const cur = idx.leaves[r.service as never];
      if (cur && cur.serial && cur.serial.replace(/^0+/, "") === r.serial.replace(/^0+/, "")) {
        add("leaf.revoked-current", `leaf ${scope}/${r.service} (serial ${r.serial}) is revoked but is still the service's current leaf; run inforge pki revoke --leaf ${r.service} --region ${scope} again in CI to replace it`);
      }
    }
    // Leaves of workloads that keep their own key (sign-csr) are never re-issued by renew, so an
    // expired one may name a retired issuer; they must still nest in it.
    for (const [svc, l] of Object.entries(idx.csr ?? {})) {
      const issuer = sf?.generations.find((g) => g.gen === l.gen);
      if (!issuer) add("leaf.issuer-missing", `leaf ${scope}/${svc} (csr) names ${scope} G${l.gen}, which does not exist`);
      else if (!nests(l, issuer)) add("validity.outlives-issuer", `leaf ${scope}/${svc} (csr) (${l.notBefore} – ${l.notAfter}) is not within ${scope} G${issuer.gen} (${issuer.notBefore} – ${issuer.notAfter})`);
    }
  }

  // Invariants 1–3 over the bundle definitions: no revoked or retired generation is trusted,
  // a region bundle holds only its own and global's intermediates, the root is in no mesh bundle.
  for (const name of bundleNames(s)) {
    for (const r of bundleMembers(s, name)) {
      const g = (r.scope === "root" ? roots : s.scopes[r.scope]?.generations ?? []).find((x) => x.gen === r.gen);
      if (!g || !LIVE.has(g.state)) add("bundle.dead-member", `bundle ${name} would carry ${r.scope} G${r.gen}, which is not live`);
      if (name !== "root" && r.scope === "root") add("bundle.root-in-mesh", `bundle ${name} would carry a root`);
      const td = trustDomainScope(name);
      if (td !== null) {
        // The SPIFFE-ID fence: a trust domain's bundle trusts that scope's keys only (not even global's).
        if (r.scope !== td) add("bundle.foreign-trust-domain", `bundle ${name} would carry ${r.scope} G${r.gen}; a trust domain's bundle holds only ${td}'s intermediates`);
      } else if (name !== "root" && name !== "global" && r.scope !== name && r.scope !== "global") {
        add("bundle.foreign-region", `bundle ${name} would carry ${r.scope} G${r.gen}, another region's intermediate`);
      }
    }
  }
  return issues;
}

/** Conditions that are legal but need action: reported by verify and status, not fatal. */
export function pendingWork(s: Snapshot, now: number): Issue[] {
  const out: Issue[] = [];
  for (const [scope, idx] of Object.entries(s.leaves)) {
    const sf = s.scopes[scope];
    for (const [svc, l] of Object.entries(idx.leaves)) {
      const issuer = sf?.generations.find((g) => g.gen === l.gen);
      if (issuer?.state === "revoked") out.push({ code: "leaf.issuer-revoked", message: `leaf ${scope}/${svc} is signed by revoked ${scope} G${l.gen}; run inforge pki renew --region ${scope} in CI` });
      if (t(l.notAfter) <= now) out.push({ code: "leaf.expired", message: `leaf ${scope}/${svc} expired on ${l.notAfter}; run inforge pki renew --region ${scope} in CI` });
    }
  }
  return out;
}
