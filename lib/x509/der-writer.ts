// The DER writer the straight-to-DER encoders share (leaf-der.ts for leaves, crl-der.ts for
// CRLs): sizes are computed first, then one buffer is written front to back. X.690 §8.1 definite
// lengths in minimal form (§10.1); every caller checks it filled its buffer exactly.
import type { Bytes } from "../bytes.ts";

/** Bytes of the length octets for `n` content bytes: short form below 128, else 0x8k and k bytes. */
export function lenSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x100) return 2;
  if (n < 0x10000) return 3;
  let k = 3;
  while (n >= 2 ** (8 * k)) k++;
  return 1 + k;
}

/** Size of a TLV whose content is `n` bytes. */
export const tlvSize = (n: number): number => 1 + lenSize(n) + n;

export interface Writer {
  readonly buf: Bytes;
  at: number;
}

export function hdr(w: Writer, tag: number, n: number): void {
  const b = w.buf;
  b[w.at++] = tag;
  if (n < 0x80) b[w.at++] = n;
  else if (n < 0x100) {
    b[w.at++] = 0x81;
    b[w.at++] = n;
  } else if (n < 0x10000) {
    b[w.at++] = 0x82;
    b[w.at++] = n >> 8;
    b[w.at++] = n & 0xff;
  } else {
    const size = lenSize(n);
    b[w.at++] = 0x80 | (size - 1);
    // Big-endian by division: `>>` breaks past 2^31.
    for (let i = size - 2; i >= 0; i--) b[w.at++] = Math.floor(n / 2 ** (8 * i)) & 0xff;
  }
}

export function put(w: Writer, bytes: Uint8Array): void {
  w.buf.set(bytes, w.at);
  w.at += bytes.length;
}

/** ASCII text (checked by the caller's rules before it gets here) as bytes. */
export function putAscii(w: Writer, s: string): void {
  const b = w.buf;
  for (let i = 0; i < s.length; i++) b[w.at++] = s.charCodeAt(i);
}

/** An unsigned big-endian integer as the content of a minimal positive DER INTEGER: leading zeros cut, a 0x00 back when the high bit is set. */
export interface IntContent {
  readonly body: Uint8Array;
  readonly pad: number;
}

export function intContent(bytes: Uint8Array): IntContent {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const body = bytes.subarray(i);
  return { body, pad: body[0]! & 0x80 ? 1 : 0 };
}

/** Size of the INTEGER TLV of `v`. */
export const intSize = (v: IntContent): number => tlvSize(v.body.length + v.pad);

export function putInt(w: Writer, v: IntContent): void {
  hdr(w, 0x02, v.body.length + v.pad);
  if (v.pad) w.buf[w.at++] = 0;
  put(w, v.body);
}

const two = (n: number) => String(n).padStart(2, "0");

/** RFC 5280 §4.1.2.5 (and §5.1.2.4 for CRLs): UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Zulu. */
export function timeText(d: Date): { tag: number; text: string } {
  const y = d.getUTCFullYear();
  const rest = two(d.getUTCMonth() + 1) + two(d.getUTCDate()) + two(d.getUTCHours()) + two(d.getUTCMinutes()) + two(d.getUTCSeconds()) + "Z";
  return y > 2049 ? { tag: 0x18, text: String(y).padStart(4, "0") + rest } : { tag: 0x17, text: two(y % 100) + rest };
}
