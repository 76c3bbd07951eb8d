// Reading certificates into the narrow CertInfo the rest of inforge sees.
import { X509Error } from "./errors.ts";
import { exportSpki, importPrivateKeyPem, type KeyPair } from "./keys.ts";
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
import { sha256 } from "@noble/hashes/sha2.js";
import { certificateParts, childrenOf, fastFields, tlvAt } from "./fast-parse.ts";
import { platform } from "./platform.ts";
import { ECDSA_SHA256_ALG, P256_SPKI_PREFIX, p256Pkcs8Parts } from "./p256.ts";
import { certificateDefects, crlDefects, curveOrder, type Defect } from "./strict-der.ts";
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
  assertSingleDerElement(block.der, describe);
  const fast = await verifyEcdsaP256(block.der, issuerPem, new Uint8Array(issuer.publicKey.rawData));
  if (fast !== null) return fast;
  const child = certFromDer(block.der, describe);
  return child.verify({ publicKey: issuer.publicKey, signatureOnly: true });
}

// An issuer's key is imported once however many children are checked against it.
const issuerKeys = new Map<string, Promise<CryptoKey>>();

/**
 * The signature check of verifySignedBy without the library, for the one algorithm inforge
 * issues with (ECDSA P-256, SHA-256): the TBSCertificate's bytes and the DER signature are cut
 * out of the certificate, the signature turned into WebCrypto's r||s. Null for anything else
 * (another algorithm, an odd encoding), which the library then checks.
 */
async function verifyEcdsaP256(der: Uint8Array, issuerPem: string, issuerSpki: Uint8Array): Promise<boolean | null> {
  const parts = certificateParts(der);
  if (!parts || issuerSpki.length !== 91 || !bytesEqual(issuerSpki.subarray(0, P256_SPKI_PREFIX.length), P256_SPKI_PREFIX)) return null;
  const alg = der.subarray(parts.alg.start, parts.alg.end);
  const inner = childrenOf(der, parts.tbs)?.[2];
  if (!inner || !bytesEqual(alg, ECDSA_SHA256_ALG) || !bytesEqual(der.subarray(inner.start, inner.end), ECDSA_SHA256_ALG)) return null;
  // BIT STRING { 0 unused bits, SEQUENCE { INTEGER r, INTEGER s } } → 64 bytes r||s.
  if (der[parts.sig.body] !== 0) return null;
  const seq = tlvAt(der, parts.sig.body + 1, parts.sig.end);
  const rs = seq && seq.tag === 0x30 && seq.end === parts.sig.end ? childrenOf(der, seq) : null;
  if (!rs || rs.length !== 2 || rs.some((x) => x.tag !== 0x02)) return null;
  const sig = new Uint8Array(64);
  for (const [i, x] of rs.entries()) {
    let from = x.body;
    while (from < x.end - 1 && der[from] === 0) from++;
    if (x.end - from > 32) return null;
    sig.set(der.subarray(from, x.end), 32 * (i + 1) - (x.end - from));
  }
  const tbs = der.slice(parts.tbs.start, parts.tbs.end);
  if (platform.verifyP256) {
    try {
      return await platform.verifyP256(issuerSpki, sig, tbs);
    } catch {
      // the platform routine is unavailable here: WebCrypto below gives the same answer
    }
  }
  let key = issuerKeys.get(issuerPem);
  if (!key) {
    if (issuerKeys.size >= 64) issuerKeys.delete(issuerKeys.keys().next().value!);
    key = globalThis.crypto.subtle.importKey("spki", new Uint8Array(issuerSpki), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    issuerKeys.set(issuerPem, key);
  }
  return globalThis.crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, await key, sig, tbs);
}

/**
 * True when the certificate's SubjectPublicKeyInfo is `k.publicKey`, and, when the private key
 * is extractable, the private key's public point is that same key (so a pair assembled from
 * two different keys does not pass).
 */
export async function publicKeyMatches(certPem: string, k: KeyPair): Promise<boolean> {
  const describe = certReason("certificate");
  const der = decodeSinglePem(certPem, CERT_LABEL, describe);
  assertSingleDerElement(der, describe);
  const certSpki = fastFields(der)?.spki ?? new Uint8Array(loadCertificate(certPem, "certificate").publicKey.rawData);
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

/**
 * Whether a PKCS#8 PEM private key is the key of a certificate: "match", "mismatch", or
 * "unreadable" (not a P-256 private key). For inforge's own layout (what lib/x509 writes) the
 * check is d·G = the certificate's point, and the point stored beside d is that point too;
 * anything else is imported and compared as importPrivateKeyPem + publicKeyMatches would.
 */
export async function keyMatchesCertificate(keyPem: string, certPem: string): Promise<"match" | "mismatch" | "unreadable"> {
  const describe = certReason("certificate");
  const certDer = decodeSinglePem(certPem, CERT_LABEL, describe);
  assertSingleDerElement(certDer, describe);
  const certSpki = fastFields(certDer)?.spki ?? new Uint8Array(loadCertificate(certPem, "certificate").publicKey.rawData);
  let der: Bytes;
  try {
    der = decodeSinglePem(keyPem, "PRIVATE KEY", (why) => why);
  } catch {
    return "unreadable";
  }
  const parts = p256Pkcs8Parts(der);
  if (parts && platform.p256Point) {
    const stored = parts.point;
    if (certSpki.length !== 91 || !bytesEqual(certSpki.subarray(26), stored)) return "mismatch";
    let derived: Uint8Array;
    try {
      derived = platform.p256Point(parts.d);
    } catch {
      return "unreadable";
    }
    return bytesEqual(derived, stored) ? "match" : "unreadable"; // a d that is not the stored point's: a damaged key
  }
  let k: KeyPair;
  try {
    k = await importPrivateKeyPem(keyPem);
  } catch {
    return "unreadable";
  }
  return (await publicKeyMatches(certPem, k)) ? "match" : "mismatch";
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** True when the certificate's SubjectPublicKeyInfo is exactly `spki` (a key held elsewhere, e.g. on a token). */
export function certificateHasSpki(certPem: string, spki: Uint8Array): boolean {
  const der = decodeSinglePem(certPem, CERT_LABEL, certReason("certificate"));
  const certSpki = fastFields(der)?.spki ?? new Uint8Array(loadCertificate(certPem, "certificate").publicKey.rawData);
  return bytesEqual(certSpki, spki);
}
