// Reading certificates into the narrow CertInfo the rest of inforge sees.
import { X509Error } from "./errors.ts";
import { exportSpki, type KeyPair } from "./keys.ts";
import { readNameConstraints } from "./name-constraints.ts";
import {
  assertSingleDerElement,
  bytesEqual,
  decodePemBlocks,
  decodeSinglePem,
  encodePem,
  toHex,
  type Bytes,
  type PemBlock,
} from "./pem.ts";
import { sha256 } from "./sha256.ts";
import { x509 } from "./vendor.ts";

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

const CERT_LABEL = "CERTIFICATE";

function certReason(what: string) {
  return (why: string) => `${what} is not a PEM certificate: ${why}`;
}

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
 * SHA-256 of a PEM certificate's DER, lowercase hex (CertInfo.fingerprint), without parsing it:
 * for checking that a file is the certificate the state records.
 */
export function certificateFingerprint(pem: string, what = "input"): string {
  const der = decodeSinglePem(pem, CERT_LABEL, certReason(what));
  assertSingleDerElement(der, certReason(what));
  return toHex(sha256(der));
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
  return certInfo(loadCertificate(pem, what));
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
    return certInfo(certFromDer(block.der, inner));
  });
}

/**
 * True when `childPem` carries a valid signature by the key of `issuerPem`. Signature only: no
 * dates, names, key usage or constraints — use a real path validator for those. `childPem`
 * may be a certificate or a CRL ("X509 CRL"). Malformed input throws X509Error.
 */
export async function verifySignedBy(childPem: string, issuerPem: string): Promise<boolean> {
  const issuer = loadCertificate(issuerPem, "issuer");
  const describe = (why: string) => `child is not a PEM certificate or CRL: ${why}`;
  const [block, ...more] = decodePemBlocks(childPem, describe);
  if (!block || more.length > 0) {
    throw new X509Error(describe(`expected exactly one block, found ${more.length + (block ? 1 : 0)}`), "not-pem");
  }
  if (block.label === "X509 CRL") {
    assertSingleDerElement(block.der, describe);
    let crl: x509.X509Crl;
    try {
      crl = new x509.X509Crl(block.der);
    } catch (cause) {
      throw new X509Error(describe(`the DER is not a CRL (${errText(cause)})`), "bad-der", { cause });
    }
    // Pass the PublicKey, not the certificate: given a certificate, X509Crl.verify takes the
    // signature algorithm from the issuer certificate instead of from the CRL.
    return crl.verify({ publicKey: issuer.publicKey });
  }
  if (block.label !== CERT_LABEL) {
    throw new X509Error(describe(`found a "${block.label}" block`), "not-pem");
  }
  const child = certFromDer(block.der, describe);
  return child.verify({ publicKey: issuer.publicKey, signatureOnly: true });
}

/**
 * True when the certificate's SubjectPublicKeyInfo is `k.publicKey`, and, when the private key
 * is extractable, the private key's public point is that same key (so a pair assembled from
 * two different keys does not pass).
 */
export async function publicKeyMatches(certPem: string, k: KeyPair): Promise<boolean> {
  const cert = loadCertificate(certPem, "certificate");
  const certSpki = new Uint8Array(cert.publicKey.rawData);
  if (!bytesEqual(certSpki, await exportSpki(k.publicKey))) return false;
  if (k.privateKey.extractable) {
    const subtle = globalThis.crypto.subtle;
    const [priv, pub] = await Promise.all([
      subtle.exportKey("jwk", k.privateKey),
      subtle.exportKey("jwk", k.publicKey),
    ]);
    if (priv.x !== pub.x || priv.y !== pub.y || priv.crv !== pub.crv) return false;
  }
  return true;
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
