// Key pairs on WebCrypto only (no node:crypto), so the same code runs under Node and Deno.
import { X509Error } from "./errors.ts";
import { decodeSinglePem, encodePem, type Bytes } from "./pem.ts";
import { toBase64Url } from "../bytes.ts";
import { p256Pkcs8Parts } from "./p256.ts";

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



/**
 * The common layout imported through JWK: WebCrypto's PKCS#8 import goes through OpenSSL 3's
 * generic decoders (about 1 ms per key in Node 20); the JWK import of d, x and y is a third of
 * that and, like it, refuses a d that does not belong to (x, y). Null for any other layout.
 */
async function importP256Parts(der: Uint8Array): Promise<KeyPair | null> {
  const parts = p256Pkcs8Parts(der);
  if (!parts) return null;
  const [d, x, y] = [toBase64Url(parts.d), toBase64Url(parts.point.subarray(1, 33)), toBase64Url(parts.point.subarray(33))];
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
