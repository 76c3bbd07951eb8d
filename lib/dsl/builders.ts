import { GLOBAL, parseRegion, parseService, type ScopeName, type ServiceName } from "../model/names.ts";
import type { Intent } from "./intent.ts";
import { callerOrigin } from "./origin.ts";

// Fluent builders. Each call returns a new frozen object over frozen props, so a builder can be
// kept and reused without aliasing: `const eu = region("eu")` then `eu.add()` and
// `eu.leaves().renew()` are independent intents. What cannot be done has no method: there is no
// `root().leaves()`, no `all().intermediate()`.

const intent = <T extends Intent>(i: T): T => Object.freeze(i);

export interface RootBuilder {
  /** Create the offline root (root posture). `inforge pki init`. */
  init(o: { name: string; domain: string; ciRecipient: string }): Intent;
  /** Start a root rotation: new root prepared, dual-root overlap in root.pem. `inforge pki rotate --root`. */
  rotate(): Intent;
  /** End the root overlap once nothing live chains only to the old root. `inforge pki rotate --root --finish`. */
  finish(): Intent;
  /** Re-sign the root CRL before its nextUpdate (root posture). `inforge pki crl`. */
  crl(): Intent;
}

export interface IntermediateBuilder {
  /** Planned key roll with overlap: `region("eu").intermediate().rotate()`. */
  rotate(o?: { force?: boolean }): Intent;
  /** Compromise recovery, no overlap: revoke, replace, drop from bundles at once. */
  recover(): Intent;
}

export interface LeavesBuilder {
  /** Mint missing leaves and renew those past their renewal point (CI posture). */
  renew(): Intent;
}

export interface LeafBuilder {
  /** Force a new key and certificate for one service now (CI posture). */
  rotate(): Intent;
}

export interface ServiceBuilder {
  leaf(): LeafBuilder;
}

export interface ScopeBuilder {
  readonly scope: ScopeName;
  /** Issue the scope's first intermediate and write its bundle (root posture). `inforge pki intermediate eu`. */
  add(): Intent;
  intermediate(): IntermediateBuilder;
  leaves(): LeavesBuilder;
  service(name: string): ServiceBuilder;
}

export interface AllBuilder {
  leaves(): LeavesBuilder;
}

/** The offline root: `root().init({...})`, `root().rotate()`, `root().finish()`. */
export function root(): RootBuilder {
  return Object.freeze({
    init: (o: { name: string; domain: string; ciRecipient: string }) =>
      intent({ kind: "root.init", origin: callerOrigin(), name: o.name, domain: o.domain, ciRecipient: o.ciRecipient }),
    rotate: () => intent({ kind: "root.rotate", origin: callerOrigin() }),
    finish: () => intent({ kind: "root.finish", origin: callerOrigin() }),
    crl: () => intent({ kind: "root.crl", origin: callerOrigin() }),
  });
}

function scopeBuilder(scope: ScopeName): ScopeBuilder {
  return Object.freeze({
    scope,
    add: () => intent({ kind: "scope.add", origin: callerOrigin(), scope }),
    intermediate: () =>
      Object.freeze({
        rotate: (o?: { force?: boolean }) =>
          intent({ kind: "intermediate.rotate", origin: callerOrigin(), scope, force: o?.force === true }),
        recover: () => intent({ kind: "intermediate.recover", origin: callerOrigin(), scope }),
      }),
    leaves: () => Object.freeze({ renew: () => intent({ kind: "leaves.renew", origin: callerOrigin(), scope }) }),
    service: (name: string) => {
      const service: ServiceName = parseService(name);
      return Object.freeze({
        leaf: () =>
          Object.freeze({ rotate: () => intent({ kind: "leaf.rotate", origin: callerOrigin(), scope, service }) }),
      });
    },
  });
}

/** One region's scope: `region("eu").intermediate().rotate()`. The name is checked at once. */
export function region(name: string): ScopeBuilder {
  return scopeBuilder(parseRegion(name));
}

/** The global scope, whose services every region trusts: `global().add()`. */
export function global(): ScopeBuilder {
  return scopeBuilder(GLOBAL as ScopeName);
}

/** Every scope at once: `all().leaves().renew()`. */
export function all(): AllBuilder {
  return Object.freeze({
    leaves: () => Object.freeze({ renew: () => intent({ kind: "leaves.renew", origin: callerOrigin(), scope: "all" as const }) }),
  });
}

/** A scope by name, region or global (for tasks that take a `--scope`). */
export function scope(name: string): ScopeBuilder {
  return name === GLOBAL ? global() : region(name);
}
