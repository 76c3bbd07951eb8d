// Public API of lib/x509: certificate profiles for the inforge PKI on @peculiar/x509.
// Nothing outside lib/x509 imports @peculiar/*: the rest of inforge sees only these types.
// read.ts is the one other door: the few reads a read-only command needs, without @peculiar/x509.
// reflect-metadata first: @peculiar/x509's DI container needs Reflect at import time.
import "reflect-metadata";

export { X509Error, type X509ErrorCode } from "./errors.ts";
export { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, isPkcs8Pem, type KeyPair } from "./keys.ts";
export { digestSigner, importP256Point, keySigner, signerKeyPair, type DigestSign, type Issuer, type SignPrimitive, type Signer } from "./signer.ts";
export { installPlatform, type Platform } from "./platform.ts";
export { createIntermediate, createLeaf, createRoot, crossSignRoot } from "./profiles.ts";
export { generateLeafKey, leafKeyFromParts, prepareLeafIssuer, type LeafIssuer, type LeafKey, type LeafRequest, type LeafTemplate, type MintedLeaf } from "./fast-leaf.ts";
export { createCrl, parseCrl, type CrlEntry, type CrlInfo } from "./crl.ts";
export { derDefects, parseCertificate, parseCertificates, type CertInfo } from "./parse.ts";
export { certificateFingerprint, verifyDetached, verifySignedBy } from "./read.ts";
export { certificateHasSpki, keyMatchesCertificate, publicKeyMatches } from "./key-match.ts";
export type { Defect, DefectCode } from "./strict-der.ts";
export { certificateJwk, type EcPublicJwk } from "./jwk.ts";
export { samePublicKey, signDetached } from "./detached.ts";
export { importCsrPublicKey, MAX_CSR_BYTES, parseCsr, type CsrInfo } from "./csr.ts";
