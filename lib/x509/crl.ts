// Certificate revocation lists (RFC 5280 §5), signed through the Signer seam.
import { X509Error } from "./errors.ts";
import { EC_SIGN_ALGORITHM } from "./keys.ts";
import { errText } from "./parse.ts";
import { assertSingleDerElement, decodeSinglePem, encodePem, type Bytes } from "./pem.ts";
import { loadIssuer, validity } from "./profiles.ts";
import { signerCrypto, type Issuer } from "./signer.ts";
import { x509 } from "./vendor.ts";

const ID_CE_CRL_NUMBER = "2.5.29.20";
// openssl reads only this label; @peculiar/x509's toString("pem") writes "BEGIN CRL".
const CRL_LABEL = "X509 CRL";

/** A parsed CRL, as plain data. */
export interface CrlInfo {
  issuerCn: string;
  thisUpdate: Date;
  nextUpdate: Date | null;
  crlNumber: number | null;
  /** Lowercase hex serials, in CRL order. */
  revokedSerials: string[];
  /** The authorityKeyIdentifier keyIdentifier (lowercase hex), to match the CRL to its root. */
  aki: string | null;
}

/**
 * An X.509 v2 CRL (§5.1.2.1) issued by `issuer`, with the authorityKeyIdentifier (§5.2.1: MUST)
 * and cRLNumber (§5.2.3: MUST, non-critical, monotonically increasing — the caller keeps the
 * count) extensions. Returns PEM labelled "X509 CRL", ending with "\n".
 */
export async function createCrl(o: {
  issuer: Issuer;
  thisUpdate: Date;
  nextUpdate: Date;
  crlNumber: number;
  revoked: { serial: string; date: Date }[];
}): Promise<string> {
  if (!Number.isSafeInteger(o.crlNumber) || o.crlNumber < 0) {
    throw new X509Error(`crl number ${JSON.stringify(o.crlNumber)} is not a non-negative integer`);
  }
  const ca = await loadIssuer(o.issuer, "crl");
  const what = `crl of "${ca.info.subjectCn}"`;
  // Reuse the certificate validity rules: whole seconds, nextUpdate after thisUpdate.
  const { notBefore: thisUpdate, notAfter: nextUpdate } = validity(
    { notBefore: o.thisUpdate, notAfter: o.nextUpdate },
    what,
    null,
  );
  const entries = (o.revoked ?? []).map(({ serial, date }) => ({
    serialNumber: normaliseSerial(serial, what),
    revocationDate: new Date(Math.floor(date.getTime() / 1000) * 1000),
  }));
  let crl: x509.X509Crl;
  try {
    crl = await x509.X509CrlGenerator.create(
      {
        issuer: ca.cert.subjectName,
        thisUpdate,
        nextUpdate,
        entries,
        extensions: [
          ca.aki,
          new x509.Extension(ID_CE_CRL_NUMBER, false, derInteger(o.crlNumber)),
        ],
        signingKey: ca.signer.publicKey,
        signingAlgorithm: EC_SIGN_ALGORITHM,
      },
      signerCrypto(ca.signer),
    );
  } catch (cause) {
    if (cause instanceof X509Error) throw cause;
    throw new X509Error(`${what}: ${errText(cause)}`, "bad-input", { cause });
  }
  if (!(await crl.verify({ publicKey: ca.cert.publicKey }))) {
    throw new X509Error(`${what}: the signer's signature does not verify`, "bad-signature");
  }
  return encodePem(CRL_LABEL, new Uint8Array(crl.rawData));
}

/** Parses exactly one PEM CRL ("X509 CRL"). Throws X509Error on anything else. */
export function parseCrl(pem: string, what = "input"): CrlInfo {
  const describe = (why: string) => `${what} is not a PEM CRL: ${why}`;
  const der = decodeSinglePem(pem, CRL_LABEL, describe);
  assertSingleDerElement(der, describe);
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(der);
  } catch (cause) {
    throw new X509Error(describe(`the DER is not a CRL (${errText(cause)})`), "bad-der", { cause });
  }
  const number = crl.getExtension(ID_CE_CRL_NUMBER);
  const aki = crl.getExtension<x509.AuthorityKeyIdentifierExtension>(
    "2.5.29.35",
  );
  return {
    issuerCn: crl.issuerName.getField("CN")[0] ?? "",
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate ?? null,
    crlNumber: number ? readDerInteger(new Uint8Array(number.value), describe) : null,
    revokedSerials: crl.entries.map((e) => e.serialNumber.toLowerCase()),
    aki: aki?.keyId?.toLowerCase() ?? null,
  };
}

function normaliseSerial(serial: string, what: string): string {
  if (typeof serial !== "string" || !/^[0-9a-fA-F]+$/.test(serial)) {
    throw new X509Error(`${what}: revoked serial ${JSON.stringify(serial)} is not hex`);
  }
  const s = serial.toLowerCase();
  return s.length % 2 ? `0${s}` : s;
}

/** DER INTEGER of a non-negative safe integer (§5.2.3 allows up to 20 octets; we need ≤ 8). */
function derInteger(n: number): Bytes {
  const bytes: number[] = [];
  let v = BigInt(n);
  do {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v > 0n);
  // A set high bit would read as negative: prepend a zero octet (X.690 §8.3).
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return new Uint8Array([0x02, bytes.length, ...bytes]);
}

function readDerInteger(der: Uint8Array, describe: (why: string) => string): number {
  const len = der[1] ?? 0;
  if (der[0] !== 0x02 || len < 1 || len > 9 || der.length !== 2 + len || der[2]! & 0x80) {
    throw new X509Error(describe("the CRL number is not a small non-negative INTEGER"), "bad-der");
  }
  let v = 0n;
  for (const b of der.subarray(2)) v = (v << 8n) | BigInt(b);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new X509Error(describe("the CRL number is too large"), "bad-der");
  }
  return Number(v);
}
