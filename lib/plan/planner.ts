import type { Intent } from "../dsl/intent.ts";
import { bundleMembers, bundleNames, refKey } from "../model/bundles.ts";
import * as P from "../model/paths.ts";
import type { Snapshot, Topology } from "../model/state.ts";
import { iso, newDraft, snapshotOf, type Draft } from "./draft.ts";
import { planIntent } from "./intents.ts";
import { signCrl } from "./root-crl.ts";
import type { Plan, Step } from "./step.ts";
import type { ProbeEvidence } from "../model/probes.ts";

/**
 * Compile intents against a snapshot into a plan: typed steps, the state they lead to, and
 * what comes next. Pure: no I/O, no crypto, no clock but `now`. `evidence`: the verified probe
 * records that gate promotions under `promotion: "probe"`. Throws an InputError when an
 * intent cannot be planned at all (unknown region, nothing to rotate, …).
 */
export function plan(intents: readonly Intent[], before: Snapshot, topology: Topology, now: Date, evidence: ProbeEvidence = {}): Plan {
  const d = newDraft(before, topology, now.getTime(), evidence);
  for (const i of intents) (planIntent[i.kind] as (d: Draft, i: Intent) => void)(d, i);
  // The root is offline: every run that holds it re-signs the CRL, so a CRL never lapses while
  // root-posture work goes on (status warns ahead of its nextUpdate; `pki crl` re-signs alone).
  if (d.steps.some((s) => s.identity === "root") && !d.steps.some((s) => s.kind === "sign-crl")) signCrl(d, intents[0]!.origin);
  const after = snapshotOf(d);
  const origin = intents[0]?.origin ?? "<plan>";
  const steps: Step[] = [...d.steps, ...bundleSteps(before, after, origin), ...stateSteps(before, after, origin)];
  if (!steps.length) d.notes.push("nothing to do: every certificate is current and every bundle up to date");
  return deepFreeze({
    now: iso(d.now), intents, steps, before, after,
    notes: [...new Set(d.notes)], next: [...new Set(d.next)],
  });
}

/** A write-bundle step for every bundle whose members change (and none for the others, so
 *  an untouched region's files stay byte-identical). */
function bundleSteps(before: Snapshot, after: Snapshot, origin: string): Step[] {
  const names = [...new Set([...bundleNames(before), ...bundleNames(after)])];
  const out: Step[] = [];
  for (const name of names) {
    const was = bundleMembers(before, name);
    const now = bundleMembers(after, name);
    const wasKeys = new Set(was.map(refKey));
    const nowKeys = new Set(now.map(refKey));
    const enter = now.filter((r) => !wasKeys.has(refKey(r)));
    const leave = was.filter((r) => !nowKeys.has(refKey(r)));
    if (!enter.length && !leave.length && was.map(refKey).join() === now.map(refKey).join()) continue;
    // The mesh formats (SPIFFE JSON, ConfigMap) are written from the same certificates in the same commit.
    out.push({ kind: "write-bundle", origin, identity: null, bundle: name, members: now, enter, leave, writes: [P.bundle(name), ...P.meshBundles(name)] });
  }
  return out;
}

/** A write-state step for each state file whose content changes. */
function stateSteps(before: Snapshot, after: Snapshot, origin: string): Step[] {
  const files: [string, unknown, unknown][] = [
    [P.CONFIG, before.config, after.config],
    [P.ROOT_STATE, before.root, after.root],
    ...Object.keys(after.scopes).map((s): [string, unknown, unknown] => [P.scopeState(s), before.scopes[s], after.scopes[s]]),
    ...Object.keys(after.leaves).map((s): [string, unknown, unknown] => [P.leafIndex(s), before.leaves[s], after.leaves[s]]),
  ];
  return files
    .filter(([, a, b]) => !sameJson(a, b))
    .map(([file]) => ({ kind: "write-state" as const, origin, identity: null, file, writes: [file] }));
}

/**
 * Whether two plain JSON values write the same JSON (key order aside): compared in place, not as
 * two JSON texts — a renewed scope's leaf index differs in its first leaf, and stringifying a
 * fleet's twenty indexes twice each was ~20 ms of the plan. A key holding undefined is absent, as
 * in JSON.
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const y = b as unknown[];
    if (a.length !== y.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], y[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    if (x[k] === undefined) continue;
    if (!sameJson(x[k], y[k])) return false;
    n++;
  }
  for (const k in y) if (y[k] !== undefined) n--;
  return n === 0;
}

/**
 * Freeze everything reachable, also inside objects that are frozen only at the top. Walked with
 * indexes and for…in (plan data is plain objects and arrays): Object.values made an array per
 * object, and a fleet's plan has a few hundred thousand (2–2.5× slower).
 */
function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === "object") {
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) deepFreeze(o[i]);
    } else {
      for (const k in o) deepFreeze((o as Record<string, unknown>)[k]);
    }
    Object.freeze(o);
  }
  return o;
}
