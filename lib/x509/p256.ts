import { bytesEqual, fromHex } from "../bytes.ts";

// The DER framing of the one key type inforge issues with (ECDSA P-256, SHA-256), in one place:
// the fast paths (lib/x509/fast-leaf.ts, keys.ts, parse.ts) cut and splice these bytes instead of
// going through an ASN.1 library, and must agree on them.

/** AlgorithmIdentifier ecdsa-with-SHA256, parameters absent (RFC 5758 §3.2). */
export const ECDSA_SHA256_ALG = fromHex("300a06082a8648ce3d040302");
/** SubjectPublicKeyInfo of a P-256 key up to the point: id-ecPublicKey, prime256v1, BIT STRING of 66 (RFC 5480 §2). */
export const P256_SPKI_PREFIX = fromHex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
/** PKCS#8 (RFC 5208) around an RFC 5915 ECPrivateKey, as OpenSSL and inforge write it: up to d. */
export const P256_PKCS8_PREFIX = fromHex("308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420");
/** …between d and the public point ([1] BIT STRING of 66). */
export const P256_PKCS8_MIDDLE = fromHex("a144034200");

/** d and the uncompressed public point (04 || x || y) of that PKCS#8 layout; null for any other. */
export function p256Pkcs8Parts(der: Uint8Array): { d: Uint8Array; point: Uint8Array } | null {
  const mid = P256_PKCS8_PREFIX.length + 32;
  if (der.length !== mid + P256_PKCS8_MIDDLE.length + 65) return null;
  if (!bytesEqual(der.subarray(0, P256_PKCS8_PREFIX.length), P256_PKCS8_PREFIX)) return null;
  if (!bytesEqual(der.subarray(mid, mid + P256_PKCS8_MIDDLE.length), P256_PKCS8_MIDDLE) || der[mid + P256_PKCS8_MIDDLE.length] !== 0x04) return null;
  return { d: der.subarray(P256_PKCS8_PREFIX.length, mid), point: der.subarray(mid + P256_PKCS8_MIDDLE.length) };
}
