import { InputError } from "../errors.ts";
import { copyData } from "../model/copy.ts";
import { ms } from "../model/instant.ts";
import { GLOBAL } from "../model/names.ts";
import type { Timing } from "../model/config.ts";
import type { Generation, LeafIndex, RootFile, ScopeFile, Snapshot, Topology } from "../model/state.ts";
import type { PkiConfig } from "../model/config.ts";
import type { Step } from "./step.ts";
import type { ProbeEvidence } from "../model/probes.ts";
import type { Mesh } from "../model/mesh.ts";
import * as P from "../model/paths.ts";

export { ms };

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The planner's working copy of the state, plus the steps and notes gathered so far. */
export interface Draft {
  readonly now: number;
  readonly topology: Topology;
  /** The last probe record of each scope that passed lib/store/probe-records.ts (promotion: "probe"). */
  readonly evidence: ProbeEvidence;
  config: PkiConfig | null;
  root: RootFile;
  scopes: Record<string, ScopeFile>;
  leaves: Record<string, LeafIndex>;
  readonly steps: Step[];
  readonly notes: string[];
  readonly next: string[];
  /** Certificates created by this plan ("root/G2", "eu/G3"): their keys are in memory, so
   *  signing with them needs no identity. */
  readonly fresh: Set<string>;
}

export function newDraft(s: Snapshot, topology: Topology, now: number, evidence: ProbeEvidence = {}): Draft {
  const c = copyData(s) as Mutable<Snapshot>;
  return {
    now,
    topology,
    evidence,
    config: c.config,
    root: c.root,
    scopes: c.scopes as Record<string, ScopeFile>,
    leaves: c.leaves as Record<string, LeafIndex>,
    steps: [],
    notes: [],
    next: [],
    fresh: new Set(),
  };
}

export function snapshotOf(d: Draft): Snapshot {
  return { config: d.config, root: d.root, scopes: d.scopes, leaves: d.leaves };
}

/**
 * Timestamps are whole seconds: X.509 UTCTime carries no fraction. The last few are remembered:
 * a fleet's leaves share a handful of dates, and one string each instead of one per leaf saves
 * about 80 bytes of heap per leaf (a plan's step and record hold the same two strings).
 */
export function iso(ms: number): string {
  const s = Math.floor(ms / 1000);
  const hit = isoSeen.get(s);
  if (hit !== undefined) return hit;
  const text = new Date(s * 1000).toISOString().replace(".000Z", "Z");
  if (isoSeen.size >= 64) isoSeen.delete(isoSeen.keys().next().value!);
  isoSeen.set(s, text);
  return text;
}
const isoSeen = new Map<number, string>();

export function configOf(d: Draft, origin: string): PkiConfig {
  if (!d.config) throw new InputError(`the pki directory is not initialised (${origin}); run inforge pki init first (root posture)`);
  return d.config;
}

export const activeOf = (gens: readonly Generation[]) => gens.find((g) => g.state === "active");
export const preparedOf = (gens: readonly Generation[]) => gens.find((g) => g.state === "prepared");
export const nextGen = (gens: readonly Generation[]) => gens.reduce((n, g) => Math.max(n, g.gen), 0) + 1;

export function activeRoot(d: Draft, origin: string): Generation {
  configOf(d, origin);
  const r = activeOf(d.root.generations);
  if (!r) throw new InputError(`there is no active root (${origin}); run inforge pki init (root posture)`);
  if (ms(r.notAfter) <= d.now) {
    // Not "rotate it": rotate --root needs a live root to cross-sign its successor, so it refuses too.
    throw new InputError(`the root G${r.gen} expired on ${r.notAfter} (${origin}), and nothing chains to an expired root; start a new tree with inforge pki init in a new directory and move consumers to its bundles (rotate a root before it expires: inforge pki status warns a year ahead)`);
  }
  return r;
}

/** A generation record for a certificate the plan will create (serial filled in when applied). */
export function newGeneration(gen: number, state: Generation["state"], notBefore: number, notAfter: number, issuer: number | null, now: number): Generation {
  return { gen, state, serial: "", fingerprint: "", notBefore: iso(notBefore), notAfter: iso(notAfter), issuer, since: iso(now) };
}

/**
 * A child's validity within its issuer's (RFC 5280 §6.1.3 checks each certificate's own dates;
 * a child that outlives its issuer stops verifying when the issuer expires, so we never mint one).
 * Returns the window and a note when it had to be shortened.
 */
export function nestedWindow(d: Draft, want: { from: number; life: number }, issuer: Generation, what: string): { nb: number; na: number } {
  const nb = Math.max(want.from, ms(issuer.notBefore));
  let na = want.from + want.life;
  if (na > ms(issuer.notAfter)) {
    na = ms(issuer.notAfter);
    d.notes.push(`${what} is cut short to ${iso(na)}, when its issuer expires; rotate the issuer soon`);
  }
  return { nb, na };
}

/** The identity a signing step needs: none when the issuer was created in this same plan. */
export function signingIdentity(d: Draft, scope: string, gen: number): "root" | "ci" | null {
  if (d.fresh.has(`${scope}/G${gen}`)) return null;
  return scope === "root" ? "root" : "ci";
}

export function skewed(d: Draft, t: Timing): number {
  // Backdate notBefore by the allowed clock skew so a consumer whose clock runs a little
  // behind does not reject a certificate minted a moment ago.
  return d.now - t.clockSkew;
}

/** The --region flag that names a scope in a "next" line. */
export const scopeFlag = (scope: string) => (scope === GLOBAL ? "--region global" : `--region ${scope}`);

export function requireScope(d: Draft, scope: string, origin: string) {
  const s = d.scopes[scope];
  if (!s || !activeOf(s.generations)) {
    throw new InputError(`scope "${scope}" has no active intermediate yet (${origin}); run inforge pki intermediate ${scope} first (root posture)`);
  }
  return s;
}

export function requireTopology(d: Draft, scope: string, origin: string) {
  const t = d.topology.scopes[scope];
  if (!t) {
    const known = Object.keys(d.topology.scopes).sort().join(", ") || "none";
    throw new InputError(`unknown ${scope === GLOBAL ? "scope" : "region"} "${scope}" (${origin}; known: ${known}): its region file is missing; add regions/${scope}.json`);
  }
  return t;
}

/**
 * The lifecycle steps every issuing generation takes — a scope's intermediates and its mesh
 * issuers alike (DESIGN "lifecycle states"): retiring → retired once its `retireAfter` passed.
 */
export function retireDue(d: Draft, scope: string, gens: Generation[], origin: string, why: (g: Generation) => string, mesh?: Mesh): void {
  for (const g of gens) {
    if (g.state !== "retiring" || !g.retireAfter || ms(g.retireAfter) > d.now) continue;
    g.state = "retired";
    g.since = iso(d.now);
    d.steps.push({ kind: "set-state", origin, identity: null, scope, ...(mesh ? { mesh } : {}), gen: g.gen, from: "retiring", to: "retired", why: why(g), writes: [P.scopeState(scope)] });
  }
}

/**
 * Prepared → active for `p`, the active one it replaces → retiring until `retireAfter(a)` (capped
 * at its own expiry). The caller decides when `p` may take over (the timer, or probe evidence).
 */
export function promote(
  d: Draft, scope: string, gens: Generation[], p: Generation, origin: string,
  o: { readonly retireAfter: (a: Generation) => number; readonly retiringWhy: (a: Generation) => string; readonly activeWhy: (published: string) => string; readonly mesh?: Mesh },
): void {
  const m = o.mesh ? { mesh: o.mesh } : {};
  const a = activeOf(gens);
  if (a) {
    a.state = "retiring";
    a.since = iso(d.now);
    a.retireAfter = iso(Math.min(o.retireAfter(a), ms(a.notAfter)));
    d.steps.push({ kind: "set-state", origin, identity: null, scope, ...m, gen: a.gen, from: "active", to: "retiring", why: o.retiringWhy(a), writes: [P.scopeState(scope)] });
  }
  const published = p.since;
  p.state = "active";
  p.since = iso(d.now);
  delete p.activateAfter;
  d.steps.push({ kind: "set-state", origin, identity: null, scope, ...m, gen: p.gen, from: "prepared", to: "active", why: o.activeWhy(published), writes: [P.scopeState(scope)] });
}
