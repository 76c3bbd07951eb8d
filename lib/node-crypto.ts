// node:crypto routines shared by the main thread (lib/apply/native-crypto.ts, lib/store/journal.ts)
// and the worker threads (lib/apply/mint-worker.ts). Each thread loads its own copy, caches too.
import * as nodeCrypto from "node:crypto";

// The one-shot hash (Node ≥ 20.12, Deno 2) costs half of a Hash object's for a small input
// (about 1 against 2 µs): a fleet renewal hashes every certificate several times. Looked up on
// the namespace: a named import of a missing export would stop an older Node 20 loading this.
const oneShot = typeof nodeCrypto.hash === "function" ? nodeCrypto.hash : null;

export function digest(alg: "sha1" | "sha256", data: string | Uint8Array): Buffer {
  return oneShot ? oneShot(alg, data, "buffer") : nodeCrypto.createHash(alg).update(data).digest();
}

export function digestHex(alg: "sha1" | "sha256", data: string | Uint8Array): string {
  return oneShot ? oneShot(alg, data, "hex") : nodeCrypto.createHash(alg).update(data).digest("hex");
}

// An issuer's public key is imported once however many signatures it checks (each intermediate
// of a fleet signed thousands of leaves); bounded, oldest first out.
const publicKeys = new Map<string, nodeCrypto.KeyObject>();

/** The KeyObject of a DER SubjectPublicKeyInfo. */
export function publicKeyOf(spki: Uint8Array): nodeCrypto.KeyObject {
  const id = Buffer.from(spki).toString("base64");
  let key = publicKeys.get(id);
  if (!key) {
    if (publicKeys.size >= 256) publicKeys.delete(publicKeys.keys().next().value!);
    publicKeys.set(id, (key = nodeCrypto.createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" })));
  }
  return key;
}

// One ECDH object for every d·G: constructing one per key cost about a third of `pki verify`'s
// key check (190 of 500 ms at 10,000 leaves in a profile). The set and get are one synchronous pair.
let pointEcdh: nodeCrypto.ECDH | undefined;

/** d·G on P-256 as the 65-byte uncompressed point (d big-endian); throws for a d that is no key. */
export function p256Point(d: Uint8Array): Uint8Array {
  const e = (pointEcdh ??= nodeCrypto.createECDH("prime256v1"));
  e.setPrivateKey(d);
  return new Uint8Array(e.getPublicKey());
}

/**
 * PEM text of DER bytes, byte for byte lib/x509/pem.ts encodePem (64-column lines, one final
 * newline), with Buffer's base64: about 2 µs against 4.5 µs in JavaScript, twice a leaf minted
 * (its certificate and its key). Written into one buffer and decoded once: a flat string, not a
 * rope of pieces held until the commit.
 */
export function pemNative(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  const begin = `-----BEGIN ${label}-----\n`;
  const end = `-----END ${label}-----\n`;
  const out = Buffer.allocUnsafe(begin.length + b64.length + Math.ceil(b64.length / 64) + end.length);
  let o = out.write(begin, 0, "latin1");
  for (let k = 0; k < b64.length; k += 64) {
    o += out.write(k + 64 < b64.length ? b64.slice(k, k + 64) : b64.slice(k), o, "latin1");
    out[o++] = 0x0a;
  }
  out.write(end, o, "latin1");
  return out.toString("latin1");
}
