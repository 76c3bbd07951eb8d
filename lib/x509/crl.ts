// Certificate revocation lists (RFC 5280 §5), signed through the Signer seam.
import { X509Error } from "./errors.ts";
import { errText } from "./parse.ts";
import { assertSingleDerElement, decodeSinglePem, encodePem, type Bytes } from "./pem.ts";
import { loadIssuer } from "./profiles.ts";
import { validity } from "./validity.ts";
import { isKeySigner, type Issuer } from "./signer.ts";
import { AsnConvert, OctetString, asn1x509, x509 } from "./vendor.ts";
import type { RevocationReason } from "../model/revocation.ts";

const ID_CE_CRL_NUMBER = "2.5.29.20";
// openssl reads only this label; @peculiar/x509's toString("pem") writes "BEGIN CRL".
const CRL_LABEL = "X509 CRL";

/** A parsed CRL, as plain data. */
export interface CrlInfo {
  issuerCn: string;
  thisUpdate: Date;
  nextUpdate: Date | null;
  crlNumber: number | null;
  /** Lowercase hex serials, in CRL order. */
  revokedSerials: string[];
  /** Each entry's reasonCode (null: none), in CRL order. */
  reasons: (RevocationReason | null)[];
  /** Entries that carry an empty crlEntryExtensions SEQUENCE, which §5.1 forbids. */
  emptyEntryExtensions: number;
  /** The authorityKeyIdentifier keyIdentifier (lowercase hex), to match the CRL to its root. */
  aki: string | null;
}

/** RFC 5280 §5.3.1 CRLReason codes of the reasons lib/model offers. */
const REASON_CODE: Readonly<Record<RevocationReason, number>> = {
  "unspecified": 0,
  "key-compromise": 1,
  "affiliation-changed": 3,
  "superseded": 4,
  "cessation-of-operation": 5,
  "privilege-withdrawn": 9,
};
const REASON_OF_CODE = new Map(Object.entries(REASON_CODE).map(([k, c]) => [c, k as RevocationReason]));
// ecdsa-with-SHA256 (RFC 5758 §3.2): parameters absent.
const ECDSA_SHA256 = "1.2.840.10045.4.3.2";

/** One revoked certificate: its serial (hex), when, and why (absent: no reasonCode). */
export interface CrlEntry {
  serial: string;
  date: Date;
  reason?: RevocationReason;
}

/**
 * An X.509 v2 CRL (§5.1.2.1) issued by `issuer`, with the authorityKeyIdentifier (§5.2.1: MUST)
 * and cRLNumber (§5.2.3: MUST, non-critical, monotonically increasing — the caller keeps the
 * count) extensions. Each entry carries a reasonCode (§5.3.1, non-critical) unless its reason
 * is "unspecified", which §5.3.1 says SHOULD be absent; an entry without extensions has no
 * crlEntryExtensions field at all — §5.1 forbids the empty SEQUENCE @peculiar/x509's generator
 * writes (PKI.js refuses such a CRL), so the TBSCertList is built here. Returns PEM labelled
 * "X509 CRL", ending with "\n".
 */
export async function createCrl(o: {
  issuer: Issuer;
  thisUpdate: Date;
  nextUpdate: Date;
  crlNumber: number;
  revoked: readonly CrlEntry[];
}): Promise<string> {
  if (!Number.isSafeInteger(o.crlNumber) || o.crlNumber < 0) {
    throw new X509Error(`crl number ${JSON.stringify(o.crlNumber)} is not a non-negative integer`);
  }
  const ca = await loadIssuer(o.issuer, "crl");
  const what = `crl of "${ca.info.subjectCn}"`;
  // Reuse the certificate validity rules: whole seconds, nextUpdate after thisUpdate.
  const { notBefore: thisUpdate, notAfter: nextUpdate } = validity(
    { notBefore: o.thisUpdate, notAfter: o.nextUpdate },
    what,
    null,
  );
  const seen = new Set<string>();
  const entries = (o.revoked ?? []).map(({ serial, date, reason }) => {
    const s = normaliseSerial(serial, what);
    if (seen.has(s)) throw new X509Error(`${what}: serial ${s} is listed twice`);
    seen.add(s);
    if (reason !== undefined && !(reason in REASON_CODE)) {
      throw new X509Error(`${what}: revocation reason ${JSON.stringify(reason)} is not one of ${Object.keys(REASON_CODE).join(", ")}`);
    }
    const code = reason === undefined ? 0 : REASON_CODE[reason];
    return new asn1x509.RevokedCertificate({
      userCertificate: new Uint8Array(derUnsigned(hexBytes(s)).slice(2)).buffer, // serials are positive (§4.1.2.2)
      revocationDate: new asn1x509.Time(new Date(Math.floor(date.getTime() / 1000) * 1000)),
      ...(code === 0 ? {} : {
        crlEntryExtensions: [new asn1x509.Extension({
          extnID: asn1x509.id_ce_cRLReasons, critical: false, extnValue: new OctetString(AsnConvert.serialize(new asn1x509.CRLReason(code))),
        })],
      }),
    });
  });
  const alg = new asn1x509.AlgorithmIdentifier({ algorithm: ECDSA_SHA256 });
  let der: Bytes;
  try {
    const tbsCertList = new asn1x509.TBSCertList({
      version: asn1x509.Version.v2,
      signature: alg,
      issuer: AsnConvert.parse(ca.subjectName, asn1x509.Name),
      thisUpdate: new asn1x509.Time(thisUpdate),
      nextUpdate: new asn1x509.Time(nextUpdate),
      // §5.1.2.6: when there are no revoked certificates, the list MUST be absent.
      ...(entries.length ? { revokedCertificates: entries } : {}),
      crlExtensions: new asn1x509.Extensions([
        AsnConvert.parse(ca.akiDer, asn1x509.Extension),
        new asn1x509.Extension({ extnID: ID_CE_CRL_NUMBER, critical: false, extnValue: new OctetString(derInteger(o.crlNumber)) }),
      ]),
    });
    const tbs = new Uint8Array(AsnConvert.serialize(tbsCertList));
    const sig = await ca.signer.sign(tbs);
    if (!(sig instanceof Uint8Array) || sig.length !== 64) {
      throw new X509Error(`${what}: the signer returned ${sig instanceof Uint8Array ? `${sig.length} bytes` : typeof sig}; expected a 64-byte P1363 r||s ECDSA P-256 signature`, "bad-signature");
    }
    der = new Uint8Array(AsnConvert.serialize(new asn1x509.CertificateList({
      tbsCertList, signatureAlgorithm: alg, signature: ecdsaSigValue(sig).buffer,
    })));
  } catch (cause) {
    if (cause instanceof X509Error) throw cause;
    throw new X509Error(`${what}: ${errText(cause)}`, "bad-input", { cause });
  }
  // A signer that signs the wrong bytes or with the wrong key (an HSM, a KMS) must not produce a
  // CRL: it must verify with the issuer's certificate. keySigner signs with the key it checked on
  // first use, so, as for certificates (profiles.ts issue), only other signers pay for the check
  // (a parse and a verification, about 1.4 ms a CRL: a fleet renewal signs one per scope).
  if (!isKeySigner(ca.signer) && !(await new x509.X509Crl(der).verify({ publicKey: ca.cert.publicKey }))) {
    throw new X509Error(`${what}: the signer's signature does not verify`, "bad-signature");
  }
  return encodePem(CRL_LABEL, der);
}

/** Parses exactly one PEM CRL ("X509 CRL"). Throws X509Error on anything else. */
export function parseCrl(pem: string, what = "input"): CrlInfo {
  const describe = (why: string) => `${what} is not a PEM CRL: ${why}`;
  const der = decodeSinglePem(pem, CRL_LABEL, describe);
  assertSingleDerElement(der, describe);
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(der);
  } catch (cause) {
    throw new X509Error(describe(`the DER is not a CRL (${errText(cause)})`), "bad-der", { cause });
  }
  const number = crl.getExtension(ID_CE_CRL_NUMBER);
  const aki = crl.getExtension<x509.AuthorityKeyIdentifierExtension>(
    "2.5.29.35",
  );
  return {
    issuerCn: crl.issuerName.getField("CN")[0] ?? "",
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate ?? null,
    crlNumber: number ? readDerInteger(new Uint8Array(number.value), describe) : null,
    revokedSerials: crl.entries.map((e) => e.serialNumber.toLowerCase()),
    reasons: crl.entries.map((e) => {
      const code = e.reason;
      return code === undefined ? null : (REASON_OF_CODE.get(code) ?? null);
    }),
    emptyEntryExtensions: emptyEntryExtensions(der),
    aki: aki?.keyId?.toLowerCase() ?? null,
  };
}

function normaliseSerial(serial: string, what: string): string {
  if (typeof serial !== "string" || !/^[0-9a-fA-F]+$/.test(serial)) {
    throw new X509Error(`${what}: revoked serial ${JSON.stringify(serial)} is not hex`);
  }
  const s = serial.toLowerCase();
  return s.length % 2 ? `0${s}` : s;
}

/** DER INTEGER of a non-negative safe integer (§5.2.3 allows up to 20 octets; we need ≤ 8). */
function derInteger(n: number): Bytes {
  const bytes: number[] = [];
  let v = BigInt(n);
  do {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v > 0n);
  // A set high bit would read as negative: prepend a zero octet (X.690 §8.3).
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return new Uint8Array([0x02, bytes.length, ...bytes]);
}

function readDerInteger(der: Uint8Array, describe: (why: string) => string): number {
  const len = der[1] ?? 0;
  if (der[0] !== 0x02 || len < 1 || len > 9 || der.length !== 2 + len || der[2]! & 0x80) {
    throw new X509Error(describe("the CRL number is not a small non-negative INTEGER"), "bad-der");
  }
  let v = 0n;
  for (const b of der.subarray(2)) v = (v << 8n) | BigInt(b);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new X509Error(describe("the CRL number is too large"), "bad-der");
  }
  return Number(v);
}

const hexBytes = (h: string): Bytes => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));

/** An unsigned big-endian integer as a minimal positive DER INTEGER (X.690 §8.3). */
function derUnsigned(bytes: Uint8Array): number[] {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const body = [...bytes.subarray(i)];
  if (body[0]! & 0x80) body.unshift(0);
  return [0x02, body.length, ...body];
}

/** ECDSA-Sig-Value (RFC 5480 §2.2 / RFC 3279 §2.2.3) of a P1363 r||s signature, as BIT STRING content. */
function ecdsaSigValue(sig: Uint8Array): Bytes {
  const body = [...derUnsigned(sig.subarray(0, 32)), ...derUnsigned(sig.subarray(32))];
  return new Uint8Array([0x30, body.length, ...body]);
}

/** The elements (offset, header length, content length) of the DER constructed element at `at`. */
function children(der: Uint8Array, at: number): { at: number; tag: number; hdr: number; len: number }[] {
  const head = (i: number): [number, number] => {
    const b = der[i + 1]!;
    if (!(b & 0x80)) return [2, b];
    let v = 0;
    for (let k = 0; k < (b & 0x7f); k++) v = v * 256 + der[i + 2 + k]!;
    return [2 + (b & 0x7f), v];
  };
  const [h, l] = head(at);
  const out: { at: number; tag: number; hdr: number; len: number }[] = [];
  for (let i = at + h; i < at + h + l && i < der.length;) {
    const [hh, ll] = head(i);
    out.push({ at: i, tag: der[i]!, hdr: hh, len: ll });
    i += hh + ll;
  }
  return out;
}

/**
 * Revoked entries whose crlEntryExtensions is present but empty (`30 00`), read off the DER itself
 * (the parser drops an empty list, so its object model cannot tell). TBSCertList (§5.1):
 * SEQUENCE { version?, signature, issuer, thisUpdate, nextUpdate?, revokedCertificates?, [0] exts? }.
 */
function emptyEntryExtensions(der: Uint8Array): number {
  try {
    const tbs = children(der, 0)[0]!;
    const parts = children(der, tbs.at);
    let i = parts[0]?.tag === 0x02 ? 1 : 0; // version
    i += 3; // signature, issuer, thisUpdate
    if (parts[i]?.tag === 0x17 || parts[i]?.tag === 0x18) i++; // nextUpdate
    const list = parts[i];
    if (list?.tag !== 0x30) return 0;
    return children(der, list.at).filter((entry) => {
      const ext = children(der, entry.at)[2];
      return ext !== undefined && ext.tag === 0x30 && ext.len === 0;
    }).length;
  } catch {
    return 0; // malformed DER is the parser's to refuse
  }
}
