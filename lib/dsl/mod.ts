export { all, global, region, root, scope } from "./builders.ts";
export type { AllBuilder, IntermediateBuilder, LeafBuilder, LeavesBuilder, RootBuilder, ScopeBuilder, ServiceBuilder } from "./builders.ts";
export type { Intent, IntentKind } from "./intent.ts";
