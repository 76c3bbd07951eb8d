// Signing a certificate revocation list (RFC 5280 §5) through the Signer seam, encoded by
// crl-der.ts: a renewal re-signs every scope's CRL, and building it with @peculiar/x509 loaded
// the library (about 70 ms) into a run that otherwise never needs it. Reading CRLs is crl.ts.
import { X509Error } from "./errors.ts";
import { errText } from "./cert-info.ts";
import { encodePem } from "./pem.ts";
import { fromHex } from "../bytes.ts";
import { loadIssuer } from "./issuer.ts";
import { validity } from "./validity.ts";
import { isKeySigner, type Issuer } from "./signer.ts";
import { certificateListDer, tbsCertListDer, type CrlDerEntry } from "./crl-der.ts";
import type { RevocationReason } from "../model/revocation.ts";

// openssl reads only this label; @peculiar/x509's toString("pem") writes "BEGIN CRL".
export const CRL_LABEL = "X509 CRL";

/** RFC 5280 §5.3.1 CRLReason codes of the reasons lib/model offers. */
export const REASON_CODE: Readonly<Record<RevocationReason, number>> = {
  "unspecified": 0,
  "key-compromise": 1,
  "affiliation-changed": 3,
  "superseded": 4,
  "cessation-of-operation": 5,
  "privilege-withdrawn": 9,
};

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
 * crlEntryExtensions field at all (§5.1 forbids the empty SEQUENCE; PKI.js refuses such a CRL).
 * Returns PEM labelled "X509 CRL", ending with "\n".
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
  const { notBefore: thisUpdate, notAfter: nextUpdate } = validity({ notBefore: o.thisUpdate, notAfter: o.nextUpdate }, what, null);
  const seen = new Set<string>();
  const entries = (o.revoked ?? []).map(({ serial, date, reason }): CrlDerEntry => {
    const s = normaliseSerial(serial, what);
    if (seen.has(s)) throw new X509Error(`${what}: serial ${s} is listed twice`);
    seen.add(s);
    if (reason !== undefined && !(reason in REASON_CODE)) {
      throw new X509Error(`${what}: revocation reason ${JSON.stringify(reason)} is not one of ${Object.keys(REASON_CODE).join(", ")}`);
    }
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new X509Error(`${what}: serial ${s} has no valid revocation date`);
    return {
      serial: fromHex(s),
      date: new Date(Math.floor(date.getTime() / 1000) * 1000),
      reasonCode: reason === undefined ? 0 : REASON_CODE[reason],
    };
  });
  const tbs = tbsCertListDer({ issuerName: ca.subjectName, thisUpdate, nextUpdate, entries, akiDer: ca.akiDer, crlNumber: o.crlNumber });
  let sig: Uint8Array;
  try {
    sig = await ca.signer.sign(tbs);
  } catch (cause) {
    if (cause instanceof X509Error) throw cause;
    throw new X509Error(`${what}: ${errText(cause)}`, "bad-input", { cause });
  }
  if (!(sig instanceof Uint8Array) || sig.length !== 64) {
    throw new X509Error(`${what}: the signer returned ${sig instanceof Uint8Array ? `${sig.length} bytes` : typeof sig}; expected a 64-byte P1363 r||s ECDSA P-256 signature`, "bad-signature");
  }
  // A signer that signs the wrong bytes or with the wrong key (an HSM, a KMS) must not produce a
  // CRL: it must verify with the issuer's key (loadIssuer checked it is the certificate's). keySigner
  // signs with the key it checked on first use, so, as for certificates, only other signers pay.
  if (!isKeySigner(ca.signer) && !(await globalThis.crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, ca.signer.publicKey, new Uint8Array(sig), tbs))) {
    throw new X509Error(`${what}: the signer's signature does not verify`, "bad-signature");
  }
  return encodePem(CRL_LABEL, certificateListDer(tbs, sig));
}

function normaliseSerial(serial: string, what: string): string {
  if (typeof serial !== "string" || !/^[0-9a-fA-F]+$/.test(serial)) {
    throw new X509Error(`${what}: revoked serial ${JSON.stringify(serial)} is not hex`);
  }
  const s = serial.toLowerCase();
  return s.length % 2 ? `0${s}` : s;
}
