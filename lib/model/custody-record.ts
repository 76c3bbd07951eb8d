import * as v from "valibot";
import type { PkiConfig } from "./config.ts";

// pki/custody.json: pki.json's trust-critical fields as the root last signed them (DESIGN invariant
// 6). Anyone who can write to the infra repo can edit pki.json; only the root's key can make a
// record that verifies. Every run compares pki.json with the record before doing anything, and
// seals keys only to the recipients the record holds — so an edited `recipients.ci` moves no key.

export const CUSTODY_SCHEMA = "inforge.custody/v1";

/**
 * The pki.json fields an operator may change without the root: when status alerts and how often
 * SPIFFE consumers poll. Neither moves a key nor changes what anyone trusts. `leafFiles` is
 * signed: "shipped" turns an absent leaf file from tampering into "mint it anew", which is the
 * root's decision to make, not a repo writer's. Everything else —
 * including any field added later — is signed by default. `name` is signed: it is written into
 * the subject of every root and intermediate the root signs.
 */
export const UNSIGNED_FIELDS = ["thresholds", "spiffeRefreshHint"] as const;
const UNSIGNED: ReadonlySet<string> = new Set(UNSIGNED_FIELDS);

/** pki.json minus the unsigned fields: what the custody record signs. */
export function trustCritical(c: PkiConfig): Record<string, unknown> {
  return Object.fromEntries(Object.entries(c).filter(([k, x]) => !UNSIGNED.has(k) && x !== undefined));
}

const Iso = v.pipe(v.string(), v.isoTimestamp("a UTC timestamp"));

export const CustodyRecordSchema = v.strictObject({
  schema: v.literal(CUSTODY_SCHEMA, `schema must be "${CUSTODY_SCHEMA}"`),
  /** pki.json's trust-critical fields, as JSON. */
  config: v.record(v.string(), v.unknown()),
  /** The root generation whose key signed, and the SHA-256 of its certificate's DER. */
  signedBy: v.strictObject({
    gen: v.pipe(v.number(), v.integer(), v.minValue(1)),
    fingerprint: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "a SHA-256 fingerprint in lowercase hex")),
  }),
  signedAt: Iso,
  /** ECDSA P-256/SHA-256 over custodyPayload(record), base64 of IEEE P1363 r||s. */
  signature: v.string(),
});
export type CustodyRecord = v.InferOutput<typeof CustodyRecordSchema>;
export type UnsignedCustodyRecord = Omit<CustodyRecord, "signature">;

/** JSON with object keys sorted at every level and no whitespace: one byte string per value. */
export function canonicalJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonicalJson).join(",")}]`;
  if (x && typeof x === "object") {
    const keys = Object.keys(x).filter((k) => (x as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((x as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(x);
}

/** The bytes the root signs: the record without its signature, canonical. */
export function custodyPayload(r: UnsignedCustodyRecord): Uint8Array {
  const { schema, config, signedBy, signedAt } = r;
  return new TextEncoder().encode(canonicalJson({ schema, config, signedBy, signedAt }));
}

/** The record's file text (stable key order, so git diffs stay readable). */
export function custodyText(r: CustodyRecord): string {
  return JSON.stringify({ schema: r.schema, config: r.config, signedBy: r.signedBy, signedAt: r.signedAt, signature: r.signature }, null, 2) + "\n";
}

/** One field that differs: its dotted path in pki.json, the signed value and the current one (undefined: absent). */
export interface FieldChange {
  readonly field: string;
  readonly signed: unknown;
  readonly now: unknown;
}

/** Every leaf field where `now` differs from `signed`, by dotted path; arrays compare whole. */
export function fieldChanges(signed: unknown, now: unknown, path = ""): FieldChange[] {
  const isObj = (x: unknown): x is Record<string, unknown> => !!x && typeof x === "object" && !Array.isArray(x);
  // An object on one side and nothing on the other is compared field by field too, so a new or
  // removed section names each of its fields.
  if ((isObj(signed) || isObj(now)) && (isObj(signed) || signed === undefined) && (isObj(now) || now === undefined)) {
    const a = isObj(signed) ? signed : {};
    const b = isObj(now) ? now : {};
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => fieldChanges(a[k], b[k], path ? `${path}.${k}` : k));
  }
  return canonicalJson(signed) === canonicalJson(now) ? [] : [{ field: path || "(whole record)", signed, now }];
}

/** A value for a one-line message: JSON, cut at 70 characters. */
export function showValue(x: unknown): string {
  if (x === undefined) return "(absent)";
  const s = JSON.stringify(x);
  return s.length > 70 ? s.slice(0, 69) + "…" : s;
}

/**
 * INFORGE_ROOT_FINGERPRINT: SHA-256 fingerprints of the root certificates CI trusts, comma
 * separated (several during a root overlap). Accepted as lowercase or uppercase hex, with or
 * without colons, with or without a "sha256:" prefix. Null when unset; a string naming the first
 * malformed entry otherwise.
 */
export function parseRootPins(text: string | undefined): string[] | null | { bad: string } {
  if (text === undefined || text.trim() === "") return null;
  const out: string[] = [];
  for (const raw of text.split(",")) {
    const s = raw.trim().replace(/^sha-?256:/i, "").replace(/:/g, "").toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(s)) return { bad: raw.trim() };
    out.push(s);
  }
  return out;
}
