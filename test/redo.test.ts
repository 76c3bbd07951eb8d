// The redo log's format (lib/store/redo.ts): what writeRedo writes, readRedo gives back exactly,
// and a log cut off or altered anywhere is refused with a sentence, never read as other files.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { REDO_FORMAT, readRedo, RedoStream, writeRedo, type RedoFile } from "../lib/store/redo.ts";
import { sha256 } from "../lib/store/journal.ts";
import { StateError } from "../lib/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "inforge-redo-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const ENTRY = "e".repeat(64);
const FILES: RedoFile[] = [
  { path: "leaves/eu/payments.crt.pem", content: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", mode: 0o644 },
  { path: "leaves/eu/index.json", content: '{"name": "café ✓ \\"quoted\\"\\n"}\n\n', mode: 0o644 }, // non-ASCII, newlines, no trailing content rules
  { path: "leaves/eu/empty", content: "", mode: 0o600 },
  { path: "bundles/eu.pem", content: "no newline at the end", mode: 0o644 },
];
const digests = (files: readonly RedoFile[]) => new Map(files.map((f) => [f.path, sha256(f.content)]));

async function written(name: string, files = FILES): Promise<string> {
  const p = join(dir, name);
  await writeRedo(p, ENTRY, files);
  return readFileSync(p, "utf8");
}

test("a log gives back every file as written: bytes, path and mode, newlines and non-ASCII text included", async () => {
  const text = await written("ok.redo");
  assert.ok(text.startsWith(`{"format":"${REDO_FORMAT}"`));
  // The certificate's bytes are in the log as they are, not escaped into JSON.
  assert.ok(text.includes(FILES[0]!.content));
  assert.equal(readRedo(text, "log", ENTRY, digests(FILES)), FILES);
});

test("a fleet-size log (records across its 1 MB write buffer, one larger than it, non-ASCII at the seams) reads back exactly", async () => {
  const files: RedoFile[] = [];
  for (let i = 0; i < 1500; i++) files.push({ path: `leaves/r${i % 7}/svc-${i}.crt.pem`, content: `-----BEGIN CERTIFICATE-----\n${"Ab0+/".repeat(140 + (i % 13))}\n${i % 97 ? "" : "é✓"}-----END CERTIFICATE-----\n`, mode: 0o644 });
  files.splice(700, 0, { path: "leaves/r1/keys.age", content: "x✓".repeat(700_000), mode: 0o600 }); // 2.1 MB of UTF-8
  const text = await written("fleet.redo", files);
  assert.equal(readRedo(text, "log", ENTRY, digests(files)), files);
});

test("a log streamed in pieces (records added as files are made, the rest and the header at the end) reads back as the whole log does; unsealed, it is no pending run's log", async () => {
  // Fleet-size: 3,000 records of ~800 bytes cross the 2 MB flush mark and the 1 MB buffer.
  const many: RedoFile[] = Array.from({ length: 3000 }, (_, i) => ({ path: `leaves/r${i % 7}/svc-${i}.crt.pem`, content: `-----BEGIN CERTIFICATE-----\n${"Q".repeat(700 + (i % 97))}é\n-----END CERTIFICATE-----\n`, mode: 0o644 }));
  const all = [...many, ...FILES];
  const p = join(dir, "streamed");
  const s = await RedoStream.open(p);
  for (let i = 0; i < many.length; i += 256) s.add(many.slice(i, i + 256));
  const unsealed = readFileSync(p, "utf8");
  assert.throws(() => readRedo(unsealed, "the log", ENTRY, digests(all)), (e: unknown) => e instanceof StateError && /is not the log of the pending run/.test((e as Error).message));
  await (await s.seal(ENTRY, FILES, all.length)).flushed;
  const text = readFileSync(p, "utf8");
  assert.equal(readRedo(text, "the log", ENTRY, digests(all)), all);
  // Byte for byte the log written whole (one way of writing both), its header padded to its room.
  const whole = await written("whole-of-streamed", all);
  assert.is(text, whole);
  assert.is(text.indexOf("\n") + 1, 160);
  // Sealed with a count that is not what it holds: refused before anything is flushed.
  const q = await RedoStream.open(join(dir, "miscounted"));
  q.add(many.slice(0, 3));
  const err = await q.seal(ENTRY, [], 4).catch((e: unknown) => e);
  assert.ok(err instanceof StateError && /a redo log of 3 files sealed as 4/.test(err.message), String(err));
});

test("a log cut off at any character, or holding one more, is refused; never read as other files", async () => {
  const text = await written("cut.redo");
  for (let n = 0; n < text.length; n++) {
    assert.throws(() => readRedo(text.slice(0, n), "journal/x.redo", ENTRY, digests(FILES)), (e: unknown) => e instanceof StateError && /^journal\/x\.redo (is|holds)/.test(e.message), `cut at ${n}`);
  }
  assert.throws(() => readRedo(text + text.slice(text.indexOf("\n") + 1), "log", ENTRY, digests(FILES)), /log is damaged/);
});

test("a length, a byte or the entry altered is refused naming what is wrong", async () => {
  const text = await written("bad.redo");
  const n = FILES[0]!.content.length;
  const longer = text.replace(`"length":${n}`, `"length":${n - 1}`);
  assert.not.equal(longer, text);
  assert.throws(() => readRedo(longer, "log", ENTRY, digests(FILES)), /log is damaged/);
  const flipped = text.replace("MIIB", "MIIC");
  assert.throws(() => readRedo(flipped, "log", ENTRY, digests(FILES)), /log holds bytes for "leaves\/eu\/payments\.crt\.pem" that the pending record does not name/);
  assert.throws(() => readRedo(text, "log", "f".repeat(64), digests(FILES)), /log is not the log of the pending run/);
  assert.throws(() => readRedo(text, "log", ENTRY, digests(FILES.slice(1))), /log is cut off/);
});

test("a log written by an older inforge (v1: a JSON line a file) is still read", () => {
  const v1 = [JSON.stringify({ format: "inforge.redo/v1", entry: ENTRY, count: FILES.length }), ...FILES.map((f) => JSON.stringify({ path: f.path, mode: f.mode, content: f.content }))].join("\n") + "\n";
  assert.equal(readRedo(v1, "log", ENTRY, digests(FILES)), FILES);
  assert.throws(() => readRedo(v1.slice(0, -30), "log", ENTRY, digests(FILES)), (e: unknown) => e instanceof StateError);
});

test.run();
