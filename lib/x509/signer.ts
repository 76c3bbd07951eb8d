// The signing seam. Everything that issues a certificate or CRL signs through a Signer, so an
// issuer key held in an HSM (PKCS#11) or a cloud KMS can replace the age-sealed file without
// touching profiles, the planner or the DSL.
import { X509Error } from "./errors.ts";
import { EC_KEY_ALGORITHM, EC_SIGN_ALGORITHM, isP256, type KeyPair } from "./keys.ts";

/**
 * Signs bytes with an issuer's private key. `sign` receives the DER of a TBSCertificate or
 * TBSCertList and returns the raw WebCrypto ECDSA P-256/SHA-256 signature (IEEE P1363 r||s,
 * 64 bytes) — not DER: KMS APIs that return DER must convert.
 */
export interface Signer {
  readonly publicKey: CryptoKey;
  sign(tbs: Uint8Array): Promise<Uint8Array>;
}

/** A certificate authority: its certificate and a way to sign with its key. */
export interface Issuer {
  readonly certPem: string;
  readonly signer: Signer;
}

// Signers made by keySigner, with the pair each signs with. They sign with WebCrypto directly and
// check their key pair on first use, so their output needs no after-the-fact verification; the
// pair lets a worker thread of this process sign the same bytes (lib/apply/mint-workers.ts passes
// the CryptoKey by structured clone; it is never exported).
const signerPairs = new WeakMap<Signer, KeyPair>();

export function isKeySigner(signer: Signer): boolean {
  return signerPairs.has(signer);
}

/** The in-memory key pair a keySigner signs with; undefined for any other signer (a token, a KMS). */
export function signerKeyPair(signer: Signer): KeyPair | undefined {
  return signerPairs.get(signer);
}

/**
 * The raw signing operation of a keySigner: ECDSA P-256/SHA-256 over `data` with `privateKey`,
 * IEEE P1363 r||s. WebCrypto's by default; a runtime with a cheaper call for the same operation
 * (lib/apply passes node:crypto's, a third of WebCrypto's cost on the event loop) may supply it.
 */
export type SignPrimitive = (privateKey: CryptoKey, data: Uint8Array<ArrayBuffer>) => Promise<Uint8Array>;

const webSign: SignPrimitive = async (privateKey, data) => new Uint8Array(await globalThis.crypto.subtle.sign(EC_SIGN_ALGORITHM, privateKey, data));

/** A Signer over an in-memory WebCrypto key pair. */
export function keySigner(k: KeyPair, o: { primitive?: SignPrimitive } = {}): Signer {
  const { privateKey, publicKey } = k;
  if (!privateKey || privateKey.type !== "private" || !isP256(privateKey)) {
    throw new X509Error("keySigner needs an ECDSA P-256 private key", "bad-key");
  }
  const subtle = globalThis.crypto.subtle;
  const primitive = o.primitive ?? webSign;
  let pairChecked = false;
  const signer: Signer = Object.freeze({
    publicKey,
    async sign(tbs: Uint8Array): Promise<Uint8Array> {
      const data = new Uint8Array(tbs);
      const sig = new Uint8Array(await primitive(privateKey, data));
      // Once per signer: a pair glued from two different keys would otherwise sign
      // certificates that the published public key cannot verify.
      if (!pairChecked) {
        if (!(await subtle.verify(EC_SIGN_ALGORITHM, publicKey, sig, data))) {
          throw new X509Error("key pair does not match: its public key does not verify its private key's signatures", "bad-key");
        }
        pairChecked = true;
      }
      return sig;
    },
  });
  signerPairs.set(signer, k);
  return signer;
}

export function isSigner(x: KeyPair | Signer): x is Signer {
  return typeof (x as Partial<Signer>).sign === "function";
}

export function assertP256Signer(signer: Signer): void {
  if (!signer || typeof signer.sign !== "function" || !signer.publicKey) {
    throw new X509Error("signer must have a publicKey and a sign(tbs) method");
  }
  if (!isP256(signer.publicKey)) {
    throw new X509Error(
      `signer key is ${JSON.stringify(signer.publicKey.algorithm)}; expected ECDSA P-256`,
      "bad-key",
    );
  }
}

/**
 * A WebCrypto `Crypto` whose subtle.sign goes to `signer`, for the optional crypto argument
 * of @peculiar/x509's generators. Those generators call subtle.sign(alg, signingKey, tbs); we
 * pass the signer's public key as `signingKey` (the library reads only its `algorithm` to pick
 * ecdsa-with-SHA256) and ignore it here. Every other member forwards, bound, to the platform's
 * crypto (Node's SubtleCrypto methods check their receiver).
 */
export function signerCrypto(signer: Signer): Crypto {
  const base = globalThis.crypto;
  const sign = async (_alg: unknown, _key: unknown, data: BufferSource): Promise<ArrayBuffer> => {
    const tbs = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);
    const sig = await signer.sign(tbs.slice());
    if (!(sig instanceof Uint8Array) || sig.length !== 64) {
      throw new X509Error(
        `signer returned ${sig instanceof Uint8Array ? `${sig.length} bytes` : typeof sig}; ` +
          "expected a 64-byte P1363 r||s ECDSA P-256 signature (convert DER signatures first)",
        "bad-signature",
      );
    }
    return sig.slice().buffer;
  };
  const subtle = new Proxy(base.subtle, {
    get(target, prop) {
      if (prop === "sign") return sign;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return {
    subtle,
    getRandomValues: base.getRandomValues.bind(base),
    randomUUID: base.randomUUID.bind(base),
  } as Crypto;
}

/**
 * Signs a SHA-256 digest with a key held elsewhere (a PKCS#11 token), returning r||s. Tokens such
 * as SoftHSM 2.6 offer only raw CKM_ECDSA for EC keys, so the hash is computed here.
 */
export type DigestSign = (digest: Uint8Array) => Promise<Uint8Array>;

/**
 * A Signer over a key that never leaves its device: SHA-256 here, the ECDSA operation there.
 * PKCS#11 returns ECDSA signatures as r||s already (PKCS#11 v2.40 §2.3.1), the form Signer wants.
 * The first signature is verified with `publicKey`, as keySigner does, so a device that signs
 * with some other key is caught before anything it signed is kept.
 */
export function digestSigner(publicKey: CryptoKey, signDigest: DigestSign): Signer {
  if (!isP256(publicKey)) throw new X509Error("digestSigner needs an ECDSA P-256 public key", "bad-key");
  const subtle = globalThis.crypto.subtle;
  let checked = false;
  return Object.freeze({
    publicKey,
    async sign(tbs: Uint8Array): Promise<Uint8Array> {
      const data = new Uint8Array(tbs);
      const digest = new Uint8Array(await subtle.digest("SHA-256", data));
      const sig = await signDigest(digest);
      if (!(sig instanceof Uint8Array) || sig.length !== 64) {
        throw new X509Error(`the signing device returned ${sig instanceof Uint8Array ? `${sig.length} bytes` : typeof sig}; expected 64 bytes of ECDSA P-256 r||s`, "bad-signature");
      }
      if (!checked) {
        if (!(await subtle.verify(EC_SIGN_ALGORITHM, publicKey, new Uint8Array(sig), data))) {
          throw new X509Error("the signing device's signature does not verify with its public key", "bad-signature");
        }
        checked = true;
      }
      return sig;
    },
  });
}

/** The WebCrypto public key of an uncompressed P-256 point (0x04‖X‖Y, as CKA_EC_POINT holds it). */
export async function importP256Point(point: Uint8Array): Promise<CryptoKey> {
  if (point.length !== 65 || point[0] !== 4) throw new X509Error(`expected an uncompressed P-256 point (65 bytes starting 0x04), got ${point.length} bytes`, "bad-key");
  return globalThis.crypto.subtle.importKey("raw", new Uint8Array(point), EC_KEY_ALGORITHM, true, ["verify"]);
}
