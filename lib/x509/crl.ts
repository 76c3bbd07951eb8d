// Reading certificate revocation lists (RFC 5280 §5) with @peculiar/x509; signing them is crl-sign.ts.
import { X509Error } from "./errors.ts";
import { errText } from "./cert-info.ts";
import { assertSingleDerElement, decodeSinglePem } from "./pem.ts";
import { x509 } from "./vendor.ts";
import type { RevocationReason } from "../model/revocation.ts";
import { CRL_LABEL, REASON_CODE } from "./crl-sign.ts";

const ID_CE_CRL_NUMBER = "2.5.29.20";

/** A parsed CRL, as plain data. */
export interface CrlInfo {
  issuerCn: string;
  thisUpdate: Date;
  nextUpdate: Date | null;
  crlNumber: number | null;
  /** Lowercase hex serials, in CRL order. */
  revokedSerials: string[];
  /** Each entry's reasonCode (null: none), in CRL order. */
  reasons: (RevocationReason | null)[];
  /** Entries that carry an empty crlEntryExtensions SEQUENCE, which §5.1 forbids. */
  emptyEntryExtensions: number;
  /** The authorityKeyIdentifier keyIdentifier (lowercase hex), to match the CRL to its root. */
  aki: string | null;
}

const REASON_OF_CODE = new Map(Object.entries(REASON_CODE).map(([k, c]) => [c, k as RevocationReason]));

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
    reasons: crl.entries.map((e) => {
      const code = e.reason;
      return code === undefined ? null : (REASON_OF_CODE.get(code) ?? null);
    }),
    emptyEntryExtensions: emptyEntryExtensions(der),
    aki: aki?.keyId?.toLowerCase() ?? null,
  };
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

/** The elements (offset, header length, content length) of the DER constructed element at `at`. */
function children(der: Uint8Array, at: number): { at: number; tag: number; hdr: number; len: number }[] {
  const head = (i: number): [number, number] => {
    const b = der[i + 1]!;
    if (!(b & 0x80)) return [2, b];
    let v = 0;
    for (let k = 0; k < (b & 0x7f); k++) v = v * 256 + der[i + 2 + k]!;
    return [2 + (b & 0x7f), v];
  };
  const [h, l] = head(at);
  const out: { at: number; tag: number; hdr: number; len: number }[] = [];
  for (let i = at + h; i < at + h + l && i < der.length;) {
    const [hh, ll] = head(i);
    out.push({ at: i, tag: der[i]!, hdr: hh, len: ll });
    i += hh + ll;
  }
  return out;
}

/**
 * Revoked entries whose crlEntryExtensions is present but empty (`30 00`), read off the DER itself
 * (the parser drops an empty list, so its object model cannot tell). TBSCertList (§5.1):
 * SEQUENCE { version?, signature, issuer, thisUpdate, nextUpdate?, revokedCertificates?, [0] exts? }.
 */
function emptyEntryExtensions(der: Uint8Array): number {
  try {
    const tbs = children(der, 0)[0]!;
    const parts = children(der, tbs.at);
    let i = parts[0]?.tag === 0x02 ? 1 : 0; // version
    i += 3; // signature, issuer, thisUpdate
    if (parts[i]?.tag === 0x17 || parts[i]?.tag === 0x18) i++; // nextUpdate
    const list = parts[i];
    if (list?.tag !== 0x30) return 0;
    return children(der, list.at).filter((entry) => {
      const ext = children(der, entry.at)[2];
      return ext !== undefined && ext.tag === 0x30 && ext.len === 0;
    }).length;
  } catch {
    return 0; // malformed DER is the parser's to refuse
  }
}
