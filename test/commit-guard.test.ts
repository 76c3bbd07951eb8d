// The commit's guard over a directory of many files (lib/store/fs-store.ts guard, no-follow.ts
// assertNoSymlinksIn): a scope's leaf certificates are judged from one listing of their directory
// instead of an lstat each. The same refusals hold there: a symbolic link among them stops the
// commit before anything is written, and a second name (hard link) is replaced, never written
// through.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, linkSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./helpers.ts";
import { lstatHash } from "./fs-guard.ts";
import { FsStore, HELPED_FROM, type FileWrite } from "../lib/store/fs-store.ts";
import { MintWorkers } from "../lib/apply/mint-workers.ts";

const N = 40; // above the guard's listing threshold (32 files of one directory)
const VICTIM = "the victim's own bytes\n";
const name = (i: number) => `svc-${String(i).padStart(3, "0")}.crt.pem`;
const cert = (i: number, round: number) => `-----BEGIN CERTIFICATE-----\nround ${round} leaf ${i}\n-----END CERTIFICATE-----\n`;
const writes = (round: number): FileWrite[] => Array.from({ length: N }, (_, i) => ({ path: `leaves/eu/${name(i)}`, content: cert(i, round), mode: 0o644 }));
const info = { at: new Date().toISOString(), command: "test", intents: ["leaf.renew"], steps: N };

/** A directory whose leaves/eu holds N committed certificates, and a victim file beside it. */
async function committed(): Promise<{ dir: string; victim: string }> {
  const base = tempDir("inforge-guard-");
  const dir = join(base, "pki");
  mkdirSync(dir);
  const victim = join(base, "victim");
  writeFileSync(victim, VICTIM);
  await new FsStore(dir).commit(writes(1), info);
  return { dir, victim };
}

test("a symbolic link among a scope's many certificates stops the commit before anything is written", async () => {
  const { dir, victim } = await committed();
  const target = join(dir, "leaves/eu", name(17));
  rmSync(target);
  symlinkSync(victim, target);
  const before = lstatHash(dir);
  const err = await new FsStore(dir).commit(writes(2), info).then(() => null, (e: unknown) => e as Error);
  assert.ok(err, "the commit went through a symbolic link");
  assert.match(err.message, new RegExp(`${name(17)} is a symbolic link; inforge never writes through one — .* — nothing was changed`));
  assert.is(readFileSync(victim, "utf8"), VICTIM);
  assert.is(lstatHash(dir), before, "the directory changed");
  assert.is(readFileSync(join(dir, "leaves/eu", name(3)), "utf8"), cert(3, 1));
});

test("a certificate with a second name among many is replaced by a file of its own; the other name keeps its bytes", async () => {
  const { dir, victim } = await committed();
  const target = join(dir, "leaves/eu", name(5));
  const other = join(dir, "leaves/eu", name(6));
  const inode = lstatSync(other).ino;
  rmSync(target);
  linkSync(victim, target);
  await new FsStore(dir).commit(writes(2), info);
  assert.is(readFileSync(victim, "utf8"), VICTIM, "the commit wrote through the hard link");
  assert.is(lstatSync(target).nlink, 1);
  assert.is(readFileSync(target, "utf8"), cert(5, 2));
  // The others are rewritten in their own inodes.
  assert.is(lstatSync(other).ino, inode);
  assert.is(readFileSync(other, "utf8"), cert(6, 2));
});

test("a helper thread is handed half of a fleet's certificates before the commit point and overwrites them past it, in their own inodes; a refused commit drops them unwritten; when it fails, this thread writes them", async () => {
  const n = HELPED_FROM + 100;
  const fleet = (round: number): FileWrite[] => Array.from({ length: n }, (_, i) => ({ path: `leaves/eu/svc-${String(i).padStart(5, "0")}.crt.pem`, content: cert(i, round), mode: 0o644 }));
  const dir = join(tempDir("inforge-helper-"), "pki");
  mkdirSync(dir);
  await new FsStore(dir).commit(fleet(1), info);
  const inodes = fleet(1).map((w) => lstatSync(join(dir, w.path)).ino);
  const mw = await MintWorkers.start(1);
  assert.ok(mw, "no worker thread here");
  try {
    let [asked, dropped] = [0, 0];
    const helper = {
      hold: (files: Parameters<MintWorkers["hold"]>[0]) => {
        asked += files.length;
        const h = mw.hold(files);
        return { go: h.go, drop: () => (dropped++, h.drop()) };
      },
    };
    await new FsStore(dir).commit(fleet(2), { ...info, helper });
    assert.is(asked, n >> 1, "the helper took half");
    assert.is(dropped, 0);
    for (const w of fleet(2)) assert.is(readFileSync(join(dir, w.path), "utf8"), w.content);
    // Refused at the commit point (a tamper check beside failed): handed over, never written.
    const refusal = new Error("tampered");
    const err = await new FsStore(dir).commit(fleet(9), { ...info, helper, beforeCommitPoint: () => Promise.reject(refusal) }).catch((e: unknown) => e);
    assert.is(err, refusal);
    assert.is(dropped, 1, "the held half was not dropped");
    await mw.hold([]).go(); // answered after every message before it
    for (const w of fleet(2)) assert.is(readFileSync(join(dir, w.path), "utf8"), w.content, `${w.path} was written by a refused commit`);
    const failing = { hold: () => ({ go: () => Promise.reject(new Error("the helper is gone")), drop: () => {} }) };
    await new FsStore(dir).commit(fleet(3), { ...info, helper: failing });
  } finally {
    await mw.close();
  }
  fleet(3).forEach((w, i) => {
    assert.is(readFileSync(join(dir, w.path), "utf8"), w.content);
    assert.is(lstatSync(join(dir, w.path)).ino, inodes[i], `${w.path} was replaced, not overwritten`);
  });
});

async function streamed(domain: string | null): Promise<void> {
  const { dir } = await committed();
  const o = domain === null ? {} : { domain };
  if (domain !== null) await new FsStore(dir, o).commit(writes(1), info); // the scope's journal
  const log = domain === null ? "journal/pending.redo" : `journal/scopes/${domain}.pending.redo`;
  const stream = async (ws: FileWrite[], n = ws.length) => {
    const s = await new FsStore(dir, o).streamLog();
    assert.ok(s, "no streamed log here");
    s.add(ws.slice(0, n));
    assert.ok(existsSync(join(dir, log)));
    return s;
  };
  const holds = (round: number) => writes(round).forEach((w) => assert.is(readFileSync(join(dir, w.path), "utf8"), w.content));
  // Most files streamed, the rest (and the manifest) written at the commit.
  const w2 = writes(2);
  await new FsStore(dir, o).commit(w2, { ...info, log: await stream(w2, N - 5) });
  holds(2);
  assert.not.ok(existsSync(join(dir, log)), "the log was left behind");
  // A write replaced by another object after it was streamed: the log is written whole, anew.
  const w3 = writes(3);
  const s3 = await stream(w3);
  w3[7] = { ...w3[7]! };
  await new FsStore(dir, o).commit(w3, { ...info, log: s3 });
  holds(3);
  // A path streamed twice stops the stream: the log is written whole, anew.
  const w35 = writes(35);
  const s35 = await stream(w35);
  s35.add([w35[3]!]);
  await new FsStore(dir, o).commit(w35, { ...info, log: s35 });
  holds(35);
  const before = lstatHash(dir);
  // Refused at the commit point: nothing written, no log left.
  const w4 = writes(4);
  const refusal = new Error("tampered");
  const err = await new FsStore(dir, o).commit(w4, { ...info, log: await stream(w4), beforeCommitPoint: () => Promise.reject(refusal) }).catch((e: unknown) => e);
  assert.is(err, refusal);
  holds(35);
  assert.is(lstatHash(dir), before, "a refused commit changed the directory");
  // Dropped (the run failed before its commit): gone.
  await (await stream(writes(5))).drop();
  assert.is(lstatHash(dir), before, "a dropped log changed the directory");
  // Killed mid-run (the log never sealed): the next run discards it.
  await stream(writes(6), 10);
  assert.is(await new FsStore(dir, o).recover(), "discarded");
  assert.is(lstatHash(dir), before, "recovery left the killed run's log");
  holds(35);
}

test("a redo log streamed while the files are made: the commit writes the rest and puts every file; a write that is not the streamed object, a refusal at the commit point, a dropped log and a killed run each leave no log and the right files", () => streamed(null));

test("the same for a run locked to one scope: its own log, beside its own journal", () => streamed("eu"));

test.run();
