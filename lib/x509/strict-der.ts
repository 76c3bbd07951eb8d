// DER as strictly as the strictest verifier reads it. A certificate or CRL that one stack
// accepts and another refuses means something different on each, so `pki verify` reports every
// such defect as its own finding. The readers (fast-parse.ts and @peculiar/x509) are lenient on
// purpose (they read what is there); this pass is the judge, run on every certificate and CRL
// whichever reader parsed it. Walks the DER once, no allocation beyond the findings: a few
// microseconds per certificate (scripts/bench.ts, "strict DER").
import { childrenOf, oidText, tlvAt, type Tlv } from "./fast-parse.ts";
import { bytesEqual, type Bytes } from "./pem.ts";

/** What is wrong, by kind (verify prefixes `cert.` or `crl.`), with one clause saying where. */
export type DefectCode =
  | "der-encoding" // not well-formed DER: a non-minimal length, bytes that do not tile their container
  | "signature-algorithm-mismatch" // RFC 5280 §4.1.1.2 / §5.1.1.2
  | "ecdsa-signature" // RFC 5480 §2.2 / RFC 3279 §2.2.3 Ecdsa-Sig-Value, DER (X.690 §8.3, §10)
  | "boolean" // X.690 §11.1: one content byte, 0x00 or 0xFF; §11.5: DEFAULT FALSE is omitted
  | "duplicate-extension" // RFC 5280 §4.2 / §5.2: at most one instance of an extension
  | "bad-time"; // RFC 5280 §4.1.2.5 / §5.1.2.4: well-formed UTCTime/GeneralizedTime, dates that exist

export interface Defect {
  readonly code: DefectCode;
  readonly detail: string;
}

function HEX(b: Uint8Array, t: Tlv): string {
  let s = "";
  for (let i = t.start; i < t.end; i++) s += (b[i]! < 16 ? "0" : "") + b[i]!.toString(16);
  return s;
}

// Curve orders n (SEC 2 §2.4.2, §2.5.1): an ECDSA r or s must lie in [1, n-1].
const ORDERS: Record<string, bigint> = {
  // id-ecPublicKey parameters: prime256v1, secp384r1
  "06082a8648ce3d030107": 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  "06052b81040022": 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
};
const ECDSA_PREFIX = Uint8Array.from([0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03]); // ecdsa-with-SHA*

/** The curve order of an EC SubjectPublicKeyInfo (DER), or null for another key type or curve. */
export function curveOrder(spki: Bytes): bigint | null {
  const top = tlvAt(spki, 0);
  const alg = top && top.tag === 0x30 ? childrenOf(spki, top)?.[0] : null;
  const params = alg && alg.tag === 0x30 ? childrenOf(spki, alg)?.[1] : null;
  return params ? (ORDERS[HEX(spki, params)] ?? null) : null;
}

/** Every defect of a DER certificate. `order`: the issuer's curve order, to bound r and s. */
export function certificateDefects(der: Bytes, order: bigint | null = null): Defect[] {
  const out: Defect[] = [];
  const top = shape(der, out);
  if (!top) return out;
  const [tbs, alg, sig] = top;
  const f = childrenOf(der, tbs)!;
  const at = f[0]?.tag === 0xa0 ? 1 : 0; // [0] version is optional (v1)
  sameAlgorithm(der, f[at + 1], alg, out);
  signatureValue(der, alg, sig, order, out);
  const validity = f[at + 3];
  const times = validity && validity.tag === 0x30 ? childrenOf(der, validity) : null;
  if (!times || times.length !== 2) out.push({ code: "der-encoding", detail: "the validity is not a SEQUENCE of two times" });
  else {
    const [nb, na] = [time(der, times[0]!, "notBefore", out), time(der, times[1]!, "notAfter", out)];
    if (nb !== null && na !== null && nb > na) out.push({ code: "bad-time", detail: `notBefore ${iso(nb)} is after notAfter ${iso(na)}` });
  }
  const exts = f.find((x) => x.tag === 0xa3);
  if (exts) {
    const seq = childrenOf(der, exts);
    if (!seq || seq.length !== 1 || seq[0]!.tag !== 0x30) out.push({ code: "der-encoding", detail: "[3] extensions is not one SEQUENCE" });
    else extensions(der, seq[0]!, "", out);
  }
  walk(der, tbs, out);
  return out;
}

/** Every defect of a DER CRL (RFC 5280 §5.1): the same rules over TBSCertList and its entries. */
export function crlDefects(der: Bytes, order: bigint | null = null): Defect[] {
  const out: Defect[] = [];
  const top = shape(der, out);
  if (!top) return out;
  const [tbs, alg, sig] = top;
  const f = childrenOf(der, tbs)!;
  const at = f[0]?.tag === 0x02 ? 1 : 0; // version is optional (v1)
  sameAlgorithm(der, f[at], alg, out);
  signatureValue(der, alg, sig, order, out);
  let i = at + 2;
  const thisUpdate = f[i] ? time(der, f[i++]!, "thisUpdate", out) : null;
  const nextUpdate = f[i] && (f[i]!.tag === 0x17 || f[i]!.tag === 0x18) ? time(der, f[i++]!, "nextUpdate", out) : null;
  if (thisUpdate !== null && nextUpdate !== null && thisUpdate > nextUpdate) out.push({ code: "bad-time", detail: `thisUpdate ${iso(thisUpdate)} is after nextUpdate ${iso(nextUpdate)}` });
  if (f[i]?.tag === 0x30) {
    for (const [n, entry] of (childrenOf(der, f[i++]!) ?? []).entries()) {
      const e = entry.tag === 0x30 ? childrenOf(der, entry) : null;
      if (!e || e.length < 2) {
        out.push({ code: "der-encoding", detail: `revoked entry ${n + 1} is not a SEQUENCE of serial and date` });
        continue;
      }
      time(der, e[1]!, `revocationDate of entry ${n + 1}`, out);
      if (e[2]) extensions(der, e[2], ` of revoked entry ${n + 1}`, out);
    }
  }
  const exts = f[i]?.tag === 0xa0 ? childrenOf(der, f[i]!) : null;
  if (exts?.length === 1 && exts[0]!.tag === 0x30) extensions(der, exts[0]!, " of the CRL", out);
  walk(der, tbs, out);
  return out;
}

/** The outer SEQUENCE { tbs, signatureAlgorithm, signature BIT STRING }, spanning all the bytes. */
function shape(der: Bytes, out: Defect[]): [Tlv, Tlv, Tlv] | null {
  const top = tlvAt(der, 0);
  const parts = top && top.tag === 0x30 && top.end === der.length ? childrenOf(der, top) : null;
  if (!parts || parts.length !== 3 || parts[0]!.tag !== 0x30 || parts[1]!.tag !== 0x30 || parts[2]!.tag !== 0x03 || !childrenOf(der, parts[0]!)) {
    out.push({ code: "der-encoding", detail: "it is not SEQUENCE { to-be-signed SEQUENCE, AlgorithmIdentifier, BIT STRING } over exactly its bytes" });
    return null;
  }
  minimalLength(der, top!, out);
  return [parts[0]!, parts[1]!, parts[2]!];
}

/** RFC 5280 §4.1.1.2: the signatureAlgorithm outside must be the signature field inside, byte for byte. */
function sameAlgorithm(der: Bytes, inner: Tlv | undefined, outer: Tlv, out: Defect[]): void {
  if (!inner || !bytesEqual(der.subarray(inner.start, inner.end), der.subarray(outer.start, outer.end))) {
    out.push({ code: "signature-algorithm-mismatch", detail: `the outer signatureAlgorithm (${HEX(der, outer)}) differs from the signed one (${inner ? HEX(der, inner) : "absent"})` });
  }
}

/** An ECDSA signature: BIT STRING, 0 unused bits, holding exactly SEQUENCE { r INTEGER, s INTEGER }, minimal and in [1, n-1]. */
function signatureValue(der: Bytes, alg: Tlv, sig: Tlv, order: bigint | null, out: Defect[]): void {
  const oid = childrenOf(der, alg)?.[0];
  if (!oid || !bytesEqual(der.subarray(oid.start, oid.start + ECDSA_PREFIX.length), ECDSA_PREFIX)) return;
  const bad = (why: string) => out.push({ code: "ecdsa-signature", detail: `the ECDSA signature ${why}` });
  if (sig.end - sig.body < 1 || der[sig.body] !== 0) return void bad("BIT STRING has unused bits");
  const seq = tlvAt(der, sig.body + 1, sig.end);
  if (!seq || seq.tag !== 0x30) return void bad("is not a DER SEQUENCE");
  if (seq.end !== sig.end) return void bad(`has ${sig.end - seq.end} byte(s) after its SEQUENCE`);
  minimalLength(der, seq, out);
  const rs = childrenOf(der, seq);
  if (!rs || rs.length !== 2 || rs.some((x) => x.tag !== 0x02)) return void bad("is not SEQUENCE { INTEGER r, INTEGER s }");
  for (const [name, x] of [["r", rs[0]!], ["s", rs[1]!]] as const) {
    minimalLength(der, x, out);
    const len = x.end - x.body;
    if (len === 0) bad(`${name} is empty`);
    else if (der[x.body]! & 0x80) bad(`${name} is negative`);
    else if (len > 1 && der[x.body] === 0 && !(der[x.body + 1]! & 0x80)) bad(`${name} has a leading zero byte that DER forbids`);
    else {
      let v = 0n;
      for (let i = x.body; i < x.end; i++) v = (v << 8n) | BigInt(der[i]!);
      if (v === 0n) bad(`${name} is zero`);
      else if (order !== null && v >= order) bad(`${name} is not below the curve order`);
    }
  }
}

/** The extensions SEQUENCE: each OID at most once, critical encoded only when TRUE. */
function extensions(der: Bytes, seq: Tlv, where: string, out: Defect[]): void {
  const seen = new Set<string>();
  for (const e of childrenOf(der, seq) ?? []) {
    const p = e.tag === 0x30 ? childrenOf(der, e) : null;
    if (!p || p.length < 2 || p[0]!.tag !== 0x06) {
      out.push({ code: "der-encoding", detail: `an extension${where} is not SEQUENCE { OID, [critical], OCTET STRING }` });
      continue;
    }
    const oid = HEX(der, p[0]!);
    if (seen.has(oid)) out.push({ code: "duplicate-extension", detail: `extension ${oidText(der, p[0]!)} appears more than once${where}` });
    seen.add(oid);
    if (p.length === 3 && p[1]!.tag === 0x01 && p[1]!.end - p[1]!.body === 1 && der[p[1]!.body] === 0) {
      out.push({ code: "boolean", detail: `extension ${oidText(der, p[0]!)}${where} encodes critical FALSE, a DEFAULT that DER omits` });
    }
    const value = p[p.length - 1]!;
    if (value.tag !== 0x04) continue;
    // extnValue holds the DER of the extension (RFC 5280 §4.1): judged like the rest.
    const inner = tlvAt(der, value.body, value.end);
    if (!inner || inner.end !== value.end) out.push({ code: "der-encoding", detail: `extension ${oidText(der, p[0]!)}${where} does not hold exactly one DER value` });
    else walk(der, inner, out);
  }
}

/** Every element under `t`: minimal lengths, constructed content that tiles, BOOLEANs of one byte 0x00/0xFF. */
function walk(der: Bytes, t: Tlv, out: Defect[]): void {
  minimalLength(der, t, out);
  if (t.tag === 0x01 && (t.end - t.body !== 1 || (der[t.body] !== 0 && der[t.body] !== 0xff))) {
    out.push({ code: "boolean", detail: `a BOOLEAN at byte ${t.start} is ${HEX(der, t)}; DER allows only 010100 and 0101ff` });
  }
  if (!(t.tag & 0x20)) return;
  const kids = childrenOf(der, t);
  if (!kids) return void out.push({ code: "der-encoding", detail: `the element at byte ${t.start} does not hold whole DER elements` });
  for (const k of kids) walk(der, k, out);
}

/** X.690 §10.1: the definite length in its fewest bytes. */
function minimalLength(der: Bytes, t: Tlv, out: Defect[]): void {
  const n = t.body - t.start - 2;
  if (n <= 0) return;
  const len = t.end - t.body;
  if (len < 0x80 || der[t.start + 2] === 0) out.push({ code: "der-encoding", detail: `the element at byte ${t.start} spells its length ${len} in ${n + 1} bytes` });
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * RFC 5280 §4.1.2.5: UTCTime YYMMDDHHMMSSZ for 1950–2049, GeneralizedTime YYYYMMDDHHMMSSZ (no
 * fractions) from 2050; both must name an instant that exists. Milliseconds, or null if not.
 */
function time(der: Bytes, t: Tlv, what: string, out: Defect[]): number | null {
  const s = String.fromCharCode(...der.subarray(t.body, t.end));
  const m = t.tag === 0x17 ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s) : t.tag === 0x18 ? /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s) : null;
  const bad = (why: string) => (out.push({ code: "bad-time", detail: `${what} "${s}" ${why}` }), null);
  if (!m) return bad(t.tag === 0x17 || t.tag === 0x18 ? `is not ${t.tag === 0x17 ? "YYMMDDHHMMSSZ" : "YYYYMMDDHHMMSSZ"}` : "is neither UTCTime nor GeneralizedTime");
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const year = t.tag === 0x17 ? (y < 50 ? 2000 + y : 1900 + y) : y;
  if (t.tag === 0x18 && year < 2050) return bad("is a GeneralizedTime before 2050, which RFC 5280 §4.1.2.5 says must be a UTCTime");
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (mo < 1 || mo > 12 || d < 1 || d > DAYS[mo - 1]! + (mo === 2 && leap ? 1 : 0) || h > 23 || mi > 59 || se > 59) return bad("is not a date and time that exists");
  return Date.UTC(year, mo - 1, d, h, mi, se);
}

const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");
