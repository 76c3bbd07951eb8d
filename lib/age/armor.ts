import { fromBase64, toBase64 } from "../bytes.ts";

// age's ASCII armor (a strict subset of PEM: 64-column base64 lines) with the runtime's native
// base64 where there is one (Node's Buffer): the library's JavaScript base64 took 40–80 ms to
// armor a 10,000-leaf fleet's key files (2.6 MB), Buffer 3 ms. Elsewhere (Deno, browsers)
// lib/bytes.ts's. The library's bytes and strictness (its checks and messages):
// test/age-armor.test.ts compares them, without loading the library for it here.

const BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----";
const END = "-----END AGE ENCRYPTED FILE-----";

interface NativeBase64 {
  from(b: ArrayBufferLike, offset: number, length: number): { toString(enc: "base64"): string };
  from(s: string, enc: "base64"): Uint8Array;
}
const native = (globalThis as { Buffer?: NativeBase64 }).Buffer;
const encode = (b: Uint8Array) => (native ? native.from(b.buffer, b.byteOffset, b.length).toString("base64") : toBase64(b));

/** The armored form of an age file, exactly as the library's armor.encode writes it. */
export function armorEncode(file: Uint8Array): string {
  const b64 = encode(file);
  // Joined, not appended: `+=` left a tree of 20,000 pieces per scope key file, held until the
  // commit wrote it (~50 MB more at the peak of a 100,000-leaf fleet's first renewal).
  const lines = [BEGIN];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  lines.push(END, "");
  return lines.join("\n");
}

/**
 * The bytes of an armored age file, as strictly as the library's armor.decode reads it (its
 * checks and messages; surrounding whitespace and CRLF allowed) and only canonical base64: the
 * decoded bytes must encode back to the very text.
 */
export function armorDecode(text: string): Uint8Array {
  const lines = text.trim().replaceAll("\r\n", "\n").split("\n");
  if (lines.shift() !== BEGIN) throw Error("invalid header");
  if (lines.pop() !== END) throw Error("invalid footer");
  const last = lines.length - 1;
  if (!lines.every((l, i) => (i === last ? l.length > 0 && l.length <= 64 && l.length % 4 === 0 : l.length === 64))) {
    throw Error("invalid line length");
  }
  const b64 = lines.join("");
  // No character test of its own (a regular expression over a fleet's 3.5 MB of key files was
  // ~20 ms): Buffer skips what is not base64, so such text fails the round trip below.
  // lib/bytes.ts's fromBase64 refuses non-canonical text itself (null).
  const out = native ? new Uint8Array(native.from(b64, "base64")) : fromBase64(b64);
  if (!out || encode(out) !== b64) throw Error("invalid base64");
  return out;
}
