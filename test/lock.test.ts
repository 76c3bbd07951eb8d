// Locking with real processes: runs started at once against one pki directory cannot interleave.
// Without --wait the second refuses naming the holder; with --wait it queues; a lock left by a
// dead process on this host is taken over; one held on another host never is. After each: the
// journal's chain is intact and verify passes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { ROOT, buildTree, ciEnv, cli, ok, sandbox, treeHash } from "./helpers.ts";
import { assertNoPlaintextKeys, assertOneLine, clone, errorCodes, findingsOf, verify } from "./safety-helpers.ts";
import { FsStore } from "../lib/store/fs-store.ts";
import { acquireLock } from "../lib/store/lock.ts";

const sb = sandbox({ global: ["auth", "config"], eu: ["payments", "checkout"], us: ["payments"] });
await buildTree(sb);
const both = ciEnv(sb, { INFORGE_PKI_ROOT_KEY: sb.rootKey });

const ROTATIONS: [string, string][] = [["payments", "eu"], ["checkout", "eu"], ["payments", "us"], ["auth", "global"], ["config", "global"], ["payments", "eu"]];

interface Run {
  readonly pid: number;
  readonly code: number | null;
  readonly err: string;
  readonly endedAt: number;
}
function start(dir: string, argv: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(ROOT, "bin/inforge.js"), ...argv, "--dir", dir], { env: { ...ciEnv(sb), PATH: process.env.PATH } as NodeJS.ProcessEnv, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (b: Buffer) => (err += b));
    p.on("close", (code) => resolve({ pid: p.pid!, code, err, endedAt: Date.now() }));
  });
}
const rotations = (dir: string, extra: string[] = []) => Promise.all(ROTATIONS.map(([svc, region]) => start(dir, ["pki", "rotate", "--leaf", svc, "--region", region, ...extra])));

/** Every journal's entries (the directory's and each scope's, lib/store/domains.ts), chains checked. */
const entries = async (dir: string) => {
  const { entries: e, broken } = await new FsStore(dir).journalEntries();
  assert.is(broken, null, `a journal's chain is broken: ${broken}`);
  return e;
};
const holder = (pid: number, host = hostname()) => JSON.stringify({ pid, host, command: "inforge pki renew (held by the test)", since: new Date().toISOString() }) + "\n";
/** A pid that no process has right now. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "0"]);
  return r.pid!;
}
async function intact(dir: string): Promise<void> {
  const v = await verify(dir, both);
  assert.equal(errorCodes(v.report), [], findingsOf(v.report));
  assert.not.ok(existsSync(join(dir, ".lock")), "a run left its lock behind");
  assertNoPlaintextKeys(dir);
}

test("while a live process holds the lock, six runs started at once all refuse naming it, and nothing changes", async () => {
  const dir = clone(sb);
  writeFileSync(join(dir, ".lock"), holder(process.pid));
  const before = treeHash(dir);
  const runs = await rotations(dir);
  const pids = new Set(runs.map((r) => r.pid));
  let namedTest = 0;
  for (const r of runs) {
    assert.is(r.code, 1, r.err);
    assertOneLine(r.err, "a refused run");
    assert.match(r.err, /is locked by pid \d+ on \S+ \(.*, since [^)]+\); wait for it to finish \(or pass --wait 60s\)/, r.err);
    // The holder named is the test's, or (two runs of one scope) the other run that holds that scope's lock for a moment.
    const pid = Number(/is locked by pid (\d+)/.exec(r.err)![1]);
    assert.ok(pid === process.pid || (pids.has(pid) && pid !== r.pid), r.err);
    if (pid === process.pid) {
      namedTest++;
      assert.match(r.err, new RegExp(`is locked by pid ${process.pid} on ${hostname()} \\(inforge pki renew \\(held by the test\\), since`));
    }
  }
  // At least the first run of each scope (eu, us, global) got its scope's lock and found the holder's.
  assert.ok(namedTest >= new Set(ROTATIONS.map(([, r]) => r)).size, `only ${namedTest} refusals named the holder`);
  assert.is(treeHash(dir), before);
  unlinkSync(join(dir, ".lock"));
  await intact(dir);
});

test("six runs with --wait queue behind the directory lock's holder and all win, with every journal's chain intact", async () => {
  const dir = clone(sb);
  const n = (await entries(dir)).length;
  writeFileSync(join(dir, ".lock"), holder(process.pid));
  const runs = rotations(dir, ["--wait", "60s"]);
  await new Promise((r) => setTimeout(r, 1500));
  const released = Date.now();
  unlinkSync(join(dir, ".lock"));
  const done = await runs;
  for (const r of done) {
    assert.is(r.code, 0, r.err);
    assert.ok(r.endedAt >= released, "a run finished while the lock was held by someone else");
  }
  const e = await entries(dir);
  assert.is(e.length, n + 6);
  // Each run rotated its own leaf: payments/eu twice, every other once.
  const rotated = e.filter((x) => x.command.includes("--wait")).map((x) => x.command.replace(/ --dir .*/, "").replace("inforge pki rotate --leaf ", ""));
  assert.equal(rotated.sort(), ROTATIONS.map(([s, r]) => `${s} --region ${r} --wait 60s`).sort());
  await intact(dir);
});

test("six runs started at once without --wait: each wins or refuses naming another of them, and the journal has exactly the winners", async () => {
  const dir = clone(sb);
  const n = (await entries(dir)).length;
  const runs = await rotations(dir);
  const pids = new Set(runs.map((r) => r.pid));
  const won = runs.filter((r) => r.code === 0);
  assert.ok(won.length >= 1, "nobody won");
  for (const r of runs.filter((x) => x.code !== 0)) {
    assert.is(r.code, 1, r.err);
    assertOneLine(r.err, "a refused run");
    const pid = Number(/is locked by pid (\d+) on /.exec(r.err)?.[1]);
    assert.ok(pids.has(pid) && pid !== r.pid, `refused naming pid ${pid}, not one of the other runs: ${r.err}`);
  }
  assert.is((await entries(dir)).length, n + won.length);
  console.log(`lock: ${won.length} of 6 simultaneous runs won, ${6 - won.length} refused naming the holder`);
  await intact(dir);
});

test("a lock left by a dead process on this host is taken over, by one run at a time", async () => {
  const dir = clone(sb);
  writeFileSync(join(dir, ".lock"), holder(deadPid()));
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu", "--dir", dir], ciEnv(sb)));
  await intact(dir);
  // Six at once against a stale lock: the takeover is guarded, so they still do not interleave.
  const n = (await entries(dir)).length;
  writeFileSync(join(dir, ".lock"), holder(deadPid()));
  const runs = await rotations(dir, ["--wait", "60s"]);
  for (const r of runs) assert.is(r.code, 0, r.err);
  assert.is((await entries(dir)).length, n + 6);
  await intact(dir);
});

test("a lock whose holder is on another host is never taken over, even if that pid is free here", async () => {
  const dir = clone(sb);
  writeFileSync(join(dir, ".lock"), holder(deadPid(), "build-7.example"));
  const before = treeHash(dir);
  const r = await cli(["pki", "renew", "--dir", dir], ciEnv(sb));
  assert.is(r.code, 1);
  assertOneLine(r.err, "renew");
  assert.match(r.err, /is locked by pid \d+ on build-7\.example .*remove .*\.lock only if that process is gone/);
  assert.is(treeHash(dir), before);
});

test("an empty lock file (a run killed while creating it) is respected while fresh and taken over once old", async () => {
  const dir = clone(sb);
  const lock = join(dir, ".lock");
  writeFileSync(lock, "");
  const fresh = await cli(["pki", "rotate", "--leaf", "payments", "--region", "eu", "--dir", dir], ciEnv(sb));
  assert.is(fresh.code, 1);
  assert.match(fresh.err, /locked by another run \(its lock file is unreadable\)/);
  const old = new Date(Date.now() - 60_000);
  utimesSync(lock, old, old);
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu", "--dir", dir], ciEnv(sb)));
  await intact(dir);
});

test("a lock file caught between its creation and its writing is read again: the refusal names its holder", async () => {
  const dir = clone(sb);
  const lock = join(dir, ".lock-eu");
  writeFileSync(lock, ""); // created (O_EXCL), not yet written ...
  setTimeout(() => writeFileSync(lock, holder(process.pid)), 100); // ... and written a moment later
  const refused = await acquireLock(dir, "inforge pki renew --region eu", new Date(), 0, "eu").then(() => null, (e: Error) => e.message);
  assert.match(refused ?? "taken", new RegExp(`is locked by pid ${process.pid} on ${hostname()} \\(inforge pki renew \\(held by the test\\), since`));
  unlinkSync(lock);
});

test.run();
