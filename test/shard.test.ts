// Sharding: one region's CI renewal locks only that scope (.lock-<scope>) and journals to that
// scope's journal, so parallel CI jobs renew regions side by side; anything wider — a fleet-wide
// renewal, root posture, a region run whose plan changes a shared bundle — locks the whole
// directory. Runs are real processes where they must overlap.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { ROOT, buildTree, ciEnv, cli, ok, rootEnv, sandbox, treeHash } from "./helpers.ts";
import { clone, errorCodes, errorCodesButExpiredLeaves, findingsOf, verify } from "./safety-helpers.ts";
import { mergeJournals, readJournal, type JournalEntry } from "../lib/store/journal.ts";
import { scopeOfPath } from "../lib/store/domains.ts";

const H = 3_600_000;
const D = 24 * H;
const T0 = Math.floor(Date.now() / 1000) * 1000;
const iso = (t: number) => new Date(t).toISOString().replace(/\.000Z$/, "Z");

const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout"], us: ["payments", "ledger"] });
await buildTree(sb, ["global", "eu", "us"], iso(T0));
const both = ciEnv(sb, { INFORGE_PKI_ROOT_KEY: sb.rootKey });

const journal = (dir: string, rel: string): JournalEntry[] => {
  const p = join(dir, rel);
  if (!existsSync(p)) return [];
  const { entries, broken } = readJournal(readFileSync(p, "utf8"));
  assert.is(broken, null, `${rel}: ${broken}`);
  return entries;
};
const holder = () => JSON.stringify({ pid: process.pid, host: hostname(), command: "held by the test", since: new Date().toISOString() }) + "\n";
function start(dir: string, argv: string[]): Promise<{ code: number | null; err: string; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(ROOT, "bin/inforge.js"), ...argv, "--dir", dir], { env: { ...ciEnv(sb), PATH: process.env.PATH } as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    let out = "";
    p.stdout.on("data", (b: Buffer) => (out += b));
    p.stderr.on("data", (b: Buffer) => (err += b));
    p.on("close", (code) => resolve({ code, err, out }));
  });
}
const scopeFiles = (scope: string) => (rel: string) => !rel.startsWith("journal/") && scopeOfPath(rel) === scope;

test("two regions renewed by two processes at once both finish, each writing only its own files and its own journal", async () => {
  const dir = clone(sb);
  const at = iso(T0 + 5 * D); // every leaf is past its renewal point
  const otherThanEuUs = (rel: string) => !rel.startsWith("journal/") && !["eu", "us"].includes(scopeOfPath(rel) ?? "");
  const before = { rest: treeHash(dir, otherThanEuUs), pki: journal(dir, "journal/pki.jsonl").length };
  const [eu, us] = await Promise.all([start(dir, ["pki", "renew", "--region", "eu", "--at", at]), start(dir, ["pki", "renew", "--region", "us", "--at", at])]);
  assert.is(eu.code, 0, eu.err);
  assert.is(us.code, 0, us.err);
  assert.is(treeHash(dir, otherThanEuUs), before.rest, "a region's renewal wrote outside its region");
  assert.is(journal(dir, "journal/pki.jsonl").length, before.pki, "a region's renewal journaled to the directory's journal");
  for (const scope of ["eu", "us"]) {
    const e = journal(dir, `journal/scopes/${scope}.jsonl`);
    assert.is(e.length, 1);
    assert.ok(e[0]!.files.every((f) => scopeOfPath(f.path) === scope), `${scope}'s entry lists another scope's file`);
    assert.is(e[0]!.base, before.pki, "a scope entry names where the directory's journal stood");
  }
  assert.not.ok(readdirSync(dir).some((n) => n.startsWith(".lock")), "a run left its lock behind");
  const v = await verify(dir, both, at);
  assert.equal(errorCodes(v.report), [], findingsOf(v.report));
  // The next fleet-wide run reads every journal in order: nothing looks changed behind its back.
  await ok(cli(["pki", "renew", "--dir", dir, "--at", iso(T0 + 10 * D)], ciEnv(sb)));
});

test("while one region's lock is held, another region renews, and that region and fleet-wide runs refuse naming the holder", async () => {
  const dir = clone(sb);
  const at = iso(T0 + 5 * D);
  writeFileSync(join(dir, ".lock-eu"), holder());
  const euBefore = treeHash(dir, scopeFiles("eu"));
  await ok(cli(["pki", "renew", "--region", "us", "--dir", dir, "--at", at], ciEnv(sb)));
  for (const argv of [["pki", "renew", "--region", "eu"], ["pki", "renew"], ["pki", "rotate", "--intermediate", "us"]]) {
    const r = await cli([...argv, "--dir", dir, "--at", at], both);
    assert.is(r.code, 1, `${argv.join(" ")}: ${r.err}`);
    assert.match(r.err, new RegExp(`is locked by pid ${process.pid} on ${hostname()} \\(held by the test`));
  }
  assert.is(treeHash(dir, scopeFiles("eu")), euBefore);
  unlinkSync(join(dir, ".lock-eu"));
  await ok(cli(["pki", "renew", "--region", "eu", "--dir", dir, "--at", at], ciEnv(sb)));
});

test("a region renewal whose plan changes a shared bundle runs under the whole directory's lock", async () => {
  const dir = clone(sb);
  // A planned rotation of eu: G2 prepared now, promoted after the propagation delay; once G1's
  // last leaf has expired, the renewal that retires it rewrites bundles/global.pem too.
  await ok(cli(["pki", "rotate", "--intermediate", "eu", "--dir", dir, "--at", iso(T0 + H)], rootEnv(sb)));
  await ok(cli(["pki", "renew", "--region", "eu", "--dir", dir, "--at", iso(T0 + 26 * H)], ciEnv(sb)));
  const retireAt = iso(T0 + 26 * H + 9 * D);
  const plan = await ok(cli(["pki", "renew", "--region", "eu", "--dir", dir, "--at", retireAt, "--plan"], ciEnv(sb)));
  assert.match(plan.out, /retiring → retired/);
  assert.match(plan.out, /global\.pem/);
  // Whole-directory work waits for every scope lock: with us's held, the eu run cannot start.
  writeFileSync(join(dir, ".lock-us"), holder());
  const before = treeHash(dir);
  const blocked = await cli(["pki", "renew", "--region", "eu", "--dir", dir, "--at", retireAt], ciEnv(sb));
  assert.is(blocked.code, 1, blocked.err);
  assert.match(blocked.err, /is locked by pid \d+ .*held by the test/);
  assert.is(treeHash(dir), before);
  unlinkSync(join(dir, ".lock-us"));
  await ok(cli(["pki", "renew", "--region", "eu", "--dir", dir, "--at", retireAt], ciEnv(sb)));
  const last = journal(dir, "journal/pki.jsonl").at(-1)!;
  assert.match(last.command, /renew --region eu/);
  assert.ok(last.files.some((f) => f.path === "bundles/global.pem"));
  const v = await verify(dir, both, retireAt);
  // Only eu was renewed over those nine days: the other scopes' leaves have expired (cert.expired).
  assert.equal(errorCodesButExpiredLeaves(v.report), [], findingsOf(v.report));
});

test("a region run discards only its own scope's leftovers of an interrupted run; a fleet-wide run discards all", async () => {
  const dir = clone(sb);
  const eu = join(dir, "leaves/eu/payments.crt.pem.inforge-new");
  const us = join(dir, "leaves/us/payments.crt.pem.inforge-new");
  const usBundle = join(dir, "bundles/us.pem.inforge-new");
  for (const f of [eu, us, usBundle]) writeFileSync(f, "half a file");
  await ok(cli(["pki", "renew", "--region", "eu", "--dir", dir], ciEnv(sb)));
  assert.not.ok(existsSync(eu));
  assert.ok(existsSync(us) && existsSync(usBundle), "a region's run removed another region's staged files");
  await ok(cli(["pki", "renew", "--dir", dir], ciEnv(sb)));
  assert.not.ok(existsSync(us) || existsSync(usBundle));
});

test("scope journal entries merge after the directory entry they name as their base", () => {
  const e = (seq: number, command: string, base?: number) => ({ seq, command, base } as unknown as JournalEntry);
  const whole = [e(1, "init"), e(2, "intermediate eu"), e(3, "renew")];
  const eu = [e(1, "eu a", 2), e(2, "eu b", 3)];
  const us = [e(1, "us a", 0), e(2, "us b", 3), e(3, "us c", 3)];
  const order = mergeJournals(whole, [eu, us]).map((x) => x.command);
  assert.equal(order, ["us a", "init", "intermediate eu", "eu a", "renew", "eu b", "us b", "us c"]);
});

test.run();
