// PEM per RFC 7468, read strictly: one tool's "helpful" leniency (headers, text around blocks,
// a second block) is how a bundle ends up trusted differently by different verifiers.
import { X509Error } from "./errors.ts";

/** Bytes backed by a plain ArrayBuffer, as WebCrypto and the ASN.1 parsers accept (TS 5.7+). */
export type Bytes = Uint8Array<ArrayBuffer>;

export interface PemBlock {
  readonly label: string;
  readonly der: Bytes;
}

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  // Chunked so String.fromCharCode never sees more arguments than the engine allows.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

// Canonical base64 only: whole quanta, padding only at the end. atob alone would accept
// missing padding.
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function fromBase64(text: string): Bytes | null {
  if (!STRICT_BASE64.test(text)) return null;
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Encodes DER as PEM with 64-column lines and exactly one trailing "\n", so that files and
 * bundles concatenate safely (@peculiar/x509 omits the final newline, which glues the next
 * "-----BEGIN" onto the previous "-----END" line and breaks openssl).
 */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = toBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

const BLOCK = /-----BEGIN ([^-\r\n]*)-----([\s\S]*?)-----END ([^-\r\n]*)-----/g;

/**
 * Splits `text` into PEM blocks. Only whitespace may surround and separate the blocks; no
 * RFC 1421 headers are allowed inside (RFC 7468 §2 forbids them for these types).
 * `describe(reason)` builds the error message, so the caller chooses the wording.
 */
export function decodePemBlocks(text: string, describe: (reason: string) => string): PemBlock[] {
  if (typeof text !== "string") throw new X509Error(describe(`got ${typeof text}`), "not-pem");
  const blocks: PemBlock[] = [];
  let last = 0;
  for (const m of text.matchAll(BLOCK)) {
    const between = text.slice(last, m.index);
    if (between.trim() !== "") {
      throw new X509Error(describe(`unexpected text ${quote(between.trim())}`), "not-pem");
    }
    const [, label = "", body = "", endLabel = ""] = m;
    if (label !== endLabel) {
      throw new X509Error(
        describe(`"BEGIN ${label}" is closed by "END ${endLabel}"`),
        "not-pem",
      );
    }
    const der = fromBase64(body.replace(/[ \t\r\n]/g, ""));
    if (der === null || der.length === 0) {
      throw new X509Error(describe(`the "${label}" block is not valid base64`), "not-pem");
    }
    blocks.push({ label, der });
    last = m.index + m[0].length;
  }
  const rest = text.slice(last);
  if (rest.trim() !== "") {
    throw new X509Error(describe(`unexpected text ${quote(rest.trim())}`), "not-pem");
  }
  return blocks;
}

/** Exactly one block labelled `label`, nothing else. */
export function decodeSinglePem(
  text: string,
  label: string,
  describe: (reason: string) => string,
): Bytes {
  const blocks = decodePemBlocks(text, describe);
  if (blocks.length !== 1) {
    throw new X509Error(
      describe(`expected exactly one "${label}" block, found ${blocks.length}`),
      "not-pem",
    );
  }
  const [block] = blocks as [PemBlock];
  if (block.label !== label) {
    throw new X509Error(describe(`found a "${block.label}" block, expected "${label}"`), "not-pem");
  }
  return block.der;
}

/**
 * Refuses bytes after the outer DER element: BER parsers stop at the end of the first element
 * and silently ignore the rest, which would let two different files carry "the same" object.
 */
export function assertSingleDerElement(der: Uint8Array, describe: (reason: string) => string): void {
  const fail = (why: string) => new X509Error(describe(why), "bad-der");
  if (der.length < 2 || der[0] !== 0x30) throw fail("the DER is not a SEQUENCE");
  const first = der[1]!;
  let length = first;
  let header = 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    // DER forbids the indefinite form (n = 0); four length bytes is far beyond any certificate.
    if (n === 0 || n > 4 || der.length < 2 + n) throw fail("the DER length is malformed");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[2 + i]!;
    header = 2 + n;
  }
  if (header + length !== der.length) {
    throw fail(`the DER is ${header + length} bytes but the block holds ${der.length}`);
  }
}

function quote(s: string): string {
  const short = s.length > 40 ? `${s.slice(0, 40)}…` : s;
  return JSON.stringify(short);
}
