// Issue 15 item 16: one home per helper. lib/bytes.ts against node's Buffer (the reference
// encoder), and a scan of the sources: the helpers that were written four and five times are now
// defined once.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { bytesEqual, concat, fromBase64, fromBase64Url, fromHex, toBase64, toBase64Url, toHex } from "../lib/bytes.ts";
import { ROOT } from "./helpers.ts";
import { eachLimited } from "../lib/pool.ts";

test("hex and base64 agree with Buffer on any bytes, and fromBase64 takes only canonical base64", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
    const buf = Buffer.from(b);
    assert.is(toHex(b), buf.toString("hex"));
    assert.ok(bytesEqual(fromHex(toHex(b)), b));
    assert.is(toBase64(b), buf.toString("base64"));
    assert.is(toBase64Url(b), buf.toString("base64url"));
    assert.ok(bytesEqual(fromBase64(toBase64(b))!, b));
    assert.ok(bytesEqual(fromBase64Url(toBase64Url(b)), b));
  }), { numRuns: 500 });
  for (const bad of ["QQ", "QQ=", "Q===", "QU=J", "QUJD\n", "QUJ-", " QUJD", "QUJ\u0144", "Q\u0155JD", "====", "QQ==QUJD"]) assert.is(fromBase64(bad), null, bad);
  assert.ok(bytesEqual(concat([Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3)]), Uint8Array.of(1, 2, 3)));
  // 5 MB in one go: no call-stack overflow from spreading or from a regular expression.
  const big = new Uint8Array(5 << 20).fill(0xab);
  assert.ok(bytesEqual(fromBase64(toBase64(big))!, big));
});

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}
const where = (re: RegExp, dirs: string[]) => dirs.flatMap((d) => sources(join(ROOT, d))).filter((f) => !f.endsWith("bytes.test.ts") && re.test(readFileSync(f, "utf8"))).map((f) => relative(ROOT, f)).sort();

test("each byte helper, the P-256 DER framing and the seeded RNG are defined in one module", () => {
  assert.equal(where(/\b(?:btoa|atob)\(/, ["lib"]), ["lib/bytes.ts"], "base64 by hand outside lib/bytes.ts");
  assert.equal(where(/function concat\b|padStart\(2, "0"\)\);?\s*$|toString\(16\)\.padStart\(2/m, ["lib"]), ["lib/bytes.ts"]);
  assert.equal(where(/3059301306072a8648ce3d|0x30, 0x59, 0x30, 0x13|308187020100301306072a8648ce3d|0x30, 0x81, 0x87, 0x02/, ["lib"]), ["lib/x509/p256.ts"]);
  assert.equal(where(/0x6d2b79f5/, ["test"]), ["test/sim.ts"], "the mulberry32 RNG is written more than once");
  assert.equal(where(/Promise\.race\(|Promise\.all\(Array\.from\(\{ length: Math\.min/, ["lib"]), ["lib/pool.ts"], "a second concurrency limiter");
  // Batches of N awaited with Promise.all are a limiter too (verify's reads, the tamper check).
  assert.equal(where(/i \+= \d+\)\s*\{\s*(?:const \w+ = )?await Promise\.all\(/, ["lib"]), [], "a batching loop instead of lib/pool.ts");
});

test("eachLimited keeps at most `width` in flight, and after a failure starts nothing new but lets the running ones finish", async () => {
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const finished: number[] = [];
  const err = await eachLimited(Array.from({ length: 20 }, (_, i) => i), 3, async (i) => {
    started.push(i);
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, i === 5 ? 1 : 5));
    running--;
    if (i === 5) throw new Error("boom");
    finished.push(i);
  }).then(() => null, (e: Error) => e.message);
  assert.is(err, "boom");
  assert.is(peak, 3);
  assert.ok(started.length < 20, "nothing new started after the failure");
  assert.is(running, 0, "the tasks in flight settled before the failure was thrown");
  assert.equal(started.filter((i) => i !== 5).sort((a, b) => a - b), finished.sort((a, b) => a - b));
});

test.run();
