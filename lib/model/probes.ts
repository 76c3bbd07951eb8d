import * as v from "valibot";
import { canonicalJson } from "./custody-record.ts";

// Trust probes (issue 18): endpoints a region file lists per service, and the record a probe run
// leaves in probes/<scope>.json. The record is evidence for promotion (`promotion: "probe"` in
// pki.json) and the source of the drift findings of `pki status`.
//
// A hostile writer of the infra repo can write probes/<scope>.json and append a journal entry
// for it (the hash chain has no key). So a record counts only when (1) the journal records its
// bytes, (2) it is signed by the key of the scope generation it names, which only the CI
// identity opens, and (3) that generation is the one the state records (fingerprint); evidence
// for promotion must moreover name the prepared generation's fingerprint.

// host:port, nothing else: no scheme, user info, path, query or fragment, no zone id, no spaces.
// The host is a DNS name, a dotted IPv4 address or a bracketed IPv6 address.
const DNS_HOST = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^\[[0-9a-f:.]{2,45}\]$/;

/** Split "host:port" (lowercase host); null when it is not exactly that. */
export function parseAddress(text: string): { host: string; port: number } | null {
  const m = /^(\[[^\]]*\]|[^:[\]]+):([1-9][0-9]{0,4})$/.exec(text);
  if (!m) return null;
  const host = m[1]!;
  const port = Number(m[2]);
  if (port > 65535) return null;
  if (!(IPV6.test(host) && host.includes(":")) && !IPV4.test(host) && !(DNS_HOST.test(host) && !/^[0-9.]+$/.test(host))) return null;
  return { host: host.startsWith("[") ? host.slice(1, -1) : host, port };
}

export const Address = v.pipe(
  v.string(),
  v.maxLength(260, "an address is at most 260 characters"),
  v.check((s) => parseAddress(s) !== null, 'an address is host:port and nothing else — a lowercase DNS name, an IPv4 address or a bracketed IPv6 address, and a port 1-65535, such as "payments-0.eu.svc:8443" (no scheme, user, path or query)'),
);
// RFC 6066 §3: the server name is a DNS host name, never an IP address literal.
export const Sni = v.pipe(
  v.string(),
  v.check((s) => DNS_HOST.test(s) && !/^[0-9.]+$/.test(s), 'sni is a lowercase DNS name such as "payments.eu.mesh.example.internal" (RFC 6066: never an IP address)'),
);

export const ProbeTargetSchema = v.strictObject({
  address: Address,
  /** The TLS server name to ask for; the service's DNS name (<service>.<scope>.<domain>) by default. */
  sni: v.optional(Sni),
  /** The endpoint asks for a client certificate: the probe can test whether it trusts a prepared generation. */
  clientAuth: v.optional(v.boolean()),
});
export type ProbeTarget = v.InferOutput<typeof ProbeTargetSchema>;

/** A region file's `probes`: service → its endpoints. */
export const ProbesSchema = v.record(v.string(), v.pipe(v.array(ProbeTargetSchema), v.minLength(1, "list at least one endpoint"), v.maxLength(256, "at most 256 endpoints per service")));
export type Probes = Readonly<Record<string, readonly ProbeTarget[]>>;

/** What a connection to one endpoint came to. Every outcome is a result, never a crash. */
export const PROBE_OUTCOMES = ["tls", "refused", "unreachable", "timeout", "not-tls", "tls-error", "skipped"] as const;
export type ProbeOutcome = (typeof PROBE_OUTCOMES)[number];

/** Whether the endpoint accepted a client certificate issued by the prepared generation. */
export const TRUST_OUTCOMES = ["accepted", "refused", "error"] as const;

const Fp = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "a SHA-256 fingerprint in lowercase hex"));
const Iso = v.pipe(v.string(), v.isoTimestamp("a UTC timestamp"));
const GenRef = v.strictObject({ gen: v.pipe(v.number(), v.integer(), v.minValue(1)), fingerprint: Fp });

export const ServedSchema = v.strictObject({
  fingerprint: Fp,
  serial: v.string(),
  subject: v.string(),
  notBefore: Iso,
  notAfter: Iso,
  /** The generation (of any scope) whose key signed the leaf; null when none of ours did. */
  issuer: v.nullable(v.strictObject({ scope: v.string(), gen: v.number(), fingerprint: Fp })),
  /** The leaf is the one the state records for the service (leaves/<scope>/index.json). */
  current: v.boolean(),
  /** The served chain verifies against the region bundle (OpenSSL through node:tls, partial chain). */
  verifies: v.boolean(),
  verifyError: v.optional(v.string()),
  /** The leaf carries the SNI name (RFC 6125 host name check). */
  nameMatches: v.boolean(),
});
export type Served = v.InferOutput<typeof ServedSchema>;

export const EndpointResultSchema = v.strictObject({
  /** The service, or for a root-anchoring consumer of pki.json its name (with `consumer`). */
  service: v.string(),
  /** A root-anchoring consumer's endpoint: probed only for trust in the new root, during a root overlap. */
  consumer: v.optional(v.literal(true)),
  address: v.string(),
  sni: v.string(),
  clientAuth: v.boolean(),
  outcome: v.picklist(PROBE_OUTCOMES),
  error: v.optional(v.string()),
  ms: v.number(),
  served: v.optional(ServedSchema),
  /** With a prepared generation and clientAuth: did the endpoint accept the probe's client certificate? */
  trust: v.optional(v.strictObject({ gen: v.number(), fingerprint: Fp, outcome: v.picklist(TRUST_OUTCOMES), detail: v.optional(v.string()) })),
});
export type EndpointResult = v.InferOutput<typeof EndpointResultSchema>;

export const PROBE_RECORD_SCHEMA = "inforge.probe-record/v1";

/** probes/<scope>.json */
export const ProbeRecordSchema = v.strictObject({
  schema: v.literal(PROBE_RECORD_SCHEMA),
  scope: v.string(),
  at: Iso,
  /** The prepared generation the trust probes tested; null when the scope had none. */
  prepared: v.nullable(GenRef),
  endpoints: v.array(EndpointResultSchema),
  /** The scope generation whose key signed the record: the prepared one when there is one, else the active one. */
  signedBy: GenRef,
  /** ECDSA P-256/SHA-256 over probeRecordPayload(record), base64 of P1363 r||s. */
  signature: v.string(),
});
export type ProbeRecord = v.InferOutput<typeof ProbeRecordSchema>;
export type UnsignedProbeRecord = Omit<ProbeRecord, "signature">;

/** The bytes the generation key signs: the record without its signature, canonical JSON. */
export function probeRecordPayload(r: UnsignedProbeRecord): Uint8Array {
  const { schema, scope, at, prepared, endpoints, signedBy } = r;
  return new TextEncoder().encode(canonicalJson({ schema, scope, at, prepared, endpoints, signedBy }));
}

export function probeRecordText(r: ProbeRecord): string {
  return JSON.stringify(r, null, 1) + "\n";
}

/** Records that passed lib/store/probe-records.ts (journalled, signature verified), by scope. */
export type ProbeEvidence = Readonly<Record<string, ProbeRecord>>;

/** The promotion rule of pki.json: "time" (default) waits out the propagation delay; "probe" waits for evidence. */
export const DEFAULT_PROBE_MAX_AGE = "1h";

/** An endpoint that can vote on a prepared generation: one that asks for client certificates. */
export const endpointKey = (service: string, address: string, consumer = false) => `${consumer ? "consumer " : ""}${service} ${address}`;

/** `p` was issued by the new root of an open root overlap: root-anchoring consumers must trust that root too. */
export const newRootDuringOverlap = (root: { readonly generations: readonly { readonly gen: number; readonly state: string }[] }, p: { readonly issuer: number | null }) =>
  root.generations.some((g) => g.state === "retiring") && root.generations.some((g) => g.state === "active" && g.gen === p.issuer);

/** Endpoints that vote on a prepared generation besides the region file's: root-anchoring consumers (pki.json). */
export interface Voter {
  readonly service: string;
  readonly address: string;
  readonly consumer?: true;
}

/**
 * During a root overlap, the endpoints of pki.json's root-anchoring consumers vote on every
 * prepared intermediate of the new root: the probe presents its client certificate without the
 * cross certificate, so only a consumer that has loaded the new root.pem accepts it.
 */
export function consumerVoters(consumers: readonly { readonly name: string; readonly probes?: readonly { readonly address: string }[] }[] | undefined): Voter[] {
  return (consumers ?? []).flatMap((c) => (c.probes ?? []).map((t) => ({ service: c.name, address: t.address, consumer: true as const })));
}

export interface PromotionVerdict {
  /** Every listed clientAuth endpoint accepted the prepared generation in a fresh enough record. */
  readonly ready: boolean;
  /** Why not, one clause per endpoint (or about the record as a whole). */
  readonly blockers: readonly string[];
  /** How many endpoints voted. */
  readonly endpoints: number;
  /** When the evidence was taken, when a record counted. */
  readonly at?: string;
}

/**
 * Whether the last probe shows every clientAuth endpoint of the scope trusting the prepared
 * generation `prepared` (its gen and recorded fingerprint). Null when the scope lists no such
 * endpoint: there is nothing to wait for, and the time rule applies. Pure.
 */
export function promotionVerdict(
  record: ProbeRecord | undefined, prepared: { gen: number; fingerprint: string }, probes: Probes | undefined, now: number, maxAge: number,
  voters: readonly Voter[] = [],
): PromotionVerdict | null {
  const listed: Voter[] = [...Object.entries(probes ?? {}).flatMap(([service, ts]) => ts.filter((t) => t.clientAuth).map((t) => ({ service, address: t.address }))), ...voters];
  if (!listed.length) return null;
  const n = listed.length;
  if (!record) return { ready: false, endpoints: n, blockers: ["no probe has been recorded yet (run inforge pki probe in CI)"] };
  if (!record.prepared || record.prepared.gen !== prepared.gen || record.prepared.fingerprint !== prepared.fingerprint) {
    return { ready: false, endpoints: n, blockers: [`the last probe (${record.at}) did not test G${prepared.gen} (run inforge pki probe in CI)`] };
  }
  const at = Date.parse(record.at);
  if (now - at > maxAge) return { ready: false, endpoints: n, blockers: [`the last probe (${record.at}) is older than the evidence age of pki.json (run inforge pki probe in CI again)`] };
  if (at > now + 60_000) return { ready: false, endpoints: n, blockers: [`the last probe is dated ${record.at}, in the future (run inforge pki probe in CI again)`] };
  const seen = new Map(record.endpoints.map((e) => [endpointKey(e.service, e.address, e.consumer), e]));
  const blockers: string[] = [];
  for (const l of listed) {
    const e = seen.get(endpointKey(l.service, l.address, l.consumer));
    const who = `${l.consumer ? "consumer " : ""}${l.service} ${l.address}`;
    if (!e) blockers.push(`${who}: not probed yet`);
    else if (e.trust?.outcome !== "accepted") blockers.push(`${who}: ${e.trust ? `${e.trust.outcome}${e.trust.detail ? ` (${e.trust.detail})` : ""}` : `${e.outcome}${e.error ? ` (${e.error})` : ""}`}`);
  }
  return { ready: blockers.length === 0, endpoints: n, blockers, at: record.at };
}
