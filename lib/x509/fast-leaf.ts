// Leaves from a prepared issuer: the template (lib/x509/leaf-der.ts) is read off the issuer's
// certificate once, with the checks createLeaf makes, and every leaf is signed through the
// issuer's Signer (so an HSM or KMS signer still slots in).
import { X509Error } from "./errors.ts";
import { EC_KEY_ALGORITHM, exportSpki } from "./keys.ts";
import { concat, fromBase64Url, type Bytes } from "../bytes.ts";
import { leafEncoder, leafKeyFromParts, type LeafKey, type LeafRequest, type LeafTemplate, type MintedLeaf } from "./leaf-der.ts";
import { loadIssuer } from "./issuer.ts";
import { isKeySigner, type Issuer, type Signer } from "./signer.ts";

export { leafKeyFromParts, type LeafKey, type LeafRequest, type LeafTemplate, type MintedLeaf };

/**
 * Generates a P-256 leaf key. One export as JWK (synchronous in Node, and it carries d, x and
 * y) replaces two thread-pool exports (SPKI and PKCS#8); both DER forms are fixed layouts around
 * those three numbers. The PKCS#8 bytes are the ones `exportKey("pkcs8")` produces.
 */
export async function generateLeafKey(): Promise<LeafKey> {
  const { privateKey } = await globalThis.crypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ["sign", "verify"]);
  const jwk = await globalThis.crypto.subtle.exportKey("jwk", privateKey);
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || !jwk.d || !jwk.x || !jwk.y) {
    throw new X509Error("the platform exported a P-256 key without its d, x and y", "bad-key");
  }
  return leafKeyFromParts(fromBase64Url(jwk.d), concat([Uint8Array.of(0x04), fromBase64Url(jwk.x), fromBase64Url(jwk.y)]));
}

/** An issuer prepared for issuing many leaves; `mint` may be called concurrently. */
export interface LeafIssuer {
  readonly subjectCn: string;
  /** The issuer as plain data, for minting elsewhere (worker threads) with the same encoder. */
  readonly template: LeafTemplate;
  mint(r: LeafRequest): Promise<MintedLeaf>;
}


/**
 * Prepare `issuer` for issuing leaves with the createLeaf profile. Checks the issuer as
 * createLeaf does (a CA allowed to sign certificates, whose signer holds the certificate's key)
 * once, and precomputes its name, AKI and the constant extensions.
 */
export async function prepareLeafIssuer(issuer: Issuer): Promise<LeafIssuer> {
  const ca = await loadIssuer(issuer);
  const template: LeafTemplate = {
    issuer: { subjectCn: ca.info.subjectCn, notBefore: ca.info.notBefore, notAfter: ca.info.notAfter },
    issuerName: ca.subjectName,
    aki: ca.akiDer,
    spki: ca.spki,
  };
  const enc = leafEncoder(template);
  const signer: Signer = ca.signer;
  const verifyAfter = !isKeySigner(signer);
  const subtle = globalThis.crypto.subtle;

  async function mint(r: LeafRequest): Promise<MintedLeaf> {
    const u = enc.tbs(r);
    const sig = await signer.sign(u.tbs);
    // As in profiles.ts: keySigner signs with WebCrypto itself; any other signer (HSM, KMS)
    // must prove it signed these bytes with the issuer's key before a certificate exists.
    if (verifyAfter && sig instanceof Uint8Array && sig.length === 64 && !(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, signer.publicKey, new Uint8Array(sig), u.tbs))) {
      throw new X509Error("the signer's signature does not verify with its public key", "bad-signature");
    }
    return enc.finish(u, sig);
  }

  return { subjectCn: ca.info.subjectCn, template, mint };
}

/** The DER SubjectPublicKeyInfo of a CryptoKey, for callers that hold a key rather than a LeafKey. */
export const spkiOf = (publicKey: CryptoKey): Promise<Bytes> => exportSpki(publicKey);
