// An issuer checked before anything is signed under it, read without @peculiar/x509 when
// fast-parse.ts knows its shape (every issuer inforge makes): a fleet renewal prepares its
// intermediates for leaves and CRLs and never loads the library, whose import is about 70 ms of
// a run's start. Another shape is read by the library (parse.ts), loaded when first needed.
import { X509Error } from "./errors.ts";
import { exportSpki } from "./keys.ts";
import { fastIssuer, type CertInfo } from "./cert-info.ts";
import { bytesEqual, type Bytes } from "./pem.ts";
import { fromHex } from "../bytes.ts";
import { assertP256Signer, type Issuer, type Signer } from "./signer.ts";

/** An issuer certificate checked for use, with what child certificates and CRLs need from it. */
export interface LoadedIssuer {
  readonly info: CertInfo;
  readonly signer: Signer;
  readonly spki: Uint8Array;
  /** Its subject Name (DER): a child's issuer name, byte for byte. */
  readonly subjectName: Bytes;
  /** The AuthorityKeyIdentifier extension (DER) its children carry. */
  readonly akiDer: Bytes;
}

// keyUsage bits as fast-parse.ts issuerFields reads them (bit n as 1 << n, @peculiar/x509's KeyUsageFlags).
const KEY_CERT_SIGN = 1 << 5;
const CRL_SIGN = 1 << 6;

/**
 * Checks that the issuer may sign (cA, keyCertSign/cRLSign — §4.2.1.9, §4.2.1.3) and that its
 * signer holds the certificate's key, before anything is signed: with an HSM or KMS a wrong
 * key would otherwise surface only as certificates nobody can verify.
 */
export async function loadIssuer(issuer: Issuer, usage: "cert" | "crl" = "cert"): Promise<LoadedIssuer> {
  const p = await parsedIssuer(issuer.certPem);
  const { info, spki } = p;
  const flag = usage === "cert" ? KEY_CERT_SIGN : CRL_SIGN;
  if (!info.isCa || (p.keyUsage !== null && (p.keyUsage & flag) === 0)) {
    throw new X509Error(
      `issuer "${info.subjectCn}" is not a CA allowed to sign ${usage === "cert" ? "certificates" : "CRLs"}`,
      "not-a-ca",
    );
  }
  assertP256Signer(issuer.signer);
  if (!bytesEqual(spki, await signerSpki(issuer.signer))) {
    throw new X509Error(
      `issuer "${info.subjectCn}": the signer's public key is not the key in the issuer certificate; pair the certificate with its own key`,
      "signer-mismatch",
    );
  }
  // AKI = the issuer's SKI, byte for byte, so path builders match child to issuer (§4.2.1.1).
  const akiDer = (info.ski && akiExtension(info.ski)) || (await (await import("./parse.ts")).libraryAki(issuer.certPem));
  return { info, signer: issuer.signer, spki, subjectName: p.subjectName, akiDer };
}

/** The DER of a non-critical AuthorityKeyIdentifier extension holding keyIdentifier `hex`; null for one too long to write here. */
function akiExtension(hex: string): Bytes | null {
  const id = fromHex(hex);
  if (id.length < 1 || id.length > 64) return null;
  const n = id.length;
  return new Uint8Array([0x30, n + 11, 0x06, 0x03, 0x55, 0x1d, 0x23, 0x04, n + 4, 0x30, n + 2, 0x80, n, ...id]);
}

// A Signer's public key is readonly, so its SPKI is exported once per signer.
const signerSpkis = new WeakMap<Signer, Promise<Bytes>>();

function signerSpki(signer: Signer): Promise<Bytes> {
  let spki = signerSpkis.get(signer);
  if (!spki) {
    spki = exportSpki(signer.publicKey);
    signerSpkis.set(signer, spki);
    spki.catch(() => signerSpkis.delete(signer));
  }
  return spki;
}

// Certificates are immutable, so an issuer's reading is kept by exact PEM text (the internal info
// never leaves this module, so callers cannot mutate a cached entry). A fleet renewal prepares
// every scope's intermediate for its leaves and again for its CRL: the cache holds a fleet's
// issuers (20 scopes and the root overflowed 16, and each miss parsed again).
const ISSUER_CACHE_SIZE = 64;
interface ParsedIssuer {
  readonly info: CertInfo;
  readonly spki: Bytes;
  readonly subjectName: Bytes;
  readonly keyUsage: number | null;
}
const issuerCache = new Map<string, ParsedIssuer>();

async function parsedIssuer(pem: string): Promise<ParsedIssuer> {
  const hit = issuerCache.get(pem);
  if (hit) return hit;
  const entry = fastIssuer(pem, "issuer certificate") ?? (await import("./parse.ts")).libraryIssuer(pem);
  if (issuerCache.size >= ISSUER_CACHE_SIZE) {
    issuerCache.delete(issuerCache.keys().next().value!);
  }
  issuerCache.set(pem, entry);
  return entry;
}
