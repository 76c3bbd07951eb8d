// Byte helpers every layer shares: hex, base64 (standard and URL-safe), concatenation and
// comparison. Pure (no node: module, no Buffer) so lib/x509, lib/deliver and Deno use them alike.

/** Bytes backed by a plain ArrayBuffer, as WebCrypto and the ASN.1 parsers accept (TS 5.7+). */
export type Bytes = Uint8Array<ArrayBuffer>;

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += HEX[b]!;
  return s;
}

/** Bytes of an even-length hex string (constants and serials we wrote: not for hostile input). */
export const fromHex = (s: string): Bytes => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concat(parts: readonly Uint8Array[]): Bytes {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Standard base64 with padding. In 32 KiB slices: spreading a large array overflows the call stack. */
export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** Unpadded base64url (RFC 4648 §5), as JWK members are written. */
export const toBase64Url = (bytes: Uint8Array): string => toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** Each base64 character's value (0–63); 255 for anything else. */
const B64_VALUE = (() => {
  const t = new Uint8Array(256).fill(255);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < alphabet.length; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
})();

/**
 * Canonical base64 only: whole quanta, padding only at the end (atob alone would accept missing
 * padding); null otherwise. One pass that checks and decodes at once, not a regular expression
 * (a repeated group over a 5 MB body overflows V8's regexp stack) nor atob and a copy loop: verify
 * decodes every certificate several times, and this is 5× faster there (README "Performance").
 */
export function fromBase64(text: string): Bytes | null {
  const n = text.length;
  if (n % 4 !== 0) return null;
  const pad = n === 0 ? 0 : text.charCodeAt(n - 1) !== 0x3d ? 0 : text.charCodeAt(n - 2) === 0x3d ? 2 : 1;
  const out = new Uint8Array((n / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < n; i += 4) {
    const last = i + 4 === n;
    const a = B64_VALUE[text.charCodeAt(i) & 0xff]!, b = B64_VALUE[text.charCodeAt(i + 1) & 0xff]!;
    const c = last && pad === 2 ? 0 : B64_VALUE[text.charCodeAt(i + 2) & 0xff]!;
    const d = last && pad >= 1 ? 0 : B64_VALUE[text.charCodeAt(i + 3) & 0xff]!;
    // A character outside the alphabet (or above 0xff, masked into it) is 255: refused.
    if ((a | b | c | d) > 63 || text.charCodeAt(i) > 0x7f || text.charCodeAt(i + 1) > 0x7f || text.charCodeAt(i + 2) > 0x7f || text.charCodeAt(i + 3) > 0x7f) return null;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >> 16;
    if (o < out.length) out[o++] = (v >> 8) & 0xff;
    if (o < out.length) out[o++] = v & 0xff;
  }
  return out;
}

/** base64url with or without padding (JWK members we produced). */
export function fromBase64Url(s: string): Bytes {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
  return binary(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)));
}

function binary(bin: string): Bytes {
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
