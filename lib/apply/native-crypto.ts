import { createECDH, KeyObject, sign as nodeSign, verify as nodeVerify, type ECDH } from "node:crypto";
import { digest, p256Point, publicKeyOf } from "../node-crypto.ts";
import * as X from "../x509/core.ts";

// node:crypto where it makes the same bytes cheaper than WebCrypto on the event loop, which is
// what bounds a fleet renewal (thousands of keys and signatures, one JavaScript thread):
// - P-256 key generation: WebCrypto's generateKey spends about 130 µs of the event loop per key
//   in Node 20 (algorithm normalisation, two KeyObject wrappers around the OpenSSL call);
//   node:crypto's ECDH generator makes the same kind of key — a random scalar in [1, n-1] and
//   its public point, by OpenSSL's EC_KEY_generate_key — in 20–40 µs. A leaf key is only ever
//   exported, never used through a CryptoKey.
// - ECDSA signing: about 30 µs of the event loop through subtle.sign, about 10 µs through
//   crypto.sign with a callback (both sign on the thread pool).
// Each is checked once at first use and falls back to the portable WebCrypto path on a runtime
// that lacks it or gets it wrong.

let ecdh: ECDH | null | undefined;

function nodeEcdh(): ECDH | null {
  if (ecdh !== undefined) return ecdh;
  try {
    const e = createECDH("prime256v1");
    const point = e.generateKeys();
    ecdh = point.length === 65 && point[0] === 0x04 && e.getPrivateKey().length <= 32 ? e : null;
  } catch {
    ecdh = null;
  }
  return ecdh;
}

/** A fresh P-256 leaf key (its SPKI for the certificate, its PKCS#8 PEM for sealing). */
export async function newLeafKey(): Promise<X.LeafKey> {
  const e = nodeEcdh();
  if (!e) return X.generateLeafKey();
  // Synchronous pair of calls: no other leaf can generate in between.
  const point = e.generateKeys();
  return X.leafKeyFromParts(e.getPrivateKey(), point);
}

const keyObjects = new WeakMap<CryptoKey, KeyObject>();
let nodeSignWorks = typeof KeyObject?.from === "function" && typeof nodeSign === "function";

/**
 * ECDSA P-256/SHA-256, P1363 r||s, through node:crypto. A runtime whose node:crypto lacks (or
 * refuses) it gets WebCrypto's signature instead, from then on: keySigner checks the first
 * signature against the public key either way.
 */
export const nativeSign: X.SignPrimitive = async (privateKey, data) => {
  if (nodeSignWorks) {
    try {
      let key = keyObjects.get(privateKey);
      if (!key) keyObjects.set(privateKey, (key = KeyObject.from(privateKey)));
      const k = key;
      return await new Promise<Uint8Array>((resolve, reject) =>
        nodeSign("sha256", data, { key: k, dsaEncoding: "ieee-p1363" }, (err, sig) => (err ? reject(err) : resolve(sig))));
    } catch {
      nodeSignWorks = false;
    }
  }
  return new Uint8Array(await globalThis.crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, data));
};

// `pki verify` checks every leaf's key (d·G against its certificate) and every signature:
// node:crypto does both for a fraction of WebCrypto's per-call cost (lib/x509/platform.ts).
// Installed when this module loads — lib/apply/keys.ts, which every command that opens keys
// imports, imports it — and only what works here: d·G is checked against a generated pair
// first; a verification that throws makes lib/x509 fall back to WebCrypto.
// d·G is lib/node-crypto.ts p256Point, which verify's workers use too.
function pointWorks(): boolean {
  try {
    const e = createECDH("prime256v1");
    const q = e.generateKeys();
    return Buffer.from(p256Point(e.getPrivateKey())).equals(q);
  } catch {
    return false;
  }
}
export const nativePlatform: X.Platform = {
  ...(pointWorks() ? { p256Point } : {}),
  sha256: (data) => digest("sha256", data),
  verifyP256: (spki, sig, data) => {
    const key = publicKeyOf(spki);
    return new Promise((resolve, reject) =>
      nodeVerify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, sig, (err, ok) => (err ? reject(err) : resolve(ok))));
  },
};
X.installPlatform(nativePlatform);
