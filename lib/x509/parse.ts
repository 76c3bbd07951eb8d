// Reading certificates into the narrow CertInfo the rest of inforge sees (signature checks are
// signature.ts, key matching key-match.ts).
import { X509Error } from "./errors.ts";
import { readNameConstraints } from "./name-constraints.ts";
import {
  assertSingleDerElement,
  decodePemBlocks,
  decodeSinglePem,
  encodePem,
  toHex,
  type Bytes,
  type PemBlock,
} from "./pem.ts";
import { sha256 } from "./platform.ts";
import { fastFields } from "./fast-parse.ts";
import { errText, type CertInfo } from "./cert-info.ts";
import { certificateDefects, crlDefects, curveOrder, type Defect } from "./strict-der.ts";
import { x509 } from "./vendor.ts";
import { CERT_LABEL, certReason, certificateFingerprint } from "./read.ts";

export { CERT_LABEL, certReason, certificateFingerprint, errText, type CertInfo };

/** Parses DER into the library's certificate object, refusing trailing bytes. */
export function certFromDer(der: Bytes, describe: (why: string) => string): x509.X509Certificate {
  assertSingleDerElement(der, describe);
  try {
    return new x509.X509Certificate(der);
  } catch (cause) {
    throw new X509Error(describe(`the DER is not an X.509 certificate (${errText(cause)})`), "bad-der", {
      cause,
    });
  }
}

/** Internal: the library object for exactly one PEM certificate. */
export function loadCertificate(pem: string, what = "input"): x509.X509Certificate {
  const hit = loaded.get(pem);
  if (hit) return hit;
  const describe = certReason(what);
  const cert = certFromDer(decodeSinglePem(pem, CERT_LABEL, describe), describe);
  if (loaded.size >= LOADED_MAX) loaded.delete(loaded.keys().next().value!);
  loaded.set(pem, cert);
  return cert;
}

// Parsing costs about 2 ms of JavaScript, and one run reads each issuer certificate several
// times (its fingerprint against the state, its key against the sealed key, its profile before
// signing). Certificates are immutable and these objects stay inside lib/x509, which only reads
// them, so parses are kept by exact PEM text — a few dozen, issuers and bundles.
const LOADED_MAX = 64;
const loaded = new Map<string, x509.X509Certificate>();

/**
 * CertInfo of a DER certificate: read directly (fast-parse.ts) when it has a shape that reader
 * knows, through @peculiar/x509 otherwise — the same answer either way, an order of magnitude
 * apart in cost (verify reads every leaf of the fleet).
 */
function infoOfDer(der: Bytes, describe: (why: string) => string): CertInfo {
  assertSingleDerElement(der, describe);
  const f = fastFields(der);
  if (!f) return certInfo(certFromDer(der, describe));
  const { spki: _spki, ...fields } = f;
  return { pem: encodePem(CERT_LABEL, der), ...fields, fingerprint: toHex(sha256(der)) };
}

/** Internal: CertInfo of an already parsed certificate. */
export function certInfo(cert: x509.X509Certificate): CertInfo {
  const der = new Uint8Array(cert.rawData);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.items ?? [];
  return {
    pem: encodePem(CERT_LABEL, der),
    serial: cert.serialNumber.toLowerCase(),
    subjectCn: cert.subjectName.getField("CN")[0] ?? "",
    issuerCn: cert.issuerName.getField("CN")[0] ?? "",
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    ski: ski?.keyId.toLowerCase() ?? "",
    aki: aki?.keyId?.toLowerCase() ?? null,
    isCa: bc?.ca ?? false,
    pathLen: bc?.pathLength ?? null,
    dns: names.filter((n) => n.type === "dns").map((n) => n.value),
    uris: names.filter((n) => n.type === "url").map((n) => n.value),
    ...readNameConstraints(cert),
    fingerprint: toHex(sha256(der)),
  };
}

/**
 * Parses exactly one PEM certificate. Throws X509Error ("<what> is not a PEM certificate: …")
 * on anything else: garbage, several blocks, text around the block, another PEM type (a CRL,
 * a key), bytes after the DER. `what` names the input in the message (a path, say).
 */
export function parseCertificate(pem: string, what = "input"): CertInfo {
  const describe = certReason(what);
  return infoOfDer(decodeSinglePem(pem, CERT_LABEL, describe), describe);
}

/**
 * Parses a bundle of concatenated PEM certificates, in order. Whitespace-only input is an
 * empty bundle ([]); whether that is acceptable is the caller's call. Any non-certificate
 * block or stray text fails the whole bundle.
 */
export function parseCertificates(pemBundle: string, what = "bundle"): CertInfo[] {
  const describe = (why: string) => `${what} is not a bundle of PEM certificates: ${why}`;
  return decodePemBlocks(pemBundle, describe).map((block: PemBlock, i) => {
    const inner = (why: string) => describe(`block ${i + 1}: ${why}`);
    if (block.label !== CERT_LABEL) {
      throw new X509Error(inner(`found a "${block.label}" block, expected "${CERT_LABEL}"`), "not-pem");
    }
    return infoOfDer(block.der, inner);
  });
}

/**
 * What in a PEM certificate or CRL ("X509 CRL") the strictest verifiers refuse, though our
 * readers parse it (lib/x509/strict-der.ts): a signature algorithm that differs inside and out,
 * a non-canonical ECDSA signature (r and s bounded by the curve of `issuerPem`, when given), a
 * BOOLEAN that is not DER, a duplicate extension, a time that does not exist, lengths that are
 * not minimal. Empty when clean. Throws X509Error when the input is not one PEM block at all.
 */
export function derDefects(pem: string, what = "input", issuerPem?: string): Defect[] {
  const crl = /^-----BEGIN X509 CRL-----/.test(pem.trimStart());
  const describe = (why: string) => `${what} is not a PEM ${crl ? "CRL" : "certificate"}: ${why}`;
  const der = decodeSinglePem(pem, crl ? "X509 CRL" : CERT_LABEL, describe);
  const order = issuerPem ? orderOf(issuerPem) : null;
  return crl ? crlDefects(der, order) : certificateDefects(der, order);
}

// An issuer's curve order, read once however many children are judged against it (a fleet's leaves share a few issuers).
const orders = new Map<string, bigint | null>();
function orderOf(issuerPem: string): bigint | null {
  if (orders.has(issuerPem)) return orders.get(issuerPem)!;
  const issuerDer = decodeSinglePem(issuerPem, CERT_LABEL, certReason("issuer"));
  const order = curveOrder(fastFields(issuerDer)?.spki ?? new Uint8Array(loadCertificate(issuerPem, "issuer").publicKey.rawData));
  if (orders.size >= LOADED_MAX) orders.delete(orders.keys().next().value!);
  orders.set(issuerPem, order);
  return order;
}

/** Internal: an issuer certificate of a shape fast-parse.ts leaves to the library (issuer.ts loads this module for it). */
export function libraryIssuer(pem: string): { info: CertInfo; spki: Bytes; subjectName: Bytes; keyUsage: number | null } {
  const cert = loadCertificate(pem, "issuer certificate");
  return {
    info: certInfo(cert),
    spki: new Uint8Array(cert.publicKey.rawData),
    subjectName: new Uint8Array(cert.subjectName.toArrayBuffer()),
    keyUsage: cert.getExtension(x509.KeyUsagesExtension)?.usages ?? null,
  };
}

/** Internal: the AuthorityKeyIdentifier extension (DER) for children of an issuer without a usable SKI: its key's SHA-1. */
export async function libraryAki(pem: string): Promise<Bytes> {
  const cert = loadCertificate(pem, "issuer certificate");
  return new Uint8Array((await x509.AuthorityKeyIdentifierExtension.create(cert.publicKey, false, globalThis.crypto)).rawData);
}
