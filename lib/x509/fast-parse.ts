// Reading certificates without building @peculiar/x509's object tree. `pki verify` reads every
// certificate of the fleet, checks its signature and opens its key; through the library that is
// about 2 ms of JavaScript per parse, and a fleet of 10,000 leaves took over a minute. The
// certificates inforge reads are few shapes (its own profiles, and whatever an operator brings
// to be cross-checked), so the fields CertInfo needs are read straight off the DER here, and
// anything unexpected — an unknown string type, a duplicate extension, a padded serial — returns
// null so the caller falls back to the library. test/fast-parse.test.ts holds the two readers
// to the same answers on every profile and on certificates openssl makes.
import type { Bytes } from "./pem.ts";

/** One DER element: its tag, where its header starts, where its content starts and ends. */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly body: number;
  readonly end: number;
}

/** The element at `at`, or null when the bytes are not definite-length DER within `limit`. */
export function tlvAt(b: Uint8Array, at: number, limit = b.length): Tlv | null {
  if (at + 2 > limit) return null;
  const tag = b[at]!;
  if ((tag & 0x1f) === 0x1f) return null; // high tag numbers: not in certificates we read
  let len = b[at + 1]!;
  let body = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || body + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[body + i]!;
    body += n;
  }
  const end = body + len;
  return end > limit ? null : { tag, start: at, body, end };
}

/** The elements inside a constructed element, or null if they do not tile its content exactly. */
export function childrenOf(b: Uint8Array, t: Tlv): Tlv[] | null {
  const out: Tlv[] = [];
  for (let at = t.body; at < t.end;) {
    const c = tlvAt(b, at, t.end);
    if (!c) return null;
    out.push(c);
    at = c.end;
  }
  return out;
}

const OID = {
  cn: "550403",
  basicConstraints: "551d13",
  subjectKeyId: "551d0e",
  authorityKeyId: "551d23",
  subjectAltName: "551d11",
  nameConstraints: "551d1e",
} as const;

function hexOf(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) s += (b[i]! < 16 ? "0" : "") + b[i]!.toString(16);
  return s;
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Text of a string element, for the string types the library decodes the same way; else null. */
function text(b: Uint8Array, t: Tlv): string | null {
  const bytes = b.subarray(t.body, t.end);
  if (t.tag === 0x13 || t.tag === 0x16) {
    for (const c of bytes) if (c > 0x7e || c < 0x20) return null; // plain printable ASCII only
    return latin1.decode(bytes);
  }
  if (t.tag === 0x0c) {
    try {
      return utf8.decode(bytes);
    } catch {
      return null;
    }
  }
  return null;
}

/** The common names of a Name, in order (the library's getField("CN")); null for shapes we leave to it. */
function commonNames(b: Uint8Array, name: Tlv): string[] | null {
  const out: string[] = [];
  for (const set of childrenOf(b, name) ?? [null]) {
    if (!set || set.tag !== 0x31) return null;
    for (const atv of childrenOf(b, set) ?? [null]) {
      const parts = atv && atv.tag === 0x30 ? childrenOf(b, atv) : null;
      if (!parts || parts.length !== 2 || parts[0]!.tag !== 0x06) return null;
      if (hexOf(b, parts[0]!.body, parts[0]!.end) !== OID.cn) continue;
      const v = text(b, parts[1]!);
      if (v === null) return null;
      out.push(v);
    }
  }
  return out;
}

/** `n` ASCII digits at `at` as a number; -1 when any is not a digit. */
function digits(b: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = b[i]! - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

// Read straight off the bytes: decoding each time to a string and matching a regex cost about
// 11 µs a time, a quarter of a second of `pki verify` at 10,000 leaves (two times a certificate).
function time(b: Uint8Array, t: Tlv): Date | null {
  const len = t.end - t.body;
  let year: number;
  let at = t.body;
  if (t.tag === 0x17 && len === 13) {
    const yy = digits(b, at, 2);
    year = yy < 0 ? -1 : yy < 50 ? 2000 + yy : 1900 + yy; // RFC 5280 §4.1.2.5.1
    at += 2;
  } else if (t.tag === 0x18 && len === 15) {
    year = digits(b, at, 4);
    at += 4;
  } else return null;
  if (year < 0 || b[t.end - 1] !== 0x5a /* Z */) return null;
  const [mo, d, h, mi, se] = [digits(b, at, 2), digits(b, at + 2, 2), digits(b, at + 4, 2), digits(b, at + 6, 2), digits(b, at + 8, 2)];
  // Only instants that exist, spelled as RFC 5280 §4.1.2.5 says (GeneralizedTime from 2050):
  // Date.UTC would roll February 30 over into March, and the library reads such dates its own
  // way; lib/x509/strict-der.ts reports them.
  if ((t.tag === 0x18 && year < 2050) || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59) return null;
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, se));
  return date.getUTCDate() === d ? date : null;
}

/** GeneralNames: dNSName [2] and uniformResourceIdentifier [6], as the library reads them. */
function generalNames(b: Uint8Array, seq: Tlv, dns: string[], uris: string[]): boolean {
  for (const n of childrenOf(b, seq) ?? [null]) {
    if (!n) return false;
    if (n.tag === 0x82 || n.tag === 0x86) {
      const v = text(b, { ...n, tag: 0x16 });
      if (v === null) return false;
      (n.tag === 0x82 ? dns : uris).push(v);
    }
  }
  return true;
}

/** The fields of CertInfo that come from the TBSCertificate, or null to leave the certificate to the library. */
export interface FastFields {
  readonly serial: string;
  readonly subjectCn: string;
  readonly issuerCn: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly ski: string;
  readonly aki: string | null;
  readonly isCa: boolean;
  readonly pathLen: number | null;
  readonly dns: string[];
  readonly uris: string[];
  readonly permittedDns: string[];
  readonly permittedUris: string[];
  /** The DER of the SubjectPublicKeyInfo. */
  readonly spki: Bytes;
}

/** The certificate's parts: TBSCertificate, signatureAlgorithm, signature BIT STRING. */
export function certificateParts(der: Uint8Array): { tbs: Tlv; alg: Tlv; sig: Tlv } | null {
  const outer = tlvAt(der, 0);
  if (!outer || outer.tag !== 0x30 || outer.end !== der.length) return null;
  const parts = childrenOf(der, outer);
  if (!parts || parts.length !== 3 || parts[0]!.tag !== 0x30 || parts[1]!.tag !== 0x30 || parts[2]!.tag !== 0x03) return null;
  return { tbs: parts[0]!, alg: parts[1]!, sig: parts[2]! };
}

/** Parsed once per DER object: decodeSinglePem hands the same bytes to each reader of one certificate. */
const FIELDS = new WeakMap<Uint8Array, FastFields | null>();

export function fastFields(der: Uint8Array): FastFields | null {
  let f = FIELDS.get(der);
  if (f === undefined) FIELDS.set(der, (f = parseFields(der)));
  return f;
}

function parseFields(der: Uint8Array): FastFields | null {
  const cert = certificateParts(der);
  if (!cert) return null;
  const f = childrenOf(der, cert.tbs);
  // v3 only: [0] version, serial, signature, issuer, validity, subject, spki, then [3] extensions
  // (issuer/subject unique IDs, [1] and [2], are left to the library).
  if (!f || f.length !== 8 || f[0]!.tag !== 0xa0 || f[1]!.tag !== 0x02 || f[7]!.tag !== 0xa3) return null;
  const [, serialT, , issuerT, validityT, subjectT, spkiT, extsT] = f as [Tlv, Tlv, Tlv, Tlv, Tlv, Tlv, Tlv, Tlv];
  // The library prints a serial with its DER sign byte; positive serials without one are ours.
  if (serialT.end - serialT.body < 1 || der[serialT.body] === 0 || der[serialT.body]! & 0x80) return null;
  const issuer = commonNames(der, issuerT);
  const subject = commonNames(der, subjectT);
  const validity = childrenOf(der, validityT);
  if (!issuer || !subject || !validity || validity.length !== 2) return null;
  const notBefore = time(der, validity[0]!);
  const notAfter = time(der, validity[1]!);
  if (!notBefore || !notAfter || spkiT.tag !== 0x30) return null;
  const extsSeq = childrenOf(der, extsT);
  if (!extsSeq || extsSeq.length !== 1 || extsSeq[0]!.tag !== 0x30) return null;
  const exts = childrenOf(der, extsSeq[0]!);
  if (!exts) return null;
  let ski = "";
  let aki: string | null = null;
  let isCa = false;
  let pathLen: number | null = null;
  const dns: string[] = [];
  const uris: string[] = [];
  const permittedDns: string[] = [];
  const permittedUris: string[] = [];
  const seen = new Set<string>();
  for (const e of exts) {
    const p = e.tag === 0x30 ? childrenOf(der, e) : null;
    if (!p || p.length < 2 || p.length > 3 || p[0]!.tag !== 0x06) return null;
    const oid = hexOf(der, p[0]!.body, p[0]!.end);
    if (seen.has(oid)) return null;
    seen.add(oid);
    const valueT = p[p.length - 1]!;
    if (valueT.tag !== 0x04 || (p.length === 3 && p[1]!.tag !== 0x01)) return null;
    const v = tlvAt(der, valueT.body, valueT.end);
    if (!(oid in REVERSE)) continue; // extensions CertInfo does not read
    if (!v || v.end !== valueT.end) return null;
    switch (REVERSE[oid]) {
      case "basicConstraints": {
        const c = v.tag === 0x30 ? childrenOf(der, v) : null;
        if (!c) return null;
        let i = 0;
        if (c[i]?.tag === 0x01) isCa = der[c[i++]!.body] !== 0;
        if (c[i]) {
          const n = c[i++]!;
          if (n.tag !== 0x02 || n.end - n.body < 1 || n.end - n.body > 2 || der[n.body]! & 0x80) return null;
          pathLen = 0;
          for (let j = n.body; j < n.end; j++) pathLen = pathLen * 256 + der[j]!;
        }
        if (i !== c.length) return null;
        break;
      }
      case "subjectKeyId":
        if (v.tag !== 0x04) return null;
        ski = hexOf(der, v.body, v.end);
        break;
      case "authorityKeyId": {
        const c = v.tag === 0x30 ? childrenOf(der, v) : null;
        if (!c) return null;
        const k = c.find((x) => x.tag === 0x80);
        aki = k ? hexOf(der, k.body, k.end) : null;
        break;
      }
      case "subjectAltName":
        if (v.tag !== 0x30 || !generalNames(der, v, dns, uris)) return null;
        break;
      case "nameConstraints": {
        const c = v.tag === 0x30 ? childrenOf(der, v) : null;
        if (!c) return null;
        const permitted = c.find((x) => x.tag === 0xa0);
        for (const sub of permitted ? (childrenOf(der, permitted) ?? [null]) : []) {
          const s = sub && sub.tag === 0x30 ? childrenOf(der, sub) : null;
          if (!s || !s[0]) return null;
          const base = s[0];
          if (base.tag === 0x82 || base.tag === 0x86) {
            const t = text(der, { ...base, tag: 0x16 });
            if (t === null) return null;
            (base.tag === 0x82 ? permittedDns : permittedUris).push(t);
          }
        }
        break;
      }
    }
  }
  return {
    serial: hexOf(der, serialT.body, serialT.end),
    subjectCn: subject[0] ?? "",
    issuerCn: issuer[0] ?? "",
    notBefore, notAfter, ski, aki, isCa, pathLen, dns, uris, permittedDns, permittedUris,
    spki: der.slice(spkiT.start, spkiT.end),
  };
}

const REVERSE: Record<string, keyof typeof OID> = Object.fromEntries(Object.entries(OID).map(([k, v]) => [v, k as keyof typeof OID]));

/**
 * What signing under an issuer takes from its certificate besides FastFields: its subject Name
 * (DER, a child's issuer name byte for byte) and its keyUsage bits (bit n of the BIT STRING as
 * 1 << n, @peculiar/x509's KeyUsageFlags), null when it has none. Null for a shape left to the
 * library. For a certificate fastFields read.
 */
export function issuerFields(der: Uint8Array): { subjectName: Bytes; keyUsage: number | null } | null {
  const cert = certificateParts(der);
  const f = cert && childrenOf(der, cert.tbs);
  if (!f || f.length !== 8 || f[7]!.tag !== 0xa3) return null;
  const extsSeq = childrenOf(der, f[7]!);
  const exts = extsSeq?.length === 1 ? childrenOf(der, extsSeq[0]!) : null;
  if (!exts) return null;
  let keyUsage: number | null = null;
  for (const e of exts) {
    const p = e.tag === 0x30 ? childrenOf(der, e) : null;
    if (!p || p.length < 2 || p[0]!.tag !== 0x06) return null;
    if (hexOf(der, p[0]!.body, p[0]!.end) !== KEY_USAGE) continue;
    const value = p[p.length - 1]!;
    const bits = value.tag === 0x04 ? tlvAt(der, value.body, value.end) : null;
    if (!bits || bits.tag !== 0x03 || bits.end !== value.end || bits.end - bits.body < 2 || der[bits.body]! > 7) return null;
    keyUsage = 0;
    for (let i = bits.body + 1; i < bits.end; i++) {
      for (let b = 0; b < 8; b++) if (der[i]! & (0x80 >> b)) keyUsage |= 1 << ((i - bits.body - 1) * 8 + b);
    }
  }
  return { subjectName: der.slice(f[5]!.start, f[5]!.end), keyUsage };
}
const KEY_USAGE = "551d0f";

/**
 * The SubjectPublicKeyInfo (DER) of any well-formed certificate, whatever its key or extensions:
 * TBSCertificate's seventh field, sixth without the [0] version (RFC 5280 §4.1). Null for bytes
 * that are no certificate. Key comparisons need nothing more, so they never load @peculiar/x509.
 */
export function certificateSpki(der: Uint8Array): Bytes | null {
  const fast = fastFields(der);
  if (fast) return fast.spki;
  const cert = certificateParts(der);
  const f = cert && childrenOf(der, cert.tbs);
  const spki = f?.[f[0]?.tag === 0xa0 ? 6 : 5];
  return spki?.tag === 0x30 ? der.slice(spki.start, spki.end) : null;
}

/** Dotted text of an OBJECT IDENTIFIER element. */
export function oidText(der: Bytes, t: Tlv): string {
  const parts: number[] = [];
  let v = 0;
  for (let i = t.body; i < t.end; i++) {
    v = v * 128 + (der[i]! & 0x7f);
    if (!(der[i]! & 0x80)) {
      if (!parts.length) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}
