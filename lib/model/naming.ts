import * as v from "valibot";
import { InputError } from "../errors.ts";

// Naming templates (issue 14): what a region file may add to the names its leaves carry.
// A leaf always carries CN and DNS `<service>.<scope>.<domain>` (its region-fenced name); a
// region file's `naming` block adds DNS names (`*.svc.cluster.local`-style) and replaces the
// SPIFFE path (default `/svc/{service}`, Istio style `/ns/{namespace}/sa/{serviceAccount}`).
// The trust domain is always `<scope>.<domain>`: one trust domain per scope (DESIGN invariant 4).

/** Placeholders a template may use; {scope} and {domain} are fixed per region file. */
export const PLACEHOLDERS = ["service", "namespace", "serviceAccount", "scope", "domain"] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

const K8S_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const known = (s: string) => [...s.matchAll(/\{([^}]*)\}/g)].every((m) => (PLACEHOLDERS as readonly string[]).includes(m[1]!));
const PLACEHOLDER_HINT = `placeholders are ${PLACEHOLDERS.map((p) => `{${p}}`).join(", ")}`;

const DnsTemplate = v.pipe(
  v.string("a DNS template is a string"),
  v.maxLength(253, "a DNS template is at most 253 characters"),
  v.regex(/^(?:[a-z0-9-]|\{[a-zA-Z]+\})+(?:\.(?:[a-z0-9-]|\{[a-zA-Z]+\})+)+$/, 'a DNS template is dot-separated lowercase labels and placeholders, such as "{service}.{namespace}.svc.{scope}.cluster.local"'),
  v.check(known, `unknown placeholder in a DNS template; ${PLACEHOLDER_HINT}`),
);
const SpiffePath = v.pipe(
  v.string("a SPIFFE path template is a string"),
  v.maxLength(200, "a SPIFFE path template is at most 200 characters"),
  // SPIFFE ID spec §2.2: path segments of letters, digits, '.', '-', '_'; no empty, "." or ".." segment.
  v.regex(/^(?:\/(?:[A-Za-z0-9._-]|\{[a-zA-Z]+\})+)+$/, 'a SPIFFE path template starts with "/" and has segments of letters, digits, ".", "-", "_" or placeholders, such as "/ns/{namespace}/sa/{serviceAccount}"'),
  v.check((p) => !p.split("/").some((s) => s === "." || s === ".."), 'a SPIFFE path has no "." or ".." segment'),
  v.check(known, `unknown placeholder in the SPIFFE path template; ${PLACEHOLDER_HINT}`),
);
const K8sName = (what: string) => v.pipe(v.string(), v.regex(K8S_LABEL, `${what} is a Kubernetes name: lowercase letters, digits and '-', at most 63 characters`));

const NamingFields = {
  /** The Kubernetes namespace of {namespace} (default "default"). */
  namespace: v.optional(K8sName("namespace")),
  /** The Kubernetes service account of {serviceAccount} (default: the service name). */
  serviceAccount: v.optional(K8sName("serviceAccount")),
  /** The SPIFFE ID's path under spiffe://<scope>.<domain> (default "/svc/{service}"). */
  spiffePath: v.optional(SpiffePath),
  /** DNS names a leaf carries besides <service>.<scope>.<domain>. */
  dns: v.optional(v.pipe(v.array(DnsTemplate), v.maxLength(16, "at most 16 DNS templates"))),
};

/** Per-service naming: overrides namespace/serviceAccount/spiffePath, adds to dns. */
export const ServiceNamingSchema = v.strictObject(NamingFields);
/** A region file's `naming` block. */
export const NamingSchema = v.strictObject({
  ...NamingFields,
  services: v.optional(v.record(v.string(), ServiceNamingSchema)),
});
export type Naming = v.InferOutput<typeof NamingSchema>;

export const DEFAULT_SPIFFE_PATH = "/svc/{service}";

/** The names one leaf carries: CN, DNS names (first the region-fenced one) and SPIFFE IDs. */
export interface LeafNames {
  readonly commonName: string;
  readonly dns: readonly string[];
  readonly uris: readonly string[];
}

/** The names a leaf of `service` in `scope` carries under `naming` (absent: today's names). */
export function leafNames(scope: string, service: string, domain: string, naming?: Naming): LeafNames {
  const own = `${service}.${scope}.${domain}`;
  // No naming block (a fleet without templates): today's names, without the template fill, which
  // costs ~1 µs a call and the planner asks for a leaf's names several times.
  if (naming === undefined) return { commonName: own, dns: [own], uris: [defaultSpiffeId(scope, service, domain)] };
  const per = naming.services?.[service];
  const values: Record<Placeholder, string> = {
    service, scope, domain,
    namespace: per?.namespace ?? naming.namespace ?? "default",
    serviceAccount: per?.serviceAccount ?? naming.serviceAccount ?? service,
  };
  const fill = (t: string) => t.replace(/\{([a-zA-Z]+)\}/g, (_, k: Placeholder) => values[k]);
  const extra = [...(naming.dns ?? []), ...(per?.dns ?? [])].map(fill);
  const path = fill(per?.spiffePath ?? naming.spiffePath ?? DEFAULT_SPIFFE_PATH);
  return { commonName: own, dns: [...new Set([own, ...extra])], uris: [`spiffe://${scope}.${domain}${path}`] };
}

/** The SPIFFE ID of a leaf without naming templates: spiffe://<scope>.<domain>/svc/<service>. */
export const defaultSpiffeId = (scope: string, service: string, domain: string): string =>
  `spiffe://${scope}.${domain}${DEFAULT_SPIFFE_PATH.replace("{service}", service)}`;

/** Today's names, which trees made before templates carry: not recorded in the leaf index. */
export function isDefaultNames(n: LeafNames, scope: string, service: string, domain: string): boolean {
  const d = leafNames(scope, service, domain);
  return n.dns.length === 1 && n.uris.length === 1 && n.dns[0] === d.dns[0] && n.uris[0] === d.uris[0];
}

/** A leaf's names as one list (DNS names, then URIs), as the leaf index records them. */
export const flatNames = (n: LeafNames): string[] => [...n.dns, ...n.uris];

/** RFC 5280 §4.2.1.10: a dNSName constraint permits the name and every name that adds labels to its left. */
export const withinDns = (name: string, constraint: string) => name === constraint || name.endsWith(`.${constraint}`);

/**
 * The DNS subtrees a scope's intermediate permits: `<scope>.<domain>`, and for each DNS template
 * its literal suffix — the labels right of the last label holding a per-service placeholder
 * ({scope} and {domain} are fixed in a region file, so they count as literal). A subtree inside
 * another is dropped. A template such as "{service}.{namespace}.svc.cluster.local" gives
 * "svc.cluster.local"; one without per-service placeholders gives itself.
 */
export function scopeDnsConstraints(scope: string, domain: string, naming?: Naming): string[] {
  const all = [`${scope}.${domain}`, ...templatesOf(naming).map((t) => templateSuffix(t, scope, domain))];
  const uniq = [...new Set(all)];
  return uniq.filter((c, i) => i === 0 || !uniq.some((o, j) => j !== i && o !== c && withinDns(c, o)));
}

function templatesOf(naming?: Naming): string[] {
  return [...(naming?.dns ?? []), ...Object.values(naming?.services ?? {}).flatMap((s) => s.dns ?? [])];
}

/** The literal suffix of a DNS template in one scope (see scopeDnsConstraints). */
export function templateSuffix(template: string, scope: string, domain: string): string {
  const fixed = template.replace(/\{scope\}/g, scope).replace(/\{domain\}/g, domain);
  const labels = fixed.split(".");
  let last = -1;
  labels.forEach((l, i) => { if (l.includes("{")) last = i; });
  return labels.slice(last + 1).join(".");
}

/**
 * Problems with the templates of one scope under `domain`, as sentences (none: fine): a suffix of
 * one label would permit a whole TLD, and every expanded name must be a DNS name.
 */
export function templateProblems(scope: string, services: readonly string[], domain: string, naming?: Naming): string[] {
  const out: string[] = [];
  for (const t of templatesOf(naming)) {
    const suffix = templateSuffix(t, scope, domain);
    if (suffix.split(".").length < 2) {
      out.push(`the DNS template ${JSON.stringify(t)} leaves the fixed suffix ${JSON.stringify(suffix)}, which the intermediate would then permit whole; end it in at least two fixed labels, such as ".svc.{scope}.cluster.local"`);
    }
  }
  for (const s of Object.keys(naming?.services ?? {})) {
    if (!services.includes(s)) out.push(`naming.services names "${s}", which is not in services; add it there or remove its naming`);
  }
  // A leaf's names say which service it is: a template that gives two services of the scope the
  // same name would let one present itself as the other (region files are not root-signed).
  const holder = new Map<string, string>();
  for (const s of services) {
    const n = leafNames(scope, s, domain, naming);
    // Without templates each name holds the service's own (distinct) name: nothing to compare.
    for (const name of naming === undefined ? [] : flatNames(n)) {
      const other = holder.get(name);
      if (other !== undefined && other !== s) out.push(`the services "${other}" and "${s}" would both carry the name ${JSON.stringify(name)}, and a leaf's names must say which service it is; give each its own (a template with {service}, or distinct serviceAccount values)`);
      holder.set(name, s);
    }
    for (const d of n.dns) {
      if (d.length > 253 || !d.split(".").every((l) => K8S_LABEL.test(l))) out.push(`the service "${s}" would get the DNS name ${JSON.stringify(d)}, which is not a DNS name (labels of at most 63 lowercase letters, digits or '-', at most 253 characters); shorten the template or the names it uses`);
    }
  }
  return out;
}

/**
 * Two scopes whose permitted DNS subtrees overlap could issue the same names, so the region
 * fence no longer separates them: the first such pair, as one sentence, or null.
 */
export function namingCollision(scopes: Readonly<Record<string, { readonly naming?: Naming }>>, domain: string, dir: string): string | null {
  const names = Object.keys(scopes).sort();
  const cons = names.map((s) => scopeDnsConstraints(s, domain, scopes[s]!.naming));
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      for (const a of cons[i]!) {
        for (const b of cons[j]!) {
          if (!withinDns(a, b) && !withinDns(b, a)) continue;
          const wide = withinDns(a, b) ? b : a;
          return `${dir}/${names[i]}.json and ${dir}/${names[j]}.json could both issue names under "${wide}" (their DNS templates permit "${a}" and "${b}"), so the region fence would no longer separate "${names[i]}" from "${names[j]}"; make the names region-distinct, e.g. with a per-region cluster domain: "{service}.{namespace}.svc.{scope}.cluster.local"`;
        }
      }
    }
  }
  return null;
}

/** Throws the first template problem or collision of a topology as an InputError. */
export function checkNaming(scopes: Readonly<Record<string, { readonly services: readonly string[]; readonly naming?: Naming }>>, domain: string, dir: string): void {
  for (const [scope, t] of Object.entries(scopes)) {
    const p = templateProblems(scope, t.services, domain, t.naming)[0];
    if (p) throw new InputError(`${dir}/${scope}.json: ${p}`);
  }
  const c = namingCollision(scopes, domain, dir);
  if (c) throw new InputError(c);
}
