// The certificate signature check for the one algorithm inforge issues with, without the
// library: verifySignedBy (lib/x509/read.ts) uses it whenever it can, so the read-only commands
// prove a chain without loading @peculiar/x509.
import { bytesEqual } from "./pem.ts";
import { certificateParts, childrenOf, tlvAt } from "./fast-parse.ts";
import { platform } from "./platform.ts";
import { ECDSA_SHA256_ALG, P256_SPKI_PREFIX } from "./p256.ts";

// An issuer's key is imported once however many children are checked against it.
const issuerKeys = new Map<string, Promise<CryptoKey>>();

/**
 * The signature check of verifySignedBy without the library, for the one algorithm inforge
 * issues with (ECDSA P-256, SHA-256): the TBSCertificate's bytes and the DER signature are cut
 * out of the certificate, the signature turned into WebCrypto's r||s. Null for anything else
 * (another algorithm, an odd encoding), which the library then checks.
 */
export async function verifyEcdsaP256(der: Uint8Array, issuerPem: string, issuerSpki: Uint8Array): Promise<boolean | null> {
  const parts = certificateParts(der);
  if (!parts || issuerSpki.length !== 91 || !bytesEqual(issuerSpki.subarray(0, P256_SPKI_PREFIX.length), P256_SPKI_PREFIX)) return null;
  const alg = der.subarray(parts.alg.start, parts.alg.end);
  const inner = childrenOf(der, parts.tbs)?.[2];
  if (!inner || !bytesEqual(alg, ECDSA_SHA256_ALG) || !bytesEqual(der.subarray(inner.start, inner.end), ECDSA_SHA256_ALG)) return null;
  // BIT STRING { 0 unused bits, SEQUENCE { INTEGER r, INTEGER s } } → 64 bytes r||s.
  if (der[parts.sig.body] !== 0) return null;
  const seq = tlvAt(der, parts.sig.body + 1, parts.sig.end);
  const rs = seq && seq.tag === 0x30 && seq.end === parts.sig.end ? childrenOf(der, seq) : null;
  if (!rs || rs.length !== 2 || rs.some((x) => x.tag !== 0x02)) return null;
  const sig = new Uint8Array(64);
  for (const [i, x] of rs.entries()) {
    let from = x.body;
    while (from < x.end - 1 && der[from] === 0) from++;
    if (x.end - from > 32) return null;
    sig.set(der.subarray(from, x.end), 32 * (i + 1) - (x.end - from));
  }
  const tbs = der.slice(parts.tbs.start, parts.tbs.end);
  if (platform.verifyP256) {
    try {
      return await platform.verifyP256(issuerSpki, sig, tbs);
    } catch {
      // the platform routine is unavailable here: WebCrypto below gives the same answer
    }
  }
  let key = issuerKeys.get(issuerPem);
  if (!key) {
    if (issuerKeys.size >= 64) issuerKeys.delete(issuerKeys.keys().next().value!);
    key = globalThis.crypto.subtle.importKey("spki", new Uint8Array(issuerSpki), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    issuerKeys.set(issuerPem, key);
  }
  return globalThis.crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, await key, sig, tbs);
}
