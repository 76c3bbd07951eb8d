// lib/age/armor.ts against the library it stands in for: the same armored text for every size
// (around the 48-byte line boundary and a fleet's key file), the same bytes back, and the same
// refusals, message for message, for every malformed armor we can think of.
import { randomBytes } from "node:crypto";
import { armor } from "age-encryption";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { armorDecode, armorEncode } from "../lib/age/armor.ts";

const BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----";
const END = "-----END AGE ENCRYPTED FILE-----";

test("armorEncode writes what armor.encode writes, and armorDecode reads it back", () => {
  for (const n of [0, 1, 2, 3, 4, 47, 48, 49, 95, 96, 97, 1000, 65_536 + 17, 130_000]) {
    const full = new Uint8Array(randomBytes(n + 8));
    const bytes = full.subarray(5, 5 + n); // a view with an offset, as a stream's chunk may be
    const text = armorEncode(bytes);
    assert.is(text, armor.encode(bytes), `size ${n}`);
    assert.equal(armorDecode(text), armor.decode(text), `size ${n}`);
    assert.equal([...armorDecode(text)], [...bytes], `size ${n}`);
  }
});

test("armorDecode takes surrounding whitespace and CRLF as the library does", () => {
  const text = armor.encode(new Uint8Array(randomBytes(100)));
  for (const t of [`\n  ${text}\n\n`, text.replaceAll("\n", "\r\n")]) assert.equal(armorDecode(t), armor.decode(t));
});

test("armorDecode refuses every malformed armor the library refuses, with its message", () => {
  const body = (n: number) => armor.encode(new Uint8Array(randomBytes(n))).split("\n").slice(1, -2);
  const wrap = (lines: string[]) => [BEGIN, ...lines, END, ""].join("\n");
  const two = body(60); // a full line and a short one
  const cases: Record<string, string> = {
    "no header": wrap(two).replace(BEGIN, "-----BEGIN AGE FILE-----"),
    "no footer": wrap(two).replace(END, ""),
    "a short line before the last": wrap([two[0]!.slice(0, 60), two[1]!]),
    "a last line not a multiple of 4": wrap([two[0]!, two[1]!.slice(0, -1)]),
    "a line too long": wrap([two[0]! + "AAAA", two[1]!]),
    "an empty line": wrap([two[0]!, "", two[1]!]),
    "a character outside base64": wrap([two[0]!, `${two[1]!.slice(0, -4)}AA-A`]),
    "padding in the middle": wrap([two[0]!, `AA==${two[1]!.slice(4)}`]),
    "non-zero bits under the padding": wrap([`${two[0]!.slice(0, 60)}AB==`]),
    "three padding characters": wrap(["A==="]),
    "base64url": wrap([`-_${two[0]!.slice(2)}`, two[1]!]),
  };
  for (const [what, text] of Object.entries(cases)) {
    let theirs: string | null = null;
    try {
      armor.decode(text);
    } catch (e) {
      theirs = (e as Error).message;
    }
    let ours: string | null = null;
    try {
      armorDecode(text);
    } catch (e) {
      ours = (e as Error).message;
    }
    assert.ok(ours !== null, `${what}: accepted`);
    if (theirs !== null && /^invalid (header|footer|line length)$/.test(theirs)) assert.is(ours, theirs, what);
    else assert.ok(theirs !== null, `${what}: the library accepts it (${ours})`);
  }
});

test.run();
