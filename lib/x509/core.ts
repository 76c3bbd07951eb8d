// The part of lib/x509 a run loads up front: keys, signers, leaves from templates, CRLs, key and
// signature checks, all without @peculiar/x509 (its import is about 70 ms, a third of a fleet
// renewal's start). The other certificate profiles load the library when first called; the
// synchronous readers that need it (parseCertificate, parseCrl, …) are mod.ts's, for the
// commands that read foreign shapes (verify, deploy, sign-csr, probe).
import type * as Profiles from "./profiles.ts";
import type * as Csr from "./csr.ts";

export { X509Error, type X509ErrorCode } from "./errors.ts";
export { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, isPkcs8Pem, type KeyPair } from "./keys.ts";
export { digestSigner, importP256Point, keySigner, signerKeyPair, type DigestSign, type Issuer, type SignPrimitive, type Signer } from "./signer.ts";
export { installPlatform, type Platform } from "./platform.ts";
export { generateLeafKey, leafKeyFromParts, prepareLeafIssuer, type LeafIssuer, type LeafKey, type LeafRequest, type LeafTemplate, type MintedLeaf } from "./fast-leaf.ts";
export { createCrl, type CrlEntry } from "./crl-sign.ts";
export type { CertInfo } from "./cert-info.ts";
export { certificateFingerprint, certificateFingerprints, verifyDetached, verifySignedBy } from "./read.ts";
export { certificateHasSpki, keyMatchesCertificate, publicKeyMatches } from "./key-match.ts";
export type { Defect, DefectCode } from "./strict-der.ts";
export { certificateJwk, type EcPublicJwk } from "./jwk.ts";
export { samePublicKey, signDetached } from "./detached.ts";

const profiles = () => import("./profiles.ts");
export const createRoot: typeof Profiles.createRoot = async (o) => (await profiles()).createRoot(o);
export const crossSignRoot: typeof Profiles.crossSignRoot = async (o) => (await profiles()).crossSignRoot(o);
export const createIntermediate: typeof Profiles.createIntermediate = async (o) => (await profiles()).createIntermediate(o);
export const createLeaf: typeof Profiles.createLeaf = async (o) => (await profiles()).createLeaf(o);
export const importCsrPublicKey: typeof Csr.importCsrPublicKey = async (spki) => (await import("./csr.ts")).importCsrPublicKey(spki);
