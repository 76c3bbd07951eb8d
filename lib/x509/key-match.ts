// Key matching: is a private key (or a key held elsewhere) the key of a certificate.
import { exportSpki, importPrivateKeyPem, type KeyPair } from "./keys.ts";
import { assertSingleDerElement, bytesEqual, decodeSinglePem, type Bytes } from "./pem.ts";
import { certificateSpki } from "./fast-parse.ts";
import { X509Error } from "./errors.ts";
import { platform } from "./platform.ts";
import { p256Pkcs8Parts } from "./p256.ts";
import { CERT_LABEL, certReason } from "./read.ts";

/**
 * True when the certificate's SubjectPublicKeyInfo is `k.publicKey`, and, when the private key
 * is extractable, the private key's public point is that same key (so a pair assembled from
 * two different keys does not pass).
 */
export async function publicKeyMatches(certPem: string, k: KeyPair): Promise<boolean> {
  const certSpki = spkiOf(certPem);
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
  const certSpki = spkiOf(certPem);
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
      derived = platform.p256PointAsync ? await platform.p256PointAsync(parts.d) : platform.p256Point(parts.d);
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

/** True when the certificate's SubjectPublicKeyInfo is exactly `spki` (a key held elsewhere, e.g. on a token). */
export function certificateHasSpki(certPem: string, spki: Uint8Array): boolean {
  return bytesEqual(spkiOf(certPem), spki);
}

/** The SubjectPublicKeyInfo of exactly one PEM certificate; an X509Error for anything else. */
export function spkiOf(certPem: string, what = "certificate"): Bytes {
  const describe = certReason(what);
  const der = decodeSinglePem(certPem, CERT_LABEL, describe);
  assertSingleDerElement(der, describe);
  const spki = certificateSpki(der);
  if (!spki) throw new X509Error(describe("the DER is not an X.509 certificate"), "bad-der");
  return spki;
}
