// A certificate's public key as a JWK and its DER as base64: what a SPIFFE trust bundle carries
// for each X.509 authority (a JWK set whose "x509-svid" keys hold "x5c", RFC 7517 §4.7). Read
// off the DER (a renewal that rewrites a bundle does not load @peculiar/x509 for it).
import { X509Error } from "./errors.ts";
import { CERT_LABEL, certReason } from "./read.ts";
import { certificateSpki, childrenOf, oidText, tlvAt } from "./fast-parse.ts";
import { assertSingleDerElement, decodeSinglePem } from "./pem.ts";
import { toBase64, toBase64Url, toHex } from "../bytes.ts";

/** An elliptic-curve public key in JWK form (RFC 7518 §6.2.1). */
export interface EcPublicJwk {
  readonly kty: "EC";
  readonly crv: "P-256" | "P-384" | "P-521";
  readonly x: string;
  readonly y: string;
}

const ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";
// DER of the namedCurve OID (RFC 5480 §2.1.1.1) → JWK curve name and coordinate length.
const CURVES: Record<string, [EcPublicJwk["crv"], number]> = {
  "06082a8648ce3d030107": ["P-256", 32],
  "06052b81040022": ["P-384", 48],
  "06052b81040023": ["P-521", 66],
};

/** A certificate as a SPIFFE bundle needs it: the JWK of its key, and its DER in base64 (x5c). */
export function certificateJwk(pem: string, what = "certificate"): { jwk: EcPublicJwk; x5c: string } {
  const describe = certReason(what);
  const der = decodeSinglePem(pem, CERT_LABEL, describe);
  assertSingleDerElement(der, describe);
  // SubjectPublicKeyInfo ::= SEQUENCE { SEQUENCE { algorithm OID, parameters }, BIT STRING } (RFC 5280 §4.1.2.7).
  const spki = certificateSpki(der);
  const outer = spki && tlvAt(spki, 0);
  const [alg, bits] = (spki && outer && childrenOf(spki, outer)) ?? [];
  const [oid, params] = (spki && alg?.tag === 0x30 && childrenOf(spki, alg)) || [];
  if (!spki || !oid || oid.tag !== 0x06 || bits?.tag !== 0x03 || bits.end - bits.body < 1 || spki[bits.body] !== 0) {
    throw new X509Error(describe("the DER is not an X.509 certificate with a readable public key"), "bad-der");
  }
  const algorithm = oidText(spki, oid);
  const curve = params ? CURVES[toHex(spki.subarray(params.start, params.end))] : undefined;
  const point = spki.subarray(bits.body + 1, bits.end);
  if (algorithm !== ID_EC_PUBLIC_KEY || !curve) {
    throw new X509Error(`${what} has a ${algorithm} key, which a SPIFFE bundle here cannot carry; only EC P-256/P-384/P-521 keys are written as JWKs`, "bad-key");
  }
  const [crv, n] = curve;
  // Uncompressed point (SEC 1 §2.3.3): 0x04 || X || Y, each coordinate n bytes.
  if (point.length !== 1 + 2 * n || point[0] !== 0x04) {
    throw new X509Error(`${what} has a malformed ${crv} public point (${point.length} bytes); restore the certificate from git`, "bad-der");
  }
  return {
    jwk: { kty: "EC", crv, x: toBase64Url(point.subarray(1, 1 + n)), y: toBase64Url(point.subarray(1 + n)) },
    x5c: toBase64(der),
  };
}
