// Anti-rollback: `inforge pki verify` compares the tree with git history (TUF's rollback rule
// applied to a repo). A whole-directory rollback — copy the tree, recover-intermediate + renew,
// put the copy back — passes every check of the tree on its own; against history it fails,
// committed or not, by the journals, the root CRL number and spiffe_sequence. A forward change passes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, rootEnv, run, sandbox, tempDir, treeHash } from "./helpers.ts";
import { rechain } from "./safety-helpers.ts";

const sb = sandbox();
// The pki directory is a subdirectory of the work tree, as in an infra repo.
const git = (...args: string[]) => {
  const r = run("git", ["-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false", "-C", sb.base, ...args]);
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
};
const keep = tempDir("inforge-rollback-copy-");
git("init", "-q", "-b", "main");
writeFileSync(join(sb.base, ".gitignore"), "*.key\n");
await buildTree(sb, ["global", "eu"]);
git("add", "-A");
git("commit", "-q", "-m", "tree");
const revA = git("rev-parse", "HEAD");
cpSync(sb.dir, join(keep, "pki"), { recursive: true });

const spiffe = () => JSON.parse(readFileSync(join(sb.dir, "bundles/eu.spiffe.json"), "utf8")).spiffe_sequence as number;
const restoreCopy = () => {
  rmSync(sb.dir, { recursive: true, force: true });
  cpSync(join(keep, "pki"), sb.dir, { recursive: true });
};
const codes = (out: string) => [...out.matchAll(/^error\s+(\S+)/gm)].map((m) => m[1]).sort();

test("a forward change (recover-intermediate + renew, committed) passes the automatic history check", async () => {
  const seq = spiffe();
  await ok(cli(["pki", "recover-intermediate", "eu"], rootEnv(sb)));
  await ok(cli(["pki", "renew"], ciEnv(sb)));
  assert.ok(spiffe() > seq);
  // Uncommitted: compared with HEAD.
  const pending = await cli(["pki", "verify"], ciEnv(sb));
  assert.is(pending.code, 0, pending.out);
  git("add", "-A");
  git("commit", "-q", "-m", "recover eu");
  // Committed: compared with the parent of the last commit that touched the pki directory.
  const r = await cli(["pki", "verify"], ciEnv(sb));
  assert.is(r.code, 0, r.out);
  assert.not.match(r.out, /rollback\./);
  assert.is((await cli(["pki", "verify", "--since", revA], ciEnv(sb))).code, 0);
});

test("the old copy put back is caught: uncommitted against HEAD, committed against the commit before, and with --since", async () => {
  const revB = git("rev-parse", "HEAD");
  restoreCopy();
  const want = ["rollback.crl-number", "rollback.journal", "rollback.spiffe-sequence"];
  const before = treeHash(sb.dir);
  const uncommitted = await cli(["pki", "verify"], ciEnv(sb));
  assert.is(uncommitted.code, 1, uncommitted.out);
  assert.equal([...new Set(codes(uncommitted.out))], want, uncommitted.out);
  assert.match(uncommitted.out, /journal\/pki\.jsonl is not a strict extension of the journal at HEAD \(the pki directory has uncommitted changes\)/);
  assert.match(uncommitted.out, /the root CRL number went down from \d+ at HEAD/);
  assert.match(uncommitted.out, /bundles\/eu\.spiffe\.json spiffe_sequence went down from \d+ at HEAD .* to \d+/);
  git("add", "-A");
  git("commit", "-q", "-m", "innocent-looking restore");
  const committed = await cli(["pki", "verify"], ciEnv(sb));
  assert.is(committed.code, 1, committed.out);
  assert.equal([...new Set(codes(committed.out))], want, committed.out);
  assert.match(committed.out, /the last commit that changed the pki directory/);
  const since = await cli(["pki", "verify", "--since", revB, "--json"], ciEnv(sb));
  assert.is(since.code, 1);
  const report = JSON.parse(since.out) as { ok: boolean; findings: { code: string; file?: string }[] };
  assert.is(report.ok, false);
  assert.ok(report.findings.some((f) => f.code === "rollback.journal" && f.file === "journal/pki.jsonl"), since.out);
  assert.ok(report.findings.some((f) => f.code === "rollback.spiffe-sequence" && f.file === "bundles/eu.spiffe.json"), since.out);
  assert.ok(report.findings.some((f) => f.code === "rollback.crl-number" && f.file === "root/root.json"), since.out);
  // Against the revision the copy came from, the restored tree is no rollback.
  assert.is((await cli(["pki", "verify", "--since", revA], ciEnv(sb))).code, 0);
  assert.is(treeHash(sb.dir), before, "verify changed the tree");
});

test("a genuine but older custody record put back, with the journal extended to match, is caught against history", async () => {
  const old = readFileSync(join(sb.dir, "custody.json"), "utf8");
  const cfg = JSON.parse(readFileSync(join(sb.dir, "pki.json"), "utf8"));
  writeFileSync(join(sb.dir, "pki.json"), JSON.stringify({ ...cfg, lifetimes: { ...cfg.lifetimes, leaf: "6d" } }, null, 2) + "\n");
  await ok(cli(["pki", "config", "--at", new Date(Date.now() + 60_000).toISOString()], rootEnv(sb)));
  git("add", "-A");
  git("commit", "-q", "-m", "shorter leaves");
  // The attacker restores the old pki.json and record and appends a journal entry recording them.
  writeFileSync(join(sb.dir, "pki.json"), JSON.stringify(cfg, null, 2) + "\n");
  writeFileSync(join(sb.dir, "custody.json"), old);
  rechain(sb.dir, ["custody.json"]);
  assert.is((await cli(["pki", "status"], ciEnv(sb))).code, 0, "the replayed record is genuine on its own");
  const r = await cli(["pki", "verify"], ciEnv(sb));
  assert.is(r.code, 1, r.out);
  assert.equal(codes(r.out), ["rollback.custody"], r.out);
  assert.match(r.out, /custody\.json was signed at .*, before the record at HEAD/);
  git("checkout", "-q", "--", "pki");
});

test("--since with a revision git does not know, or outside a git work tree, is one clear sentence", async () => {
  const bad = await cli(["pki", "verify", "--since", "no-such-branch"], ciEnv(sb));
  assert.is(bad.code, 1);
  assert.match(bad.err.trim(), /^inforge: --since "no-such-branch" is not a revision git knows here; give a commit, branch or tag such as origin\/main/);
  const outside = sandbox();
  await buildTree(outside, ["global"]);
  const r = await cli(["pki", "verify"], ciEnv(outside));
  assert.is(r.code, 0, r.out);
  assert.not.match(r.out, /rollback/);
  const s = await cli(["pki", "verify", "--since", "HEAD"], ciEnv(outside));
  assert.is(s.code, 1);
  assert.match(s.err, /is not inside a git work tree/);
  rmSync(outside.base, { recursive: true, force: true });
});

test.after(() => {
  rmSync(sb.base, { recursive: true, force: true });
  rmSync(keep, { recursive: true, force: true });
});

test.run();
