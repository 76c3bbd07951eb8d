// The leaf profile of profiles.ts (createLeaf), encoded straight to DER from a template prepared
// once per issuer. @peculiar/x509 spends about 1.4 ms of JavaScript per leaf building and
// re-serialising ASN.1 object trees; a fleet renewal issues thousands of leaves under the same
// intermediate, where everything but the serial, validity, names and key is the same bytes.
// Here those bytes are computed once (the LeafTemplate) and each leaf costs a few small buffer
// copies, one ECDSA signature and a key pair.
//
// Pure and free of the certificate library: lib/x509/fast-leaf.ts prepares the template from an
// issuer and signs through the Signer seam; lib/apply/mint-worker.ts runs the same encoder on
// worker threads. The output is the reference profile byte for byte: test/fast-leaf.test.ts
// builds the same leaf both ways and compares the TBSCertificate bytes, then checks the result
// with @peculiar/x509's parser and with openssl (verify, -x509_strict, name constraints, `x509 -text`).
import { X509Error } from "./errors.ts";
import { checkCommonName, checkCrlUrl, checkDnsName, checkUri } from "./names.ts";
import { encodePem } from "./pem.ts";
import { bytesEqual, concat, fromHex, toHex, type Bytes } from "../bytes.ts";
import { ECDSA_SHA256_ALG, P256_PKCS8_MIDDLE, P256_PKCS8_PREFIX, P256_SPKI_PREFIX } from "./p256.ts";
import { validity, type IssuerPeriod } from "./validity.ts";
import { hdr, intContent, put, putAscii, putInt, timeText, tlvSize, type Writer } from "./der-writer.ts";
import { sha1 } from "@noble/hashes/legacy.js";
import { sha256 } from "@noble/hashes/sha2.js";

// ---- DER ---------------------------------------------------------------------------------------
// Sizes first, then one buffer written front to back (der-writer.ts): a leaf is a dozen nested
// TLVs, and building each as its own array (then copying it into its parent) cost more than the
// rest of issuing.

const SEQUENCE = 0x30;
const hex = fromHex;
const utf8 = new TextEncoder();

const SIG_ALG = ECDSA_SHA256_ALG;
const VERSION_3 = hex("a003020102");
// basicConstraints critical cA:false; keyUsage critical digitalSignature; extKeyUsage
// serverAuth + clientAuth, non-critical — what createLeaf puts in every leaf.
const EXT_BC = hex("300c0603551d130101ff04023000");
const EXT_KU = hex("300e0603551d0f0101ff040403020780");
const EXT_EKU = hex("301d0603551d250416301406082b0601050507030106082b06010505070302");
const OID_SAN = hex("0603551d11");
const OID_CDP = hex("0603551d1f");
const OID_CN = hex("0603550403");
// subjectKeyIdentifier, non-critical, up to the 20-byte key id: 30 1d 06 03 55 1d 0e 04 16 04 14.
const SKI_PREFIX = hex("301d0603551d0e04160414");

// X.520 PrintableString characters; @peculiar/x509 picks PrintableString for such values and
// UTF8String otherwise, and so must we to stay byte-identical.
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

// ---- leaf keys ---------------------------------------------------------------------------------

/** A fresh leaf key: its SubjectPublicKeyInfo for the certificate, its PKCS#8 PEM for sealing. */
export interface LeafKey {
  readonly spki: Bytes;
  readonly pkcs8Pem: string;
}

/**
 * A leaf key from its private scalar `d` (big-endian, at most 32 bytes) and its uncompressed
 * public point (0x04 || x || y), as another key generator hands them over (lib/apply uses
 * node:crypto's, which costs a third of WebCrypto's generateKey on the event loop).
 */
export function leafKeyFromParts(d: Uint8Array, point: Uint8Array, pem: PemEncoder = encodePem): LeafKey {
  if (d.length > 32 || point.length !== 65 || point[0] !== 0x04) throw new X509Error("malformed P-256 key: expected a scalar of at most 32 bytes and a 65-byte uncompressed point", "bad-key");
  const scalar = d.length === 32 ? d : concat([new Uint8Array(32 - d.length), d]);
  return {
    spki: concat([P256_SPKI_PREFIX, point]),
    pkcs8Pem: pem("PRIVATE KEY", concat([P256_PKCS8_PREFIX, scalar, P256_PKCS8_MIDDLE, point])),
  };
}

// ---- the per-issuer template ---------------------------------------------------------------------

/** What the leaf record needs from a freshly signed leaf. */
export interface MintedLeaf {
  /** Canonical PEM ending with one "\n" (as CertInfo.pem). */
  readonly pem: string;
  readonly der: Bytes;
  /** Lowercase hex, 32 digits (CertInfo.serial). */
  readonly serial: string;
  /** SHA-256 of the DER, lowercase hex (CertInfo.fingerprint). */
  readonly fingerprint: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface LeafRequest {
  /** DER SubjectPublicKeyInfo of the leaf's P-256 key (LeafKey.spki, or exportSpki of a CryptoKey). */
  readonly spki: Uint8Array;
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly dns: readonly string[];
  readonly uris: readonly string[];
  /** Where the issuer's CRL is published: a CRL distribution point after the SAN, as createLeaf puts it. */
  readonly crlUrl?: string;
  /** A fixed serial (hex, 16 bytes, high bit clear) instead of a random one; for tests that compare profiles. */
  readonly serial?: string;
}

/**
 * Everything a leaf takes from its issuer, as plain data (it crosses to worker threads): the
 * issuer's name and AKI extension as DER, its public key (a leaf never gets the same one) and its
 * period (a leaf never outlives it).
 */
export interface LeafTemplate {
  readonly issuer: IssuerPeriod;
  /** DER Name of the issuer (the leaf's issuer field). */
  readonly issuerName: Bytes;
  /** DER authorityKeyIdentifier extension: the issuer's SKI. */
  readonly aki: Bytes;
  /** DER SubjectPublicKeyInfo of the issuer. */
  readonly spki: Uint8Array;
}

/** A leaf's TBSCertificate, encoded and waiting for its signature. */
export interface UnsignedLeaf {
  readonly tbs: Bytes;
  readonly serialBytes: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Encodes leaves under one issuer: `tbs` checks a request and encodes it, `finish` wraps the signature. */
export interface LeafEncoder {
  tbs(r: LeafRequest): UnsignedLeaf;
  finish(u: UnsignedLeaf, sig: Uint8Array): MintedLeaf;
}

/** PEM text of DER bytes, as pem.ts encodePem writes it (a runtime may bring a native one). */
export type PemEncoder = (label: string, der: Uint8Array) => string;

/**
 * What a leaf needs besides the encoder: SHA-1 for its key identifier, SHA-256 for its
 * fingerprint, and its PEM text. Portable JavaScript by default; a mint worker passes
 * node:crypto's digests and Buffer's base64 (lib/node-crypto.ts), the same bytes for less.
 */
export interface LeafPrimitives {
  sha1(data: Uint8Array): Uint8Array;
  sha256(data: Uint8Array): Uint8Array;
  readonly pem: PemEncoder;
}

const PORTABLE: LeafPrimitives = { sha1, sha256, pem: encodePem };

/** The encoder for `t`'s leaves. Precomputes the bytes every leaf shares. */
export function leafEncoder(t: LeafTemplate, prims: LeafPrimitives = PORTABLE): LeafEncoder {
  const afterSerial = concat([SIG_ALG, t.issuerName]);
  const aki = t.aki;
  const ca = { info: t.issuer, spki: t.spki };
  // The CRL distribution point is the same for every leaf of an issuer: encoded once per URL.
  const cdps = new Map<string, Bytes>();
  const cdpOf = (url: string, what: string): Bytes => {
    let ext = cdps.get(url);
    if (!ext) {
      checkCrlUrl(url, what);
      ext = cdpExtension(url);
      cdps.set(url, ext);
    }
    return ext;
  };

  // A fleet's leaves share a few validity periods: each time's text is made once.
  const times = new Map<number, { tag: number; text: string }>();
  const timeOf = (d: Date) => {
    let t = times.get(d.getTime());
    if (!t) {
      if (times.size >= 64) times.clear();
      times.set(d.getTime(), (t = timeText(d)));
    }
    return t;
  };

  function tbs(r: LeafRequest): UnsignedLeaf {
    checkCommonName(r.commonName, "leaf");
    const what = `leaf "${r.commonName}"`;
    if (/["\\]/.test(r.commonName)) {
      // @peculiar/x509 reads quotes and backslashes in name values as escapes; refuse rather than diverge.
      throw new X509Error(`${what}: a common name with quotes or backslashes is not supported`);
    }
    if (r.dns.length + r.uris.length === 0) {
      throw new X509Error(`${what} has no DNS name or URI; a leaf must name the service it serves`);
    }
    r.dns.forEach((n) => checkDnsName(n, what));
    r.uris.forEach((u) => checkUri(u, what));
    const cdp = r.crlUrl === undefined ? null : cdpOf(r.crlUrl, what);
    const { notBefore, notAfter } = validity(r, what, ca.info);
    const spki = r.spki;
    if (spki.length !== 91 || !bytesEqual(spki.subarray(0, P256_SPKI_PREFIX.length), P256_SPKI_PREFIX) || spki[26] !== 0x04) {
      throw new X509Error(`${what}: expected an ECDSA P-256 public key`, "bad-key");
    }
    if (bytesEqual(spki, ca.spki)) {
      throw new X509Error(`${what} has the same public key as its issuer "${ca.info.subjectCn}"; generate a new key for it`);
    }
    const serialBytes = r.serial === undefined ? randomSerialBytes() : hex(r.serial.padStart(32, "0"));
    const serial = intContent(serialBytes);
    const nb = timeOf(notBefore);
    const na = timeOf(notAfter);
    const printable = PRINTABLE.test(r.commonName);
    const cn = printable ? null : utf8.encode(r.commonName);
    const cnLen = cn ? cn.length : r.commonName.length;
    // Sizes, innermost first.
    let sanContent = 0;
    for (const n of r.dns) sanContent += tlvSize(n.length);
    for (const u of r.uris) sanContent += tlvSize(u.length);
    const sanOctet = tlvSize(sanContent); // OCTET STRING { GeneralNames }
    const sanExt = OID_SAN.length + tlvSize(sanOctet);
    const extsContent = EXT_BC.length + EXT_KU.length + EXT_EKU.length + tlvSize(sanExt) + (cdp?.length ?? 0) + SKI_PREFIX.length + 20 + aki.length;
    const extsSeq = tlvSize(extsContent);
    const attr = OID_CN.length + tlvSize(cnLen);
    const nameContent = tlvSize(tlvSize(attr)); // SET { SEQUENCE { type, value } }
    const validityContent = tlvSize(nb.text.length) + tlvSize(na.text.length);
    const tbsContent = VERSION_3.length + tlvSize(serial.body.length + serial.pad) + afterSerial.length
      + tlvSize(validityContent) + tlvSize(nameContent) + spki.length + tlvSize(extsSeq);
    const w: Writer = { buf: new Uint8Array(tlvSize(tbsContent)), at: 0 };
    hdr(w, SEQUENCE, tbsContent);
    put(w, VERSION_3);
    putInt(w, serial);
    put(w, afterSerial); // signature algorithm, issuer name
    hdr(w, SEQUENCE, validityContent);
    hdr(w, nb.tag, nb.text.length);
    putAscii(w, nb.text);
    hdr(w, na.tag, na.text.length);
    putAscii(w, na.text);
    hdr(w, SEQUENCE, nameContent);
    hdr(w, 0x31, tlvSize(attr));
    hdr(w, SEQUENCE, attr);
    put(w, OID_CN);
    hdr(w, printable ? 0x13 : 0x0c, cnLen);
    if (cn) put(w, cn);
    else putAscii(w, r.commonName);
    put(w, spki);
    hdr(w, 0xa3, extsSeq);
    hdr(w, SEQUENCE, extsContent);
    put(w, EXT_BC);
    put(w, EXT_KU);
    put(w, EXT_EKU);
    hdr(w, SEQUENCE, sanExt);
    put(w, OID_SAN);
    hdr(w, 0x04, sanOctet);
    hdr(w, SEQUENCE, sanContent);
    for (const n of r.dns) {
      hdr(w, 0x82, n.length); // [2] dNSName, IA5String
      putAscii(w, n);
    }
    for (const u of r.uris) {
      hdr(w, 0x86, u.length); // [6] uniformResourceIdentifier, IA5String
      putAscii(w, u);
    }
    if (cdp) put(w, cdp);
    put(w, SKI_PREFIX);
    // Method 1 of §4.2.1.2: SHA-1 of the subjectPublicKey bits (the 65-byte point).
    put(w, prims.sha1(spki.subarray(26)));
    put(w, aki);
    if (w.at !== w.buf.length) throw new X509Error(`internal: leaf TBSCertificate is ${w.at} bytes, sized ${w.buf.length}`);
    return { tbs: w.buf, serialBytes, notBefore, notAfter };
  }

  function finish(u: UnsignedLeaf, sig: Uint8Array): MintedLeaf {
    if (!(sig instanceof Uint8Array) || sig.length !== 64) {
      throw new X509Error(
        `signer returned ${sig instanceof Uint8Array ? `${sig.length} bytes` : typeof sig}; expected a 64-byte P1363 r||s ECDSA P-256 signature (convert DER signatures first)`,
        "bad-signature",
      );
    }
    const { tbs, serialBytes, notBefore, notAfter } = u;
    // Certificate ::= SEQUENCE { tbs, signatureAlgorithm, BIT STRING { 0 unused bits, ECDSA-Sig-Value } }
    const rr = intContent(sig.subarray(0, 32));
    const ss = intContent(sig.subarray(32));
    const sigSeq = tlvSize(rr.body.length + rr.pad) + tlvSize(ss.body.length + ss.pad);
    const certContent = tbs.length + SIG_ALG.length + tlvSize(1 + tlvSize(sigSeq));
    const c: Writer = { buf: new Uint8Array(tlvSize(certContent)), at: 0 };
    hdr(c, SEQUENCE, certContent);
    put(c, tbs);
    put(c, SIG_ALG);
    hdr(c, 0x03, 1 + tlvSize(sigSeq));
    c.buf[c.at++] = 0;
    hdr(c, SEQUENCE, sigSeq);
    putInt(c, rr);
    putInt(c, ss);
    const der = c.buf;
    return {
      pem: prims.pem("CERTIFICATE", der),
      der,
      serial: toHex(serialBytes).replace(/^(00)+(?=.)/, ""),
      fingerprint: toHex(prims.sha256(der)),
      notBefore,
      notAfter,
    };
  }

  return { tbs, finish };
}

// Random serials are drawn in batches: one getRandomValues call per 256 leaves.
let serialPool = new Uint8Array(0);
let serialAt = 0;
function randomSerialBytes(): Uint8Array {
  if (serialAt + 16 > serialPool.length) {
    serialPool = globalThis.crypto.getRandomValues(new Uint8Array(16 * 256));
    serialAt = 0;
  }
  const b = serialPool.slice(serialAt, (serialAt += 16));
  // As randomSerial() in profiles.ts: positive (high bit clear) and exactly 16 bytes long.
  b[0] = b[0]! & 0x7f || 0x01;
  return b;
}

/**
 * The cRLDistributionPoints extension (RFC 5280 §4.2.1.13), non-critical, with one
 * DistributionPoint whose fullName is `url`:
 * Extension { OID, OCTET STRING { SEQUENCE OF { SEQUENCE { [0] { [0] { [6] url } } } } } }.
 * distributionPoint [0] is explicit (DistributionPointName is a CHOICE); fullName [0] and the
 * URI [6] are implicit, as the module's IMPLICIT TAGS default says.
 */
function cdpExtension(url: string): Bytes {
  const uri = tlvSize(url.length);
  const fullName = tlvSize(uri);
  const dpName = tlvSize(fullName);
  const dp = tlvSize(dpName);
  const dps = tlvSize(dp);
  const octet = tlvSize(dps);
  const content = OID_CDP.length + octet;
  const w: Writer = { buf: new Uint8Array(tlvSize(content)), at: 0 };
  hdr(w, SEQUENCE, content);
  put(w, OID_CDP);
  hdr(w, 0x04, dps);
  hdr(w, SEQUENCE, dp);
  hdr(w, SEQUENCE, dpName);
  hdr(w, 0xa0, fullName);
  hdr(w, 0xa0, uri);
  hdr(w, 0x86, url.length);
  putAscii(w, url);
  return w.buf;
}

