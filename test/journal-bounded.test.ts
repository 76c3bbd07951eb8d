// The bounded journal (lib/store/manifest.ts): a renewal records each scope's leaf certificates
// through one manifest whose digest the entry records, so the entry does not grow with the fleet;
// and the manifest is as hostile an input as any file under the pki directory — editing it, or a
// certificate it lists, is caught by the tamper check, by deploy and by verify, with the tree
// left byte-identical. Trees journaled before manifests existed still verify and renew.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GENESIS, readJournal, sealEntry, sha256, type JournalEntry } from "../lib/store/journal.ts";
import { decodeManifest, encodeManifest, MANIFEST_FORMAT } from "../lib/store/manifest.ts";
import * as valibot from "valibot";
import { JournalEntrySchema, LeafManifestSchema } from "../lib/model/formats.ts";
import { buildTree, ciEnv, cli, ok, sandbox, treeHash, type Sandbox } from "./helpers.ts";
import { assertOneLine, clone, errorCodes, findingsOf, rechain, verify } from "./safety-helpers.ts";

const D = 86_400_000;
const T0 = Date.now();
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
const big = Array.from({ length: 60 }, (_, i) => `svc${String(i).padStart(2, "0")}`);
const sb: Sandbox = sandbox({ global: ["auth"], eu: ["payments", "checkout"], us: big });
await buildTree(sb, ["global", "eu", "us"], iso(T0));
const both = ciEnv(sb, { INFORGE_PKI_ROOT_KEY: sb.rootKey });

const read = (dir: string, rel: string) => readFileSync(join(dir, rel), "utf8");
const entries = (dir: string, journal = "journal/pki.jsonl") => readJournal(read(dir, journal)).entries;
const manifest = (dir: string, scope: string) => JSON.parse(read(dir, `leaves/${scope}/manifest.json`)) as { format: string; scope: string; files: Record<string, string> };

test("a fleet renewal's journal entry lists no leaf certificate: each scope's manifest does, with every certificate's sha256", async () => {
  const dir = clone(sb);
  await ok(cli(["pki", "renew", "--dir", dir, "--at", iso(T0 + 6 * D)], ciEnv(sb)));
  const e = entries(dir).at(-1)!;
  assert.ok(e.command.includes("renew"), e.command);
  assert.not.ok(e.files.some((f) => /\/[^/]+\.crt\.pem$/.test(f.path) && f.path.startsWith("leaves/")), "the entry lists leaf certificates");
  for (const scope of ["global", "eu", "us"]) {
    const m = manifest(dir, scope);
    assert.is(m.format, "inforge.leaf-manifest/v1");
    assert.is(m.scope, scope);
    const rec = e.files.find((f) => f.path === `leaves/${scope}/manifest.json`);
    assert.ok(rec, `the entry does not record ${scope}'s manifest`);
    assert.is(rec!.sha256, sha256(readFileSync(join(dir, `leaves/${scope}/manifest.json`))));
    for (const [name, digest] of Object.entries(m.files)) assert.is(digest, sha256(readFileSync(join(dir, `leaves/${scope}/${name}`))), `${scope}/${name}`);
  }
  assert.equal(Object.keys(manifest(dir, "us").files).length, big.length);
  // What docs/schemas publishes (journal-entry.v1, leaf-manifest.v1) is what runs write.
  for (const line of read(dir, "journal/pki.jsonl").trim().split("\n")) valibot.parse(JournalEntrySchema, JSON.parse(line));
  for (const scope of ["global", "eu", "us"]) valibot.parse(LeafManifestSchema, manifest(dir, scope));
  const v = await verify(dir, both, iso(T0 + 6 * D));
  assert.is(v.code, 0, findingsOf(v.report));
});

test("what a renewal adds to the journal does not grow with the number of leaves", async () => {
  // One region's renewal, 2 leaves against 60: the same files per entry (index, keys, manifest, CRL…).
  const dir = clone(sb);
  const at = iso(T0 + 6 * D);
  await ok(cli(["pki", "renew", "--region", "eu", "--dir", dir, "--at", at], ciEnv(sb)));
  await ok(cli(["pki", "renew", "--region", "us", "--dir", dir, "--at", at], ciEnv(sb)));
  const eu = entries(dir, "journal/scopes/eu.jsonl").at(-1)!;
  const us = entries(dir, "journal/scopes/us.jsonl").at(-1)!;
  const shape = (e: JournalEntry, scope: string) => e.files.map((f) => f.path.replace(new RegExp(`\\b${scope}\\b`), "X")).sort();
  assert.equal(shape(us, "us"), shape(eu, "eu"));
  const bytes = (e: JournalEntry) => JSON.stringify(e).length;
  assert.ok(Math.abs(bytes(us) - bytes(eu)) < 200, `eu entry ${bytes(eu)} bytes, us entry (30× the leaves) ${bytes(us)} bytes`);
});

/** Refused: non-zero, one sentence matching `why`, the tree byte-identical. */
async function refused(dir: string, argv: string[], why: RegExp): Promise<void> {
  const before = treeHash(dir);
  const r = await cli([...argv, "--dir", dir], ciEnv(sb));
  assert.is.not(r.code, 0, `${argv.join(" ")} was not refused: ${r.out}`);
  assert.ok(r.code !== 70, `${argv.join(" ")} crashed: ${r.err}`);
  assertOneLine(r.err, argv.join(" "));
  assert.match(r.err, why);
  assert.is(treeHash(dir), before, `${argv.join(" ")} changed the tree`);
}

const at = iso(T0 + D);
const deployArgs = (dir: string) => ["deploy", "payments", "--region", "eu", "--out", join(dir, "..", "out"), "--at", at];

test("a leaf certificate swapped for another one the manifest lists is caught by the tamper check, deploy and verify", async () => {
  const dir = clone(sb);
  writeFileSync(join(dir, "leaves/eu/payments.crt.pem"), read(dir, "leaves/eu/checkout.crt.pem"));
  await refused(dir, ["pki", "rotate", "--leaf", "checkout", "--region", "eu", "--at", at], /^inforge: leaves\/eu\/payments\.crt\.pem was changed outside inforge: it is not what journal entry \d+ /);
  await refused(dir, deployArgs(dir), /leaves\/eu\/payments\.crt\.pem was changed outside inforge/);
  const v = await verify(dir, both, at);
  assert.ok(errorCodes(v.report).includes("journal.hash-mismatch"), findingsOf(v.report));
  assert.ok(v.report.findings.some((f) => f.code === "journal.hash-mismatch" && f.file === "leaves/eu/payments.crt.pem"), findingsOf(v.report));
});

test("a manifest edited to vouch for a swapped certificate is caught: its own digest is what the journal recorded", async () => {
  const dir = clone(sb);
  writeFileSync(join(dir, "leaves/eu/payments.crt.pem"), read(dir, "leaves/eu/checkout.crt.pem"));
  const m = manifest(dir, "eu");
  m.files["payments.crt.pem"] = m.files["checkout.crt.pem"]!;
  writeFileSync(join(dir, "leaves/eu/manifest.json"), JSON.stringify(m, null, 1) + "\n");
  await refused(dir, ["pki", "rotate", "--leaf", "checkout", "--region", "eu", "--at", at], /^inforge: leaves\/eu\/manifest\.json was changed outside inforge(?: \(and 1 other file\(s\)\))?: it is not what journal entry \d+ /);
  await refused(dir, deployArgs(dir), /was changed outside inforge/);
  const v = await verify(dir, both, at);
  assert.ok(v.report.findings.some((f) => f.code === "journal.hash-mismatch" && f.file === "leaves/eu/manifest.json"), findingsOf(v.report));
  // A manifest that no longer matches vouches for nothing, and says so once, not once per certificate.
  assert.not.ok(v.report.findings.some((f) => f.code === "file.unrecorded"), findingsOf(v.report));
});

test("a manifest that lists a planted certificate, or is deleted, is caught", async () => {
  const planted = clone(sb);
  writeFileSync(join(planted, "leaves/eu/evil.crt.pem"), read(planted, "leaves/us/svc00.crt.pem"));
  const m = manifest(planted, "eu");
  m.files["evil.crt.pem"] = sha256(readFileSync(join(planted, "leaves/eu/evil.crt.pem")));
  writeFileSync(join(planted, "leaves/eu/manifest.json"), JSON.stringify(m, null, 1) + "\n");
  await refused(planted, ["pki", "rotate", "--leaf", "checkout", "--region", "eu", "--at", at], /leaves\/eu\/manifest\.json was changed outside inforge/);
  const gone = clone(sb);
  unlinkSync(join(gone, "leaves/eu/manifest.json"));
  await refused(gone, ["pki", "rotate", "--leaf", "checkout", "--region", "eu", "--at", at], /^inforge: leaves\/eu\/manifest\.json is missing/);
  await refused(gone, deployArgs(gone), /leaves\/eu\/manifest\.json is missing|leaves\/eu\/payments\.crt\.pem was not written by inforge/);
  const v = await verify(gone, both, at);
  assert.ok(v.report.findings.some((f) => f.code === "journal.file-missing" && f.file === "leaves/eu/manifest.json"), findingsOf(v.report));
});

test("a forged manifest with a journal entry appended to match is still caught by the state's fingerprints", async () => {
  const dir = clone(sb);
  writeFileSync(join(dir, "leaves/eu/payments.crt.pem"), read(dir, "leaves/eu/checkout.crt.pem"));
  const m = manifest(dir, "eu");
  m.files["payments.crt.pem"] = m.files["checkout.crt.pem"]!;
  writeFileSync(join(dir, "leaves/eu/manifest.json"), JSON.stringify(m, null, 1) + "\n");
  rechain(dir, ["leaves/eu/manifest.json"]);
  const v = await verify(dir, both, at);
  assert.is(v.code, 1);
  assert.ok(errorCodes(v.report).includes("cert.record-mismatch"), findingsOf(v.report));
  await refused(dir, deployArgs(dir), /leaves\/eu\/payments\.crt\.pem is not the leaf leaves\/eu\/index\.json records/);
});

test("a malformed manifest the journal recorded is one clear error, not a crash", async () => {
  const dir = clone(sb);
  writeFileSync(join(dir, "leaves/eu/manifest.json"), JSON.stringify({ format: "inforge.leaf-manifest/v1", scope: "eu", files: { "../../pki.json": "0".repeat(64) } }) + "\n");
  rechain(dir, ["leaves/eu/manifest.json"]);
  await refused(dir, ["pki", "rotate", "--leaf", "checkout", "--region", "eu", "--at", at], /^inforge: leaves\/eu\/manifest\.json lists "\.\.\/\.\.\/pki\.json" with "0{64}", not a leaf certificate's name and sha256; restore it from git/);
  const v = await verify(dir, both, at);
  assert.ok(errorCodes(v.report).includes("journal.manifest-invalid"), findingsOf(v.report));
});

test("a manifest's text is JSON.stringify's with one space of indent, sorted by name, and reads back; names outside a certificate's are refused", () => {
  const digest = (i: number) => sha256(`cert ${i}`);
  const names = ["svc-b.crt.pem", "A.crt.pem", "svc-a.crt.pem", "z9._-x.crt.pem", "svc-10.crt.pem", "svc-9.crt.pem"];
  for (const count of [0, 1, names.length]) {
    const files = new Map(names.slice(0, count).map((n, i) => [`leaves/eu-west/${n}`, digest(i)]));
    const sorted = Object.fromEntries([...files].map(([p, d]) => [p.slice("leaves/eu-west/".length), d]).sort(([a], [b]) => (a! < b! ? -1 : 1)));
    const text = encodeManifest("eu-west", files);
    assert.is(text, JSON.stringify({ format: MANIFEST_FORMAT, scope: "eu-west", files: sorted }, null, 1) + "\n");
    assert.equal(decodeManifest(text, "leaves/eu-west/manifest.json"), files);
  }
  for (const bad of ["../x.crt.pem", "a/b.crt.pem", ".hidden.crt.pem", "svc.key.pem", "svc.crt.pem.bak", "sv c.crt.pem"]) {
    const text = JSON.stringify({ format: MANIFEST_FORMAT, scope: "eu", files: { [bad]: digest(1) } });
    assert.throws(() => decodeManifest(text, "leaves/eu/manifest.json"), /not a leaf certificate's name and sha256/, bad);
  }
  assert.throws(() => encodeManifest("eu", new Map([["leaves/us/a.crt.pem", digest(1)]])), /is not a file of scope "eu"/);
});

test("a tree journaled before manifests (every certificate in its entry) still verifies, and its next renewal starts a manifest", async () => {
  const dir = clone(sb);
  // Rewrite the journals as the old format wrote them: the manifest's listing in the entry, no manifest file.
  for (const journal of ["journal/pki.jsonl"]) {
    let prev = GENESIS;
    const lines = entries(dir, journal).map(({ hash: _h, ...e }) => {
      const files = e.files.flatMap((f) => {
        const scope = /^leaves\/([^/]+)\/manifest\.json$/.exec(f.path)?.[1];
        return scope ? Object.entries(manifest(dir, scope).files).map(([n, h]) => ({ path: `leaves/${scope}/${n}`, sha256: h })) : [f];
      });
      const sealed = sealEntry({ ...e, files, prev });
      prev = sealed.hash;
      return JSON.stringify(sealed);
    });
    writeFileSync(join(dir, journal), lines.join("\n") + "\n");
  }
  for (const s of ["global", "eu", "us"]) unlinkSync(join(dir, `leaves/${s}/manifest.json`));
  const old = await verify(dir, both, at);
  assert.is(old.code, 0, findingsOf(old.report));
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu", "--dir", dir, "--at", at], ciEnv(sb)));
  assert.equal(Object.keys(manifest(dir, "eu").files), ["payments.crt.pem"]);
  const after = await verify(dir, both, at);
  assert.is(after.code, 0, findingsOf(after.report));
  // The certificate the old entries recorded is still held to them.
  writeFileSync(join(dir, "leaves/eu/checkout.crt.pem"), read(dir, "leaves/eu/payments.crt.pem"));
  await refused(dir, ["pki", "rotate", "--leaf", "checkout", "--region", "eu", "--at", at], /leaves\/eu\/checkout\.crt\.pem was changed outside inforge/);
});

test.run();
