// Key pairs on WebCrypto only (no node:crypto), so the same code runs under Node and Deno.
import { X509Error } from "./errors.ts";
import { decodeSinglePem, encodePem, type Bytes } from "./pem.ts";

/** An ECDSA P-256 key pair. The private key is extractable so it can be sealed to a file. */
export interface KeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

/** The one algorithm every key and signature in the PKI uses. */
export const EC_KEY_ALGORITHM: EcKeyImportParams = { name: "ECDSA", namedCurve: "P-256" };
export const EC_SIGN_ALGORITHM: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

function subtle(): SubtleCrypto {
  return globalThis.crypto.subtle;
}

/** Generates a fresh ECDSA P-256 key pair. */
export async function generateKeyPair(): Promise<KeyPair> {
  const pair = await subtle().generateKey(EC_KEY_ALGORITHM, true, ["sign", "verify"]);
  return { privateKey: pair.privateKey, publicKey: pair.publicKey };
}

/** The PEM label of an unencrypted PKCS#8 private key (RFC 7468 §10). */
export const PKCS8_LABEL = "PRIVATE KEY";

/** True when `text` starts like the PKCS#8 PEM that exportPrivateKeyPem writes. */
export const isPkcs8Pem = (text: string) => text.startsWith(`-----BEGIN ${PKCS8_LABEL}-----\n`);

/** The private key as PKCS#8 PEM (label PKCS8_LABEL), ending with "\n". */
export async function exportPrivateKeyPem(k: KeyPair): Promise<string> {
  let der: ArrayBuffer;
  try {
    der = await subtle().exportKey("pkcs8", k.privateKey);
  } catch (cause) {
    throw new X509Error(
      "private key cannot be exported; generate it with generateKeyPair() (extractable)",
      "bad-key",
      { cause },
    );
  }
  return encodePem(PKCS8_LABEL, new Uint8Array(der));
}

/**
 * Reads a PKCS#8 PEM P-256 private key and derives its public key. PKCS#8 need not carry the
 * public key, and WebCrypto has no "derive public" call, so we go through the JWK form: the
 * private JWK holds x and y, and dropping d leaves the public JWK.
 */
export async function importPrivateKeyPem(pem: string): Promise<KeyPair> {
  const describe = (why: string) =>
    `key is not a PKCS#8 PEM private key: ${why}` +
    (why.includes('"EC PRIVATE KEY"')
      ? " (convert it with `openssl pkcs8 -topk8 -nocrypt`)"
      : "");
  const der = decodeSinglePem(pem, PKCS8_LABEL, describe);
  const fast = await importP256Parts(der);
  if (fast) return fast;
  let privateKey: CryptoKey;
  try {
    privateKey = await subtle().importKey("pkcs8", der, EC_KEY_ALGORITHM, true, ["sign"]);
  } catch (cause) {
    throw new X509Error(describe("it is not an ECDSA P-256 key"), "bad-key", { cause });
  }
  const jwk = await subtle().exportKey("jwk", privateKey);
  const { kty, crv, x, y } = jwk;
  if (kty !== "EC" || crv !== "P-256" || !x || !y) {
    throw new X509Error(describe("it carries no P-256 public point"), "bad-key");
  }
  const publicKey = await subtle().importKey(
    "jwk",
    { kty, crv, x, y, ext: true },
    EC_KEY_ALGORITHM,
    true,
    ["verify"],
  );
  return { privateKey, publicKey };
}

// PKCS#8 of a P-256 key as OpenSSL and inforge write it (RFC 5208 around an RFC 5915
// ECPrivateKey with its public key): the prefix up to d, and the bytes between d and the point.
const P256_PKCS8_PREFIX = Uint8Array.from([0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20]);
const P256_PKCS8_MIDDLE = Uint8Array.from([0xa1, 0x44, 0x03, 0x42, 0x00, 0x04]);

const b64url = (b: Uint8Array) => btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/**
 * The common layout imported through JWK: WebCrypto's PKCS#8 import goes through OpenSSL 3's
 * generic decoders (about 1 ms per key in Node 20); the JWK import of d, x and y is a third of
 * that and, like it, refuses a d that does not belong to (x, y). Null for any other layout.
 */
async function importP256Parts(der: Uint8Array): Promise<KeyPair | null> {
  if (der.length !== 138) return null;
  for (let i = 0; i < P256_PKCS8_PREFIX.length; i++) if (der[i] !== P256_PKCS8_PREFIX[i]) return null;
  for (let i = 0; i < P256_PKCS8_MIDDLE.length; i++) if (der[68 + i] !== P256_PKCS8_MIDDLE[i]) return null;
  const [d, x, y] = [b64url(der.subarray(36, 68)), b64url(der.subarray(74, 106)), b64url(der.subarray(106, 138))];
  let privateKey: CryptoKey;
  try {
    privateKey = await subtle().importKey("jwk", { kty: "EC", crv: "P-256", d, x, y, ext: true }, EC_KEY_ALGORITHM, true, ["sign"]);
  } catch {
    return null; // let the PKCS#8 import give its own answer
  }
  const publicKey = await subtle().importKey("jwk", { kty: "EC", crv: "P-256", x, y, ext: true }, EC_KEY_ALGORITHM, true, ["verify"]);
  return { privateKey, publicKey };
}

/** DER SubjectPublicKeyInfo of a public key. */
export async function exportSpki(publicKey: CryptoKey): Promise<Bytes> {
  return new Uint8Array(await subtle().exportKey("spki", publicKey));
}

/** True when the algorithm is ECDSA on P-256, the only one this PKI signs with. */
export function isP256(key: CryptoKey): boolean {
  const alg = key.algorithm as Partial<EcKeyAlgorithm>;
  return alg.name === "ECDSA" && alg.namedCurve === "P-256";
}
