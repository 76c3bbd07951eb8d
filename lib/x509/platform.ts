// Optional platform routines for the operations `pki verify` repeats per leaf, where WebCrypto's
// per-call cost (or JavaScript hashing) dominates: lib/apply/native-crypto.ts installs
// node:crypto's on Node. The answers are the same either way (test/fast-parse.test.ts runs both);
// lib/x509 itself stays on WebCrypto and @noble/hashes, so Deno and browsers run it unchanged.
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";

export interface Platform {
  /** d·G on P-256, as the 65-byte uncompressed point; d is big-endian, 32 bytes. */
  p256Point?(d: Uint8Array): Uint8Array;
  /** The same on another thread, where one is lent for a while (`pki verify`'s workers); p256Point stays the reference. */
  p256PointAsync?(d: Uint8Array): Promise<Uint8Array>;
  /** ECDSA P-256/SHA-256: does the r||s signature over `data` verify with the key of `spki`? */
  verifyP256?(spki: Uint8Array, sig: Uint8Array, data: Uint8Array): Promise<boolean>;
  /** SHA-256, synchronous (a certificate's fingerprint): about 1 µs natively against 8 µs in JavaScript. */
  sha256?(data: Uint8Array): Uint8Array;
}

export const platform: Platform = {};

/** Install (or, with undefined members, remove) platform routines. */
export function installPlatform(p: Platform): void {
  platform.p256Point = p.p256Point;
  platform.verifyP256 = p.verifyP256;
  platform.sha256 = p.sha256;
}

/** SHA-256 of `data`: the platform's, else @noble/hashes'. */
export function sha256(data: Uint8Array): Uint8Array {
  return platform.sha256 ? platform.sha256(data) : nobleSha256(data);
}
