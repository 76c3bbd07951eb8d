import { timing } from "./config.ts";
import type { GenState, Generation, Snapshot, Topology } from "./state.ts";

// The typed, read-only view of a pki directory that runbooks (`ctx.state`) and scripts
// (`pki.state`) read instead of parsing pki/scopes/*/scope.json themselves. Pure: built from a
// snapshot, the declared regions and the run's clock.

const DAY = 86_400_000;

export interface GenerationView {
  readonly gen: number;
  readonly state: GenState;
  readonly fingerprint: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** Whole days since notBefore, at the run's clock. */
  readonly ageDays: number;
  /** Whole days until notAfter (negative once expired). */
  readonly expiresInDays: number;
  /** The root generation that signed it; null for a root. */
  readonly issuer: number | null;
}

export interface ScopeView {
  readonly generations: readonly GenerationView[];
  /** The generation that issues leaves now; null while none is active. */
  readonly active: GenerationView | null;
}

export interface LeafDue {
  readonly scope: string;
  readonly service: string;
  readonly notAfter: string;
  /** "due": past the renewal point (pki.json renewAt); "expired"; "missing": declared, never issued. */
  readonly why: "due" | "expired" | "missing";
}

export interface PkiState {
  /** The clock the view was taken at. */
  readonly at: string;
  /** False before `pki init`. */
  readonly initialized: boolean;
  readonly domain: string | null;
  readonly root: ScopeView;
  readonly scopes: Readonly<Record<string, ScopeView>>;
  /** Leaves a renewal would issue now. */
  readonly leavesDue: readonly LeafDue[];
  /** Regions declared in regions/*.json that have no intermediate yet (`pki intermediate <name>`). */
  readonly unprovisioned: readonly string[];
}

export function stateView(s: Snapshot, topology: Topology, now: Date): PkiState {
  const at = now.getTime();
  const gen = (g: Generation): GenerationView => Object.freeze({
    gen: g.gen, state: g.state, fingerprint: g.fingerprint, notBefore: g.notBefore, notAfter: g.notAfter,
    ageDays: Math.floor((at - Date.parse(g.notBefore)) / DAY),
    expiresInDays: Math.floor((Date.parse(g.notAfter) - at) / DAY),
    issuer: g.issuer,
  });
  const view = (gens: readonly Generation[]): ScopeView => {
    const generations = Object.freeze(gens.map(gen));
    return Object.freeze({ generations, active: generations.find((g) => g.state === "active") ?? null });
  };
  const renewAt = s.config ? timing(s.config).renewAt : null;
  const due: LeafDue[] = [];
  for (const [scope, decl] of Object.entries(topology.scopes)) {
    if (!s.scopes[scope]) continue;
    const leaves = s.leaves[scope]?.leaves ?? {};
    for (const service of decl.services) {
      const l = leaves[service];
      if (!l) {
        due.push({ scope, service, notAfter: "", why: "missing" });
        continue;
      }
      const nb = Date.parse(l.notBefore);
      const end = Date.parse(l.notAfter);
      if (end <= at) due.push({ scope, service, notAfter: l.notAfter, why: "expired" });
      else if (renewAt !== null && at >= nb + (end - nb) * renewAt) due.push({ scope, service, notAfter: l.notAfter, why: "due" });
    }
  }
  return Object.freeze({
    at: now.toISOString(),
    initialized: s.config !== null,
    domain: s.config?.domain ?? null,
    root: view(s.root.generations),
    scopes: Object.freeze(Object.fromEntries(Object.entries(s.scopes).map(([k, f]) => [k, view(f.generations)]))),
    leavesDue: Object.freeze(due.map((d) => Object.freeze(d))),
    unprovisioned: Object.freeze(Object.keys(topology.scopes).filter((k) => !s.scopes[k]).sort()),
  });
}
