// What the read-only commands need of a certificate — its fingerprint, a detached signature
// checked against its key, its issuer's signature — without @peculiar/x509. `inforge pki status`
// checks custody.json and the probe records this way on every start; loading @peculiar/x509
// (reflect-metadata, tsyringe, the asn1 schemas: ~750 kB of the bundle) cost it more than all its
// own work. The rest of lib/x509 (mod.ts) is loaded only when a certificate has a shape our
// reader leaves to the library, or by the commands that sign.
import { sha256 } from "./platform.ts";
import { fastFields } from "./fast-parse.ts";
import { assertSingleDerElement, decodePemBlocks, decodeSinglePem, toHex, type Bytes } from "./pem.ts";
import { X509Error } from "./errors.ts";
import { verifyEcdsaP256 } from "./fast-verify.ts";
import { fromBase64 } from "../bytes.ts";

export const CERT_LABEL = "CERTIFICATE";

export function certReason(what: string) {
  return (why: string) => `${what} is not a PEM certificate: ${why}`;
}

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
 * The fingerprints of a bundle of PEM certificates, in order: parseCertificates(…).map(c =>
 * c.fingerprint), with the same refusals — any block that is not a certificate fails the bundle.
 */
export async function certificateFingerprints(pemBundle: string, what = "bundle"): Promise<string[]> {
  const describe = (why: string) => `${what} is not a bundle of PEM certificates: ${why}`;
  const out: string[] = [];
  for (const [i, block] of decodePemBlocks(pemBundle, describe).entries()) {
    const inner = (why: string) => describe(`block ${i + 1}: ${why}`);
    if (block.label !== CERT_LABEL) throw new X509Error(inner(`found a "${block.label}" block, expected "${CERT_LABEL}"`), "not-pem");
    assertSingleDerElement(block.der, inner);
    // A shape our reader leaves to the library must still parse as a certificate there.
    if (!fastFields(block.der)) (await import("./parse.ts")).certFromDer(block.der, inner);
    out.push(toHex(sha256(block.der)));
  }
  return out;
}

/** The DER SubjectPublicKeyInfo of a PEM certificate: read directly (fast-parse.ts) when it can be, through the library otherwise. */
async function spkiOf(pem: string, what: string): Promise<Bytes> {
  const describe = certReason(what);
  const der = decodeSinglePem(pem, CERT_LABEL, describe);
  assertSingleDerElement(der, describe);
  const f = fastFields(der);
  if (f) return f.spki;
  const { loadCertificate } = await import("./parse.ts");
  return new Uint8Array(loadCertificate(pem, what).publicKey.rawData);
}

const ALG = { name: "ECDSA", hash: "SHA-256" } as const;

/**
 * True when `signature` (base64 of P1363 r||s) is a valid ECDSA P-256/SHA-256 signature of `data`
 * by the key of `certPem`. False for anything malformed; X509Error only for a certificate that
 * does not parse.
 */
export async function verifyDetached(certPem: string, data: Uint8Array, signature: string): Promise<boolean> {
  const spki = await spkiOf(certPem, "signer certificate");
  if (!/^[A-Za-z0-9+/]{86}==$/.test(signature)) return false;
  const sig = fromBase64(signature)!; // canonical: checked by the pattern above
  let key: CryptoKey;
  try {
    key = await globalThis.crypto.subtle.importKey("spki", spki.slice(), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  } catch {
    return false;
  }
  return globalThis.crypto.subtle.verify(ALG, key, sig, data.slice());
}

/**
 * True when `childPem` carries a valid signature by the key of `issuerPem`. Signature only: no
 * dates, names, key usage or constraints — use a real path validator for those. `childPem` may be
 * a certificate or a CRL ("X509 CRL"); malformed input throws X509Error. A certificate issued the
 * way inforge issues (ECDSA P-256, SHA-256) under an issuer our reader parses is checked without
 * the library; anything else — a CRL, another algorithm, an odd encoding, malformed input and its
 * error — is left to it (signature.ts).
 */
export async function verifySignedBy(childPem: string, issuerPem: string): Promise<boolean> {
  const fast = await (async () => {
    try {
      const spki = issuerSpki(issuerPem);
      // Exactly one CERTIFICATE block, else the library decides; decoded once (pem.ts keeps it).
      const child = decodeSinglePem(childPem, CERT_LABEL, (why) => why);
      if (!spki) return null;
      assertSingleDerElement(child, (why) => why);
      return await verifyEcdsaP256(child, issuerPem, spki);
    } catch {
      return null; // the library gives the answer, or the error, below
    }
  })();
  return fast ?? (await import("./signature.ts")).librarySignedBy(childPem, issuerPem);
}

// The issuers of a fleet are few and each is asked for thousands of times (pki verify checks
// every leaf against its intermediate): their keys are read off the PEM once.
const issuerSpkis = new Map<string, Uint8Array | undefined>();
function issuerSpki(issuerPem: string): Uint8Array | undefined {
  if (issuerSpkis.has(issuerPem)) return issuerSpkis.get(issuerPem);
  const spki = fastFields(decodeSinglePem(issuerPem, CERT_LABEL, certReason("issuer")))?.spki;
  if (issuerSpkis.size >= 64) issuerSpkis.delete(issuerSpkis.keys().next().value!);
  issuerSpkis.set(issuerPem, spki);
  return spki;
}

export { X509Error };
