// What the rest of inforge knows of a certificate (CertInfo), and an issuer read without
// @peculiar/x509: a fleet renewal signs under issuers of our own shape and never loads the
// library (about 70 ms of start-up); parse.ts reads every other shape with it.
import { CERT_LABEL, certReason } from "./read.ts";
import { assertSingleDerElement, decodeSinglePem, encodePem, toHex, type Bytes } from "./pem.ts";
import { sha256 } from "./platform.ts";
import { fastFields, issuerFields } from "./fast-parse.ts";

/** What inforge needs to know about a certificate, as plain data. */
export interface CertInfo {
  /** Canonical PEM (re-encoded from the DER), ending with exactly one "\n". */
  pem: string;
  /** Lowercase hex, without the DER sign padding. */
  serial: string;
  subjectCn: string;
  issuerCn: string;
  notBefore: Date;
  notAfter: Date;
  /** Subject key identifier, lowercase hex ("" if the certificate has none). */
  ski: string;
  /** Authority key identifier's keyIdentifier, lowercase hex, or null (self-signed roots). */
  aki: string | null;
  isCa: boolean;
  /** basicConstraints pathLenConstraint, null when absent (unlimited, or not a CA). */
  pathLen: number | null;
  dns: string[];
  uris: string[];
  permittedDns: string[];
  permittedUris: string[];
  /** SHA-256 of the DER, lowercase hex (what `openssl x509 -fingerprint -sha256` shows). */
  fingerprint: string;
}

/**
 * Internal: an issuer certificate as signing under it needs it, read without the library when
 * fast-parse.ts knows its shape (null otherwise): parsing the intermediates of a fleet renewal
 * with @peculiar/x509 cost ~100 ms of the main thread, most of it compiling the library's code.
 */
export function fastIssuer(pem: string, what: string): { info: CertInfo; spki: Bytes; subjectName: Bytes; keyUsage: number | null } | null {
  const describe = certReason(what);
  const der = decodeSinglePem(pem, CERT_LABEL, describe);
  assertSingleDerElement(der, describe);
  const f = fastFields(der);
  const i = f && issuerFields(der);
  if (!f || !i) return null;
  const { spki, ...fields } = f;
  return { info: { pem: encodePem(CERT_LABEL, der), ...fields, fingerprint: toHex(sha256(der)) }, spki, ...i };
}

/** A thrown value's message, for the parenthesis in our own. */
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
