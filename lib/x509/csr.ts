// PKCS#10 certificate requests (RFC 2986) from workloads that keep their own key: read, check the
// key against the mesh's key policy, verify the proof of possession (the request's signature).
// What names the request may ask for is the planner's call (it knows the scope's names).
import { X509Error } from "./errors.ts";
import type { CsrRequest } from "../model/csr.ts";
import { errText } from "./parse.ts";
import { assertSingleDerElement, decodePemBlocks } from "./pem.ts";
import { fromBase64, toBase64, toHex } from "../bytes.ts";
import { asn1x509, AsnConvert, x509 } from "./vendor.ts";

/** What inforge takes from a verified CSR (the shape lives in lib/model, shared with the DSL). */
export type CsrInfo = CsrRequest;

// Key policy. Every certificate in this mesh is ECDSA P-256 and the leaf profile issues for P-256
// keys only, so a CSR must carry one. Keys that are weak by today's measure (RSA < 2048 bits,
// EC curves under 256 bits, DSA) are refused as too weak; stronger keys the profile does not
// issue for yet (P-384, P-521, Ed25519, RSA ≥ 2048) as unsupported. Widening the list means
// teaching createLeaf other subject keys first.
const ID_EC = "1.2.840.10045.2.1";
const ID_RSA = "1.2.840.113549.1.1.1";
const EC_CURVES: Record<string, { name: string; bits: number }> = {
  "06082a8648ce3d030107": { name: "P-256", bits: 256 },
  "06052b81040022": { name: "P-384", bits: 384 },
  "06052b81040023": { name: "P-521", bits: 521 },
  "06082a8648ce3d030101": { name: "P-192", bits: 192 },
  "06052b81040021": { name: "P-224", bits: 224 },
  "06052b8104000a": { name: "secp256k1", bits: 256 },
};
const OTHER_KEYS: Record<string, string> = {
  "1.3.101.112": "Ed25519",
  "1.3.101.113": "Ed448",
  "1.2.840.10040.4.1": "DSA",
};
const HOW = "generate a P-256 key: openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -subj /CN=<service>.<scope>.<domain>";

/**
 * The largest CSR read: a P-256 request is under 1 KiB, and one with every SAN a service may
 * carry a few KiB; anything bigger is not a request for this mesh, and decoding it costs memory.
 */
export const MAX_CSR_BYTES = 64 * 1024;

/**
 * Reads one PEM CSR ("CERTIFICATE REQUEST", or the older "NEW CERTIFICATE REQUEST"), refuses
 * keys outside the policy, and verifies its signature. Throws X509Error with one sentence.
 * `what` names the input (its path) in messages.
 */
export async function parseCsr(pem: string, what = "csr"): Promise<CsrInfo> {
  const describe = (why: string) => `${what} is not a PEM certificate request: ${why}`;
  if (typeof pem === "string" && pem.length > MAX_CSR_BYTES) {
    throw new X509Error(`${what} is ${pem.length} bytes; a certificate request is at most ${MAX_CSR_BYTES / 1024} KiB (a P-256 CSR is under 1 KiB) — give the CSR file itself`, "bad-input");
  }
  const blocks = decodePemBlocks(pem, describe);
  if (blocks.length !== 1) throw new X509Error(describe(`expected exactly one block, found ${blocks.length}`), "not-pem");
  const [block] = blocks as [(typeof blocks)[number]];
  if (block.label !== "CERTIFICATE REQUEST" && block.label !== "NEW CERTIFICATE REQUEST") {
    throw new X509Error(describe(`found a "${block.label}" block, expected "CERTIFICATE REQUEST"`), "not-pem");
  }
  assertSingleDerElement(block.der, describe);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(block.der);
  } catch (cause) {
    throw new X509Error(describe(`the DER is not a PKCS#10 request (${errText(cause)})`), "bad-der", { cause });
  }
  const key = keyPolicy(csr, what);
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  // The signature is the requester's proof that it holds the private key (RFC 2986 §3): without
  // it anyone could get a certificate for someone else's public key.
  if (!valid) {
    throw new X509Error(`${what}: the request's signature does not verify with its own public key (it was altered, or signed with another key); make a new CSR with the service's key`, "bad-signature");
  }
  const san = csr.extensions.find((e) => e.type === "2.5.29.17");
  const names = san ? new x509.SubjectAlternativeNameExtension(san.rawData).names.items : [];
  const label: Record<string, string> = { ip: "IP", email: "email", guid: "GUID", upn: "UPN", id: "RID" };
  return {
    publicKey: toBase64(new Uint8Array(csr.publicKey.rawData)),
    key,
    commonNames: csr.subjectName.getField("CN"),
    dns: names.filter((n) => n.type === "dns").map((n) => n.value),
    uris: names.filter((n) => n.type === "url").map((n) => n.value),
    other: names.filter((n) => n.type !== "dns" && n.type !== "url").map((n) => `${label[n.type] ?? n.type}:${n.value}`),
  };
}

/** The key's name when the policy allows it; an X509Error ("too weak" / "not issued for") otherwise. */
function keyPolicy(csr: x509.Pkcs10CertificateRequest, what: string): string {
  const spki = AsnConvert.parse(csr.publicKey.rawData, asn1x509.SubjectPublicKeyInfo);
  const oid = spki.algorithm.algorithm;
  let name: string;
  let weak: boolean;
  if (oid === ID_EC) {
    const params = spki.algorithm.parameters ? toHex(new Uint8Array(spki.algorithm.parameters)) : "";
    const curve = EC_CURVES[params];
    name = `ECDSA ${curve?.name ?? `on an unknown curve (${params || "no parameters"})`}`;
    weak = !curve || curve.bits < 256;
    if (curve?.name === "P-256") return name;
  } else if (oid === ID_RSA) {
    const bits = (csr.publicKey.algorithm as Partial<RsaHashedKeyAlgorithm>).modulusLength ?? 0;
    name = `RSA ${bits}`;
    weak = bits < 2048;
  } else {
    name = OTHER_KEYS[oid] ?? `an unknown key type (${oid})`;
    weak = name === "DSA";
  }
  throw new X509Error(
    weak
      ? `${what}: the request's key is ${name}, which is too weak to be certified; ${HOW}`
      : `${what}: the request's key is ${name}, which this mesh does not issue for (its certificates are ECDSA P-256 throughout); ${HOW}`,
    "bad-key",
  );
}

/** A CSR's public key (DER SubjectPublicKeyInfo, base64) as a WebCrypto key for createLeaf. */
export async function importCsrPublicKey(spkiBase64: string): Promise<CryptoKey> {
  const der = fromBase64(spkiBase64) ?? new Uint8Array(0); // an empty key: importKey refuses it below
  try {
    return await globalThis.crypto.subtle.importKey("spki", der, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
  } catch (cause) {
    throw new X509Error(`the requested public key is not an ECDSA P-256 key (${errText(cause)}); make a new CSR with a P-256 key`, "bad-key", { cause });
  }
}
