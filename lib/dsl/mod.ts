export { all, global, region, root, scope } from "./builders.ts";
export type { AllBuilder, IntermediateBuilder, LeafBuilder, LeavesBuilder, RootBuilder, ScopeBuilder, ScopeLeavesBuilder, ServiceBuilder } from "./builders.ts";
export type { CsrRequest, Intent, IntentKind } from "./intent.ts";
