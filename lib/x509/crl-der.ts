// The CRL createCrl signs (crl-sign.ts), encoded straight to DER. It was built as an object tree
// for @peculiar/asn1-schema to serialise, which tied every renewal (it re-signs each scope's CRL)
// to loading the certificate library. Pure: no @peculiar/*, no node: module.
//
// Byte for byte that library's encoding: test/crl-der.test.ts builds the same CRL with
// asn1-schema and compares, including the quirks that matter for identity — a non-critical
// extension has no `critical` BOOLEAN (DER omits a DEFAULT value, X.690 §11.5), an entry without
// a reason has no crlEntryExtensions at all, and an empty list has no revokedCertificates.
//
// Like lib/x509/leaf-der.ts, on the same writer (der-writer.ts).
import { X509Error } from "./errors.ts";
import { hdr, intContent, intSize, put, putAscii, putInt, timeText, tlvSize, type IntContent, type Writer } from "./der-writer.ts";
import { ECDSA_SHA256_ALG } from "./p256.ts";
import { fromHex, type Bytes } from "../bytes.ts";

/** One revoked certificate: its serial as unsigned big-endian bytes (no sign byte), its revocation date (whole seconds), its CRLReason code (0 = no reasonCode extension, as createCrl omits "unspecified"). */
export interface CrlDerEntry {
  readonly serial: Uint8Array;
  readonly date: Date;
  readonly reasonCode: number;
}

export interface CrlDerFields {
  /** DER Name of the issuer (copied verbatim). */
  readonly issuerName: Uint8Array;
  /** Whole seconds (any milliseconds are dropped, as asn1x509.Time drops them). */
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** May be empty: then revokedCertificates is absent (RFC 5280 §5.1.2.6). */
  readonly entries: readonly CrlDerEntry[];
  /** DER of the whole authorityKeyIdentifier Extension (copied verbatim). */
  readonly akiDer: Uint8Array;
  /** Non-negative safe integer. */
  readonly crlNumber: number;
}

/** An INTEGER's content from unsigned bytes; an empty serial is no serial. */
function intOf(bytes: Uint8Array, what: string): IntContent {
  if (bytes.length === 0) throw new X509Error(`${what} is empty`);
  return intContent(bytes);
}

/**
 * RFC 5280 §5.1.2.4/§4.1.2.5: UTCTime (YYMMDDHHMMSSZ) through 2049, GeneralizedTime
 * (YYYYMMDDHHMMSSZ) from 2050, as asn1x509.Time picks; milliseconds dropped. Before 1950 the
 * reference writes a UTCTime that reads back a century late: refused here instead.
 */
function timeOf(d: Date, what: string): { tag: number; text: string } {
  const y = d instanceof Date ? d.getUTCFullYear() : NaN;
  if (!(y >= 1950 && y <= 9999)) throw new X509Error(`${what} ${String(d)} is not a date between 1950 and 9999`);
  return timeText(d);
}

// ---- the CRL ---------------------------------------------------------------------------------

const SEQUENCE = 0x30;
const VERSION_2 = fromHex("020101"); // v2 (§5.1.2.1): the CRL has extensions
const SIG_ALG = ECDSA_SHA256_ALG;
// crlEntryExtensions with one non-critical reasonCode (§5.3.1), up to the ENUMERATED's one
// content byte: SEQUENCE { SEQUENCE { OID 2.5.29.21, OCTET STRING { ENUMERATED code } } }.
const REASON_PREFIX = fromHex("300c300a0603551d1504030a01");
// cRLNumber (§5.2.3), non-critical: SEQUENCE { OID 2.5.29.20, OCTET STRING { INTEGER } }.
const OID_CRL_NUMBER = fromHex("0603551d14");

/** The cRLNumber's content octets: minimal, with a 0x00 when the high bit is set. */
function crlNumberContent(n: number): IntContent {
  if (!Number.isSafeInteger(n) || n < 0) throw new X509Error(`crl number ${JSON.stringify(n)} is not a non-negative safe integer`);
  const bytes: number[] = [];
  // Division, not shifts: numbers past 2^31 are still exact below 2^53.
  do {
    bytes.unshift(n % 256);
    n = Math.floor(n / 256);
  } while (n > 0);
  return intOf(Uint8Array.from(bytes), "crl number");
}

/** TBSCertList DER: SEQUENCE { version v2 (INTEGER 1), signature AlgorithmIdentifier ecdsa-with-SHA256 (no params), issuer, thisUpdate, nextUpdate, revokedCertificates?, [0] EXPLICIT Extensions { akiDer, cRLNumber (2.5.29.20, non-critical, OCTET STRING { INTEGER }) } } */
export function tbsCertListDer(f: CrlDerFields): Bytes {
  if (f.issuerName[0] !== SEQUENCE) throw new X509Error("crl issuer name is not a DER SEQUENCE");
  if (f.akiDer[0] !== SEQUENCE) throw new X509Error("crl authorityKeyIdentifier is not a DER Extension");
  const thisUpdate = timeOf(f.thisUpdate, "crl thisUpdate");
  const nextUpdate = timeOf(f.nextUpdate, "crl nextUpdate");
  const number = crlNumberContent(f.crlNumber);
  // Sizes, innermost first; each entry's parts are kept for the writing pass.
  const entries = f.entries.map((e, i) => {
    const serial = intOf(e.serial, `crl entry ${i} serial`);
    const date = timeOf(e.date, `crl entry ${i} revocation date`);
    const code = e.reasonCode;
    if (!Number.isInteger(code) || code < 0 || code > 10 || code === 7) {
      throw new X509Error(`crl entry ${i}: reason code ${JSON.stringify(code)} is not a CRLReason (§5.3.1)`);
    }
    const content = intSize(serial) + tlvSize(date.text.length) + (code ? REASON_PREFIX.length + 1 : 0);
    return { serial, date, code, content };
  });
  let listContent = 0;
  for (const e of entries) listContent += tlvSize(e.content);
  const numberOctet = intSize(number);
  const numberExt = OID_CRL_NUMBER.length + tlvSize(numberOctet);
  const extsContent = f.akiDer.length + tlvSize(numberExt);
  const tbsContent = VERSION_2.length + SIG_ALG.length + f.issuerName.length
    + tlvSize(thisUpdate.text.length) + tlvSize(nextUpdate.text.length)
    + (entries.length ? tlvSize(listContent) : 0) + tlvSize(tlvSize(extsContent));

  const w: Writer = { buf: new Uint8Array(tlvSize(tbsContent)), at: 0 };
  hdr(w, SEQUENCE, tbsContent);
  put(w, VERSION_2);
  put(w, SIG_ALG);
  put(w, f.issuerName);
  hdr(w, thisUpdate.tag, thisUpdate.text.length);
  putAscii(w, thisUpdate.text);
  hdr(w, nextUpdate.tag, nextUpdate.text.length);
  putAscii(w, nextUpdate.text);
  if (entries.length) {
    hdr(w, SEQUENCE, listContent);
    for (const e of entries) {
      hdr(w, SEQUENCE, e.content);
      putInt(w, e.serial);
      hdr(w, e.date.tag, e.date.text.length);
      putAscii(w, e.date.text);
      if (e.code) {
        put(w, REASON_PREFIX);
        w.buf[w.at++] = e.code;
      }
    }
  }
  hdr(w, 0xa0, tlvSize(extsContent)); // crlExtensions [0] EXPLICIT
  hdr(w, SEQUENCE, extsContent);
  put(w, f.akiDer);
  hdr(w, SEQUENCE, numberExt);
  put(w, OID_CRL_NUMBER);
  hdr(w, 0x04, numberOctet);
  putInt(w, number);
  if (w.at !== w.buf.length) throw new X509Error(`internal: TBSCertList is ${w.at} bytes, sized ${w.buf.length}`);
  return w.buf;
}

/** CertificateList DER: SEQUENCE { tbs, AlgorithmIdentifier ecdsa-with-SHA256, BIT STRING (0 unused bits) { ECDSA-Sig-Value SEQUENCE { r INTEGER, s INTEGER } } } from a 64-byte P1363 r||s signature (minimal positive INTEGERs). */
export function certificateListDer(tbs: Uint8Array, sig: Uint8Array): Bytes {
  if (!(sig instanceof Uint8Array) || sig.length !== 64) {
    throw new X509Error(`crl signature is ${sig instanceof Uint8Array ? `${sig.length} bytes` : typeof sig}; expected a 64-byte P1363 r||s ECDSA P-256 signature`, "bad-signature");
  }
  if (tbs[0] !== SEQUENCE) throw new X509Error("crl TBSCertList is not a DER SEQUENCE");
  // ECDSA-Sig-Value (RFC 3279 §2.2.3): r and s as INTEGERs, not the fixed-width halves.
  const r = intContent(sig.subarray(0, 32));
  const s = intContent(sig.subarray(32));
  const sigSeq = intSize(r) + intSize(s);
  const bits = 1 + tlvSize(sigSeq); // the unused-bits octet, then the SEQUENCE
  const content = tbs.length + SIG_ALG.length + tlvSize(bits);
  const w: Writer = { buf: new Uint8Array(tlvSize(content)), at: 0 };
  hdr(w, SEQUENCE, content);
  put(w, tbs);
  put(w, SIG_ALG);
  hdr(w, 0x03, bits);
  w.buf[w.at++] = 0;
  hdr(w, SEQUENCE, sigSeq);
  putInt(w, r);
  putInt(w, s);
  return w.buf;
}
