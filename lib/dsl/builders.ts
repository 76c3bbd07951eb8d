import { GLOBAL, parseRegion, parseService, type ScopeName, type ServiceName } from "../model/names.ts";
import type { ConfigChange, CsrRequest, Intent, RootKeyIn } from "./intent.ts";
import { parsePkcs11Uri } from "../pkcs11/uri.ts";
import { InputError } from "../errors.ts";
import { REVOCATION_REASONS, type RevocationReason } from "../model/revocation.ts";
import { callerOrigin } from "./origin.ts";
import { parseMesh } from "../model/mesh.ts";

// Fluent builders. Each call returns a new frozen object over frozen props, so a builder can be
// kept and reused without aliasing: `const eu = region("eu")` then `eu.add()` and
// `eu.leaves().renew()` are independent intents. What cannot be done has no method: there is no
// `root().leaves()`, no `all().intermediate()`.

const intent = <T extends Intent>(i: T): T => Object.freeze(i);

export interface RootBuilder {
  /** Create the offline root (root posture). `inforge pki init`. */
  init(o: { name: string; domain: string; ciRecipient: string; nameConstraints?: "dns+uri" | "dns"; rootIn?: string }): Intent;
  /** Start a root rotation: new root prepared, dual-root overlap in root.pem. `inforge pki rotate --root`. */
  rotate(o?: { rootIn?: string }): Intent;
  /** End the root overlap once nothing live chains only to the old root. `inforge pki rotate --root --finish`. */
  finish(): Intent;
  /** Re-sign the root CRL before its nextUpdate (root posture). `inforge pki crl`. */
  crl(): Intent;
  /**
   * Sign pki.json's current trust-critical fields into custody.json (root posture), after setting
   * the fields given. `inforge pki config [--promotion probe] [--probe-max-age 1h]`:
   * `root().config({ promotion: "probe" })`.
   */
  config(set?: ConfigChange): Intent;
}

export interface IntermediateBuilder {
  /** Planned key roll with overlap: `region("eu").intermediate().rotate()`. */
  rotate(o?: { force?: boolean }): Intent;
  /** Compromise recovery, no overlap: revoke, replace, drop from bundles at once. */
  recover(): Intent;
}

export interface IssuerBuilder {
  /** Issue the scope's first CA for a mesh's control plane (root posture): `inforge pki issuer eu --mesh istio`. */
  add(): Intent;
  /** Planned key roll with overlap, like an intermediate's: `inforge pki issuer eu --mesh istio --rotate`. */
  rotate(o?: { force?: boolean }): Intent;
  /** Compromise recovery: revoke the issuer (root CRL) and replace it at once, no overlap. `inforge pki issuer eu --mesh istio --recover`. */
  recover(): Intent;
}

export interface LeavesBuilder {
  /** Mint missing leaves and renew those past their renewal point (CI posture). */
  renew(): Intent;
}

export interface ScopeLeavesBuilder extends LeavesBuilder {
  /** The same, for some of the scope's services only — what a deploy or a release ships:
   *  `region("eu").leaves().renew({ services: ["payments", "checkout"] })`. */
  renew(o?: { services?: readonly string[] }): Intent;
}

export interface LeafBuilder {
  /** Force a new key and certificate for one service now (CI posture). */
  rotate(): Intent;
  /**
   * Revoke the service's current leaf (its key is believed leaked, or it must stop being trusted
   * now), list it on the scope's CRL and issue its replacement with a new key (CI posture).
   * `inforge pki revoke --leaf payments --region eu --reason key-compromise`:
   * `region("eu").service("payments").leaf().revoke({ reason: "key-compromise" })`.
   * The reason defaults to "unspecified" (the CRL entry then carries no reasonCode, RFC 5280 §5.3.1).
   */
  revoke(o?: { reason?: RevocationReason }): Intent;
  /** Certify a workload's own key from a verified CSR (lib/x509 parseCsr), under the scope's
   *  active intermediate, with the service's own names only (CI posture). `inforge pki sign-csr`. */
  signCsr(csr: CsrRequest): Intent;
}

export interface ServiceBuilder {
  leaf(): LeafBuilder;
}

export interface ScopeBuilder {
  readonly scope: ScopeName;
  /** Issue the scope's first intermediate and write its bundle (root posture). `inforge pki intermediate eu`. */
  add(): Intent;
  intermediate(): IntermediateBuilder;
  /** The scope's issuer for a mesh (istio, linkerd, cert-manager): `region("eu").issuer("istio").add()`. */
  issuer(mesh: string): IssuerBuilder;
  leaves(): ScopeLeavesBuilder;
  service(name: string): ServiceBuilder;
}

export interface AllBuilder {
  leaves(): LeavesBuilder;
}

/** `--root-in`: "age", or a pkcs11: URI (RFC 7512) naming the token and the key's label. */
function rootKeyIn(text: string): RootKeyIn {
  if (text === "age") return "age";
  const u = parsePkcs11Uri(text, `--root-in "${text.length > 120 ? text.slice(0, 120) + "…" : text}"`);
  return { token: u.token, object: u.object, uri: text };
}

/** The offline root: `root().init({...})`, `root().rotate()`, `root().finish()`. */
export function root(): RootBuilder {
  return Object.freeze({
    init: (o: { name: string; domain: string; ciRecipient: string; nameConstraints?: "dns+uri" | "dns"; rootIn?: string }) =>
      intent({ kind: "root.init", origin: callerOrigin(), name: o.name, domain: o.domain, ciRecipient: o.ciRecipient, ...(o.nameConstraints ? { nameConstraints: o.nameConstraints } : {}), ...(o.rootIn ? { rootIn: rootKeyIn(o.rootIn) } : {}) }),
    rotate: (o: { rootIn?: string } = {}) => intent({ kind: "root.rotate", origin: callerOrigin(), ...(o.rootIn ? { rootIn: rootKeyIn(o.rootIn) } : {}) }),
    finish: () => intent({ kind: "root.finish", origin: callerOrigin() }),
    crl: () => intent({ kind: "root.crl", origin: callerOrigin() }),
    config: (set: ConfigChange = {}) => intent({ kind: "root.config", origin: callerOrigin(), ...(Object.keys(set).length ? { set: { ...set } } : {}) }),
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
    issuer: (name: string) => {
      const mesh = parseMesh(name);
      return Object.freeze({
        add: () => intent({ kind: "issuer.add", origin: callerOrigin(), scope, mesh }),
        rotate: (o?: { force?: boolean }) => intent({ kind: "issuer.rotate", origin: callerOrigin(), scope, mesh, force: o?.force === true }),
        recover: () => intent({ kind: "issuer.recover", origin: callerOrigin(), scope, mesh }),
      });
    },
    leaves: () =>
      Object.freeze({
        renew: (o?: { services?: readonly string[] }) =>
          intent({
            kind: "leaves.renew", origin: callerOrigin(), scope,
            ...(o?.services ? { services: Object.freeze(o.services.map((s) => parseService(s))) } : {}),
          }),
      }),
    service: (name: string) => {
      const service: ServiceName = parseService(name);
      return Object.freeze({
        leaf: () =>
          Object.freeze({
            rotate: () => intent({ kind: "leaf.rotate", origin: callerOrigin(), scope, service }),
            revoke: (o?: { reason?: RevocationReason }) =>
              intent({ kind: "leaf.revoke", origin: callerOrigin(), scope, service, reason: parseReason(o?.reason ?? "unspecified") }),
            signCsr: (csr: CsrRequest) =>
              intent({
                kind: "leaf.sign-csr", origin: callerOrigin(), scope, service,
                csr: Object.freeze({
                  publicKey: csr.publicKey, key: csr.key, commonNames: Object.freeze([...csr.commonNames]),
                  dns: Object.freeze([...csr.dns]), uris: Object.freeze([...csr.uris]), other: Object.freeze([...csr.other]),
                }),
              }),
          }),
      });
    },
  });
}

function parseReason(r: unknown): RevocationReason {
  if ((REVOCATION_REASONS as readonly unknown[]).includes(r)) return r as RevocationReason;
  const shown = JSON.stringify(typeof r === "string" && r.length > 40 ? r.slice(0, 40) + "…" : r);
  throw new InputError(`unknown revocation reason ${shown}; use one of ${REVOCATION_REASONS.join(", ")}`);
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
