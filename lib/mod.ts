// The public entry of inforge: what tasks/ and operators' own runbooks and zx scripts import.
export { all, global, region, root, scope } from "./dsl/mod.ts";
export type { Intent } from "./dsl/mod.ts";
export { task, type Task, type TaskContext, type AfterContext } from "./task.ts";
export { ScopeName, RegionName, ServiceName, GLOBAL } from "./model/names.ts";
export { REVOCATION_REASONS, type RevocationReason } from "./model/revocation.ts";
export { plan } from "./plan/planner.ts";
export type { Plan, Step } from "./plan/step.ts";
export { checkPlan, assertChecked, type CheckedPlan } from "./check/check-plan.ts";
export { checkState } from "./check/check-state.ts";
export { InputError, PostureError, StateError, CheckError } from "./errors.ts";
export { openPki, type Pki, type PkiPlan, type PkiStatus, type OpenOptions } from "./pki.ts";
export type { PkiState, ScopeView, GenerationView, LeafDue } from "./model/view.ts";
export type { SavedPlan } from "./store/plan-file.ts";
export type { ProbeReport, ScopeProbe } from "./probe/run-probe.ts";
export { Duration, parseDuration } from "./model/duration.ts";
export * as v from "valibot";
