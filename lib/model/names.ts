import * as v from "valibot";
import { InputError } from "../errors.ts";

// Scope and service names become DNS labels (payments.eu.<domain>) and SPIFFE trust domains
// (spiffe://eu.<domain>), so they are held to RFC 1123 label syntax, lowercase only: anything
// else (dots, slashes, "..", NUL, unicode look-alikes) could escape a name constraint or a path.
const LABEL = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const SERVICE = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The scope that every region trusts and whose services talk to every region. */
export const GLOBAL = "global";

export const ScopeName = v.pipe(
  v.string("a scope name must be a string"),
  v.regex(LABEL, "a scope name is a lowercase DNS label: a-z first, then a-z, 0-9 or '-', at most 32 characters"),
  v.check((s) => s !== "root", `"root" names the root bundle and cannot be a scope`),
  v.check((s) => s !== "all", `"all" means every scope (all().leaves().renew()) and cannot be a scope`),
  v.brand("ScopeName"),
);
export type ScopeName = v.InferOutput<typeof ScopeName>;

/** A region is any scope but `global`. */
export const RegionName = v.pipe(
  ScopeName,
  v.check((s) => s !== GLOBAL, `"global" is the global scope, not a region; use global() / --scope global`),
);

export const ServiceName = v.pipe(
  v.string("a service name must be a string"),
  v.regex(SERVICE, "a service name is a lowercase DNS label: a-z first, then a-z, 0-9 or '-', at most 63 characters"),
  v.brand("ServiceName"),
);
export type ServiceName = v.InferOutput<typeof ServiceName>;

export const DomainName = v.pipe(
  v.string(),
  v.maxLength(200, "the mesh domain is at most 200 characters"),
  v.regex(
    /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
    "the mesh domain is a lowercase DNS name such as mesh.example.internal",
  ),
);

/**
 * A leaf of `service` in `scope` carries the DNS name and common name `<service>.<scope>.<domain>`.
 * The common name is at most 64 characters (RFC 5280 Appendix A.1, ub-common-name) and a DNS name
 * at most 253 (RFC 1035 §2.3.4), so a service name can be a valid label and still not fit:
 * the longest service name that fits, or null when this one does.
 */
export function leafNameRoom(service: string, scope: string, domain: string): { name: string; max: number } | null {
  const name = `${service}.${scope}.${domain}`;
  if (name.length <= MAX_COMMON_NAME) return null;
  return { name, max: Math.max(0, MAX_COMMON_NAME - scope.length - domain.length - 2) };
}

/** ub-common-name (RFC 5280 Appendix A.1). */
export const MAX_COMMON_NAME = 64;

function quote(x: unknown): string {
  const s = typeof x === "string" ? x : String(x);
  return JSON.stringify(s.length > 80 ? s.slice(0, 80) + "…" : s);
}

/** Parse a scope name given by an operator; one sentence on failure. */
export function parseScope(input: unknown, what = "scope"): ScopeName {
  const r = v.safeParse(ScopeName, input);
  if (r.success) return r.output;
  return fail(`invalid ${what} name ${quote(input)}: ${r.issues[0].message}`);
}

export function parseRegion(input: unknown): ScopeName {
  const r = v.safeParse(RegionName, input);
  if (r.success) return r.output as ScopeName;
  return fail(`invalid region name ${quote(input)}: ${r.issues[0].message}`);
}

export function parseService(input: unknown): ServiceName {
  const r = v.safeParse(ServiceName, input);
  if (r.success) return r.output;
  return fail(`invalid service name ${quote(input)}: ${r.issues[0].message}`);
}

function fail(message: string): never {
  throw new InputError(message);
}
