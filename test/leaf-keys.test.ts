// A scope's leaf keys in one age file (leaves/<scope>/keys.age, lib/apply/leaf-keys.ts): what the
// age CLI opens, what a renewal of some leaves keeps, and the move from the older layout (one
// <service>.key.age per leaf) on the first renewal that needs it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, leafKeyPem, ok, run, sandbox } from "./helpers.ts";
import { clone } from "./safety-helpers.ts";
import { readJournal, sealEntry, sha256, GENESIS, type JournalEntry } from "../lib/store/journal.ts";
import { LEAF_KEYS_FORMAT } from "../lib/apply/leaf-keys.ts";
import { STARTS_PKCS8 } from "./fixtures/pem.ts";

const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout", "ledger"] });
await buildTree(sb, ["global", "eu"]);
const openWithAge = (dir: string, scope: string) => {
  const r = run("age", ["-d", "-i", sb.ciKey, join(dir, "leaves", scope, "keys.age")]);
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { format: string; scope: string; keys: Record<string, { serial: string; key: string }> };
};
const serialOf = (dir: string, scope: string, svc: string) => (JSON.parse(readFileSync(join(dir, "leaves", scope, "index.json"), "utf8")) as { leaves: Record<string, { serial: string }> }).leaves[svc]!.serial;

test("the age CLI opens a scope's key file: one entry per leaf, each tagged with its certificate's serial", () => {
  const f = openWithAge(sb.dir, "eu");
  assert.is(f.format, LEAF_KEYS_FORMAT);
  assert.is(f.scope, "eu");
  assert.equal(Object.keys(f.keys), ["checkout", "ledger", "payments"]);
  for (const [svc, e] of Object.entries(f.keys)) {
    assert.match(e.key, STARTS_PKCS8);
    assert.is(e.serial, serialOf(sb.dir, "eu", svc));
  }
  assert.not.ok(existsSync(join(sb.dir, "leaves/eu/payments.key.age")), "no per-leaf key files in the new layout");
});

test("rotating one leaf re-seals the scope's file with the new key and every other key unchanged", async () => {
  const dir = clone(sb);
  const before = openWithAge(dir, "eu").keys;
  await ok(cli(["pki", "rotate", "--leaf", "ledger", "--region", "eu", "--dir", dir], ciEnv(sb)));
  const after = openWithAge(dir, "eu").keys;
  assert.equal(after.payments, before.payments);
  assert.equal(after.checkout, before.checkout);
  assert.is.not(after.ledger!.key, before.ledger!.key);
  assert.is(after.ledger!.serial, serialOf(dir, "eu", "ledger"));
});

test("a tree with one key file per leaf (the older layout) moves them into keys.age on its next renewal of some leaves", async () => {
  const dir = clone(sb);
  // Rewrite history into the older layout: per-leaf key files, recorded as such by the journal.
  const keys = openWithAge(dir, "eu").keys;
  const recipient = (JSON.parse(readFileSync(join(dir, "pki.json"), "utf8")) as { recipients: { ci: string } }).recipients.ci;
  const perLeaf = new Map<string, string>();
  for (const [svc, e] of Object.entries(keys)) {
    const path = join(dir, "leaves/eu", `${svc}.key.age`);
    const r = run("age", ["-r", recipient, "-a", "-o", path], { input: e.key });
    assert.is(r.status, 0, r.stderr);
    perLeaf.set(`leaves/eu/${svc}.key.age`, sha256(readFileSync(path)));
  }
  unlinkSync(join(dir, "leaves/eu/keys.age"));
  const file = join(dir, "journal/pki.jsonl");
  let prev = GENESIS;
  const entries = readJournal(readFileSync(file, "utf8")).entries.map((e): JournalEntry => {
    const files = e.files.flatMap((f) => (f.path === "leaves/eu/keys.age" ? [...perLeaf].map(([path, h]) => ({ path, sha256: h })) : [f]));
    const { hash: _h, ...rest } = e;
    const sealed = sealEntry({ ...rest, files, prev });
    prev = sealed.hash;
    return sealed;
  });
  writeFileSync(file, entries.map((e) => JSON.stringify(e) + "\n").join(""));
  // Renew one leaf: the two others' keys come from their own files into keys.age.
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu", "--dir", dir], ciEnv(sb)));
  const moved = openWithAge(dir, "eu").keys;
  assert.equal(moved.checkout, keys.checkout);
  assert.equal(moved.ledger, keys.ledger);
  assert.is(moved.payments!.serial, serialOf(dir, "eu", "payments"));
  assert.is(leafKeyPem({ ...sb, dir }, "eu", "payments"), moved.payments!.key);
});

test.run();
