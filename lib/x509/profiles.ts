// The four certificate profiles of the PKI: root, cross-signed root, intermediate, leaf.
// Every issued certificate is signed through the Signer seam and checked before it is returned.
import { X509Error } from "./errors.ts";
import { EC_SIGN_ALGORITHM, exportSpki, isP256, type KeyPair } from "./keys.ts";
import { checkCommonName, checkCrlUrl, checkDnsConstraint, checkDnsName, checkUri, checkUriHostConstraint } from "./names.ts";
import { nameConstraintsExtension } from "./name-constraints.ts";
import { certInfo, loadCertificate, type CertInfo } from "./parse.ts";
import { loadIssuer as loadCheckedIssuer, type LoadedIssuer } from "./issuer.ts";
import { bytesEqual, toHex, type Bytes } from "./pem.ts";
import {
  assertP256Signer,
  isKeySigner,
  isSigner,
  keySigner,
  signerCrypto,
  type Issuer,
  type Signer,
} from "./signer.ts";
import { validity } from "./validity.ts";
import { x509 } from "./vendor.ts";

const ID_CE_BASIC_CONSTRAINTS = "2.5.29.19";
const ID_CE_KEY_USAGE = "2.5.29.15";
const ID_CE_SUBJECT_KEY_IDENTIFIER = "2.5.29.14";
const CA_KEY_USAGE = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

/**
 * A self-signed root CA. basicConstraints cA (critical, §4.2.1.9) with no pathLenConstraint:
 * with a cross-signed root in the path (old root → new root → intermediate → leaf) two CA
 * certificates sit below the anchor, so a root pathLen of 1 would break the dual-root overlap;
 * the intermediates' pathLen 0 is what bounds the depth. keyUsage keyCertSign + cRLSign
 * (critical, §4.2.1.3). AKI is omitted, as §4.2.1.1 allows for self-signed certificates.
 * `key` may be a Signer, for a root key that never leaves an HSM or KMS.
 */
export async function createRoot(o: {
  key: KeyPair | Signer;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}): Promise<CertInfo> {
  checkCommonName(o.commonName, "root");
  const signer = isSigner(o.key) ? o.key : keySigner(o.key);
  assertP256Signer(signer);
  const { notBefore, notAfter } = validity(o, "root", null);
  const name = new x509.Name([{ CN: [o.commonName] }]);
  const spki = await subjectKey(signer.publicKey, "root");
  return issue({
    subject: name,
    issuerName: name,
    publicKey: spki,
    signer,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(CA_KEY_USAGE, true),
      await skiOf(spki),
    ],
  });
}

/**
 * The root in `subjectCertPem` re-signed by another root (`issuer`): same subject name, public
 * key, SKI, basicConstraints and keyUsage; issuer name and AKI of the signing root. Verifiers
 * anchored on the signing (old) root can then reach chains under the subject (new) root, which
 * is how a root rotation overlaps without every consumer reloading at once.
 */
export async function crossSignRoot(o: {
  subjectCertPem: string;
  issuer: Issuer;
  notBefore: Date;
  notAfter: Date;
}): Promise<CertInfo> {
  const subject = loadCertificate(o.subjectCertPem, "cross-sign subject");
  const subjectInfo = certInfo(subject);
  const selfIssued = bytesEqual(
    new Uint8Array(subject.subjectName.toArrayBuffer()),
    new Uint8Array(subject.issuerName.toArrayBuffer()),
  );
  if (!subjectInfo.isCa || !selfIssued) {
    throw new X509Error(
      `cross-sign subject "${subjectInfo.subjectCn}" is not a self-signed root CA; only roots are cross-signed`,
      "not-a-ca",
    );
  }
  const ca = await loadIssuer(o.issuer);
  if (bytesEqual(new Uint8Array(subject.publicKey.rawData), ca.spki)) {
    throw new X509Error(
      `cross-sign issuer "${ca.info.subjectCn}" has the same key as the subject; cross-sign with the other root`,
    );
  }
  const { notBefore, notAfter } = validity(o, `cross-signed "${subjectInfo.subjectCn}"`, ca.info);
  // The cross-signed copy must not keep the new root's key trusted (by old-root consumers)
  // beyond the life the new root gave itself.
  if (notAfter > subjectInfo.notAfter) {
    throw new X509Error(
      `cross-signed "${subjectInfo.subjectCn}" would outlive the root itself: notAfter ${notAfter.toISOString()} is after ${subjectInfo.notAfter.toISOString()}`,
      "outlives-issuer",
    );
  }
  // Copy the subject's own CA extensions byte for byte, so the cross-signed certificate and the
  // self-signed one are interchangeable to a path builder (same SKI, same constraints).
  const copied = [ID_CE_BASIC_CONSTRAINTS, ID_CE_KEY_USAGE, ID_CE_SUBJECT_KEY_IDENTIFIER]
    .map((oid) => subject.getExtension(oid))
    .filter((e): e is NonNullable<typeof e> => e !== null)
    .map((e) => new x509.Extension(e.rawData));
  return issue({
    subject: subject.subjectName,
    issuerName: ca.cert.subjectName,
    publicKey: subject.publicKey,
    signer: ca.signer,
    notBefore,
    notAfter,
    extensions: [...copied, ca.aki],
  });
}

/**
 * A scope's intermediate CA. basicConstraints cA with pathLenConstraint 0 (critical, §4.2.1.9:
 * it may sign leaves only), keyUsage keyCertSign + cRLSign (critical, §4.2.1.3), SKI, AKI, and
 * critical NameConstraints (§4.2.1.10) permitting only the scope's DNS subtrees and URI hosts
 * (and excluding all IP addresses), so a leaked regional key cannot mint another scope's names
 * — not even for verifiers anchored on the root.
 */
export async function createIntermediate(o: {
  publicKey: CryptoKey;
  issuer: Issuer;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  permittedDns: string[];
  permittedUriHosts: string[];
  /** Leave URIs unconstrained (pki.json nameConstraints "dns"): rustls-based verifiers reject
   *  any URI SAN under a URI name constraint, so a mesh with such consumers must opt out. */
  unconstrainedUris?: boolean;
  /** Where its issuer's (the root's) CRL is published: a CRL distribution point, non-critical. */
  crlUrl?: string;
}): Promise<CertInfo> {
  checkCommonName(o.commonName, "intermediate");
  const what = `intermediate "${o.commonName}"`;
  // An empty list would leave that name form unconstrained (§4.2.1.10 binds only the forms
  // it mentions), i.e. the intermediate could mint any DNS name or any URI.
  if (!o.permittedDns?.length || (!o.permittedUriHosts?.length && !o.unconstrainedUris)) {
    throw new X509Error(
      `${what} needs at least one permitted DNS name and one permitted URI host; an empty list leaves that name form unconstrained`,
    );
  }
  o.permittedDns.forEach((n) => checkDnsConstraint(n, what));
  o.permittedUriHosts.forEach((h) => checkUriHostConstraint(h, what));
  if (o.crlUrl !== undefined) checkCrlUrl(o.crlUrl, what);
  return issueUnder(o, what, () => [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(CA_KEY_USAGE, true),
    nameConstraintsExtension(o.permittedDns, o.permittedUriHosts),
    ...cdp(o.crlUrl),
  ]);
}

/**
 * A service's leaf. basicConstraints cA:false (critical), keyUsage digitalSignature only
 * (critical; ECDSA keys do not encipher, §4.2.1.3), extKeyUsage serverAuth + clientAuth (mesh
 * peers are both, §4.2.1.12), SAN with the DNS names and URIs — non-critical because the
 * subject is not empty (§4.2.1.6) — AKI and SKI.
 */
export async function createLeaf(o: {
  publicKey: CryptoKey;
  issuer: Issuer;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  dns: string[];
  uris: string[];
  /** Where its issuer's CRL is published: a CRL distribution point, non-critical. */
  crlUrl?: string;
}): Promise<CertInfo> {
  checkCommonName(o.commonName, "leaf");
  const what = `leaf "${o.commonName}"`;
  const dns = o.dns ?? [];
  const uris = o.uris ?? [];
  if (dns.length + uris.length === 0) {
    throw new X509Error(`${what} has no DNS name or URI; a leaf must name the service it serves`);
  }
  dns.forEach((n) => checkDnsName(n, what));
  uris.forEach((u) => checkUri(u, what));
  if (o.crlUrl !== undefined) checkCrlUrl(o.crlUrl, what);
  return issueUnder(o, what, () => [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
    new x509.SubjectAlternativeNameExtension(
      [...dns.map((value) => ({ type: "dns" as const, value })), ...uris.map((value) => ({ type: "url" as const, value }))],
      false,
    ),
    ...cdp(o.crlUrl),
  ]);
}

/**
 * cRLDistributionPoints (§4.2.1.13): one DistributionPoint whose fullName is the URI, no reasons,
 * no cRLIssuer (the certificate's issuer signs the CRL); non-critical, as the CA/B Forum profiles
 * require. Absent when no location is configured.
 */
function cdp(url: string | undefined): x509.Extension[] {
  return url === undefined ? [] : [new x509.CRLDistributionPointsExtension([url], false)];
}

/**
 * A certificate for `o.publicKey` (CN `o.commonName`) signed by `o.issuer`, with the profile's
 * own extensions followed by SKI and AKI. Checks the issuer, the validity nesting and that the
 * child does not reuse its issuer's key before anything is signed.
 */
async function issueUnder(
  o: { publicKey: CryptoKey; issuer: Issuer; commonName: string; notBefore: Date; notAfter: Date },
  what: string,
  profile: () => x509.Extension[],
): Promise<CertInfo> {
  const ca = await loadIssuer(o.issuer);
  const { notBefore, notAfter } = validity(o, what, ca.info);
  const spki = await subjectKey(o.publicKey, what);
  assertOwnKey(spki, ca, what);
  return issue({
    subject: new x509.Name([{ CN: [o.commonName] }]),
    issuerName: ca.cert.subjectName,
    publicKey: spki,
    signer: ca.signer,
    notBefore,
    notAfter,
    extensions: [...profile(), await skiOf(spki), ca.aki],
  });
}

// ---------------------------------------------------------------------------------------------

/** A checked issuer (issuer.ts) with the library's certificate object and AKI extension, for these builders. */
interface LibraryIssuer extends LoadedIssuer {
  readonly cert: x509.X509Certificate;
  readonly aki: x509.AuthorityKeyIdentifierExtension;
}

async function loadIssuer(issuer: Issuer): Promise<LibraryIssuer> {
  const ca = await loadCheckedIssuer(issuer);
  return { ...ca, cert: loadCertificate(issuer.certPem, "issuer certificate"), aki: new x509.AuthorityKeyIdentifierExtension(ca.akiDer) };
}

/**
 * A child certificate must not reuse its issuer's key: an intermediate holding the root key
 * would put the offline root's key online, and a leaf holding its CA's key could mint siblings.
 */
function assertOwnKey(spki: Bytes, ca: LoadedIssuer, what: string): void {
  if (bytesEqual(spki, ca.spki)) {
    throw new X509Error(
      `${what} has the same public key as its issuer "${ca.info.subjectCn}"; generate a new key for it`,
    );
  }
}

/**
 * A random positive 128-bit serial (§4.1.2.2: positive, at most 20 octets; unpredictable, as
 * the CA/Browser Forum asks for at least 64 random bits). The high bit is cleared so DER needs
 * no sign byte, and a zero first byte is bumped so every serial is exactly 16 bytes.
 */
export function randomSerial(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return toHex(bytes);
}

/** The DER SubjectPublicKeyInfo of the key a certificate is issued for, exported once. */
async function subjectKey(publicKey: CryptoKey, what: string): Promise<Bytes> {
  if (!publicKey || publicKey.type !== "public" || !isP256(publicKey)) {
    throw new X509Error(`${what}: expected an ECDSA P-256 public key`, "bad-key");
  }
  return exportSpki(publicKey);
}

async function skiOf(spki: Bytes): Promise<x509.SubjectKeyIdentifierExtension> {
  // Method 1 of §4.2.1.2: SHA-1 of the subjectPublicKey BIT STRING. Non-critical (MUST).
  return x509.SubjectKeyIdentifierExtension.create(spki, false, globalThis.crypto);
}

async function issue(p: {
  subject: x509.Name;
  issuerName: x509.Name;
  publicKey: Bytes | x509.PublicKey;
  signer: Signer;
  notBefore: Date;
  notAfter: Date;
  extensions: x509.Extension[];
}): Promise<CertInfo> {
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: p.subject,
      issuer: p.issuerName,
      notBefore: p.notBefore,
      notAfter: p.notAfter,
      publicKey: p.publicKey,
      // Only its `algorithm` is read (to choose ecdsa-with-SHA256); the bytes are signed by
      // signerCrypto. `hash` must be given: the library takes the algorithm from the key.
      signingKey: p.signer.publicKey,
      signingAlgorithm: EC_SIGN_ALGORITHM,
      extensions: p.extensions,
    },
    signerCrypto(p.signer),
  );
  // A signer that signs the wrong bytes or with the wrong key must not produce a certificate.
  // keySigner signs with WebCrypto itself, so only other signers (HSM, KMS) pay for the check.
  if (!isKeySigner(p.signer) && !(await cert.verify({ publicKey: p.signer.publicKey, signatureOnly: true }, globalThis.crypto))) {
    throw new X509Error("the signer's signature does not verify with its public key", "bad-signature");
  }
  return certInfo(cert);
}
