// PEM per RFC 7468, read strictly: one tool's "helpful" leniency (headers, text around blocks,
// a second block) is how a bundle ends up trusted differently by different verifiers.
import { X509Error } from "./errors.ts";
import { fromBase64, type Bytes } from "../bytes.ts";

// Bytes backed by a plain ArrayBuffer, as WebCrypto and the ASN.1 parsers accept (TS 5.7+); the
// byte helpers live in lib/bytes.ts and are re-exported here for lib/x509's modules.
export { bytesEqual, toHex, type Bytes } from "../bytes.ts";

export interface PemBlock {
  readonly label: string;
  readonly der: Bytes;
}


/**
 * Encodes DER as PEM with 64-column lines and exactly one trailing "\n", so that files and
 * bundles concatenate safely (@peculiar/x509 omits the final newline, which glues the next
 * "-----BEGIN" onto the previous "-----END" line and breaks openssl).
 */
export function encodePem(label: string, der: Uint8Array): string {
  // Straight into ASCII bytes with a newline every 64 characters, decoded once: a fleet renewal
  // encodes two PEMs per leaf, and building the text through btoa and slices cost 3× as much.
  // The armor lines go into the same bytes: one flat string, where a template literal made a
  // chain of five string pieces the commit holds for every leaf until it ends (about 160 bytes
  // of heap per certificate, measured at 10,000 leaves).
  const n = der.length;
  const chars = 4 * Math.ceil(n / 3);
  const begin = `-----BEGIN ${label}-----\n`;
  const end = `-----END ${label}-----\n`;
  const out = new Uint8Array(begin.length + chars + Math.ceil(chars / 64) + end.length);
  let o = 0;
  const text = (t: string) => {
    for (let k = 0; k < t.length; k++) {
      const c = t.charCodeAt(k);
      if (c > 0x7e) throw new X509Error(`internal: PEM label "${label}" is not ASCII`);
      out[o++] = c;
    }
  };
  text(begin);
  let col = 0;
  const emit = (c: number) => {
    out[o++] = c;
    if (++col === 64) {
      out[o++] = 0x0a;
      col = 0;
    }
  };
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (der[i]! << 16) | (der[i + 1]! << 8) | der[i + 2]!;
    emit(B64[v >> 18]!);
    emit(B64[(v >> 12) & 63]!);
    emit(B64[(v >> 6) & 63]!);
    emit(B64[v & 63]!);
  }
  if (i < n) {
    const v = (der[i]! << 16) | ((i + 1 < n ? der[i + 1]! : 0) << 8);
    emit(B64[v >> 18]!);
    emit(B64[(v >> 12) & 63]!);
    emit(i + 1 < n ? B64[(v >> 6) & 63]! : 0x3d);
    emit(0x3d);
  }
  if (col !== 0) out[o++] = 0x0a;
  text(end);
  return ASCII.decode(out.subarray(0, o));
}

const B64 = Uint8Array.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", (c) => c.charCodeAt(0));
const ASCII = new TextDecoder("latin1");

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

/**
 * The last certificates decoded, by their PEM text: verify and deploy read each certificate once
 * but parse, check its DER, verify its signature and match its key from the same text, four
 * decodes of one file (measured at 10,000 leaves: a tenth of verify). Strings are immutable, so
 * the text is the key; only successes are kept; bounded, oldest first out. Callers must treat the
 * returned bytes as read-only (none writes into a DER).
 */
const DECODED = new Map<string, Bytes>();
const DECODED_MAX = 20_000;

/** Exactly one block labelled `label`, nothing else. */
export function decodeSinglePem(
  text: string,
  label: string,
  describe: (reason: string) => string,
): Bytes {
  const key = label === "CERTIFICATE" ? text : null;
  const hit = key === null ? undefined : DECODED.get(key);
  if (hit) return hit;
  const der = decodeOne(text, label, describe);
  if (key !== null) {
    if (DECODED.size >= DECODED_MAX) DECODED.delete(DECODED.keys().next().value!);
    DECODED.set(key, der);
  }
  return der;
}

function decodeOne(text: string, label: string, describe: (reason: string) => string): Bytes {
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
