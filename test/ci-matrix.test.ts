// What examples/ci/github-actions-matrix.yml does, on real git: one job per region, each in a
// clone of its own, renews its region and commits; the three commits merge with no conflict and
// no manual step, and `pki verify` (which also compares the tree with git history for a
// rollback) passes on the merged tree. Region runs write only their scope's files and journal
// (lib/store/domains.ts), so the three commits touch disjoint paths.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, run, sandbox, type Sandbox } from "./helpers.ts";
import { errorCodes, findingsOf, verify } from "./safety-helpers.ts";

const D = 86_400_000;
const T0 = Date.now();
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
const REGIONS = ["eu", "us", "ap"];
const sb: Sandbox = sandbox({ global: ["auth"], eu: ["payments", "checkout"], us: ["payments", "search"], ap: ["payments"] });
await buildTree(sb, ["global", ...REGIONS], iso(T0));

function git(cwd: string, args: string[]): string {
  const r = run("git", args, { cwd, env: { ...process.env, GIT_AUTHOR_NAME: "ci", GIT_AUTHOR_EMAIL: "ci@example.test", GIT_COMMITTER_NAME: "ci", GIT_COMMITTER_EMAIL: "ci@example.test" } });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")} failed in ${cwd}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

test("three regions renewed in three clones (one CI job each) merge with no conflict, and verify passes on the merged tree", async () => {
  // The infra repo: the pki directory as the tree was built, committed on main.
  const origin = join(sb.base, "origin.git");
  const seed = join(sb.base, "seed");
  git(sb.base, ["init", "--quiet", "--bare", "--initial-branch=main", origin]);
  git(sb.base, ["clone", "--quiet", origin, seed]);
  run("cp", ["-a", sb.dir, join(seed, "pki")]);
  git(seed, ["add", "--all"]);
  git(seed, ["commit", "--quiet", "-m", "pki"]);
  git(seed, ["push", "--quiet", "origin", "main"]);

  // One job per region: a fresh checkout, `pki renew --region R` (every leaf due two thirds into
  // its life), a commit on a branch of its own, pushed.
  const at = iso(T0 + 5 * D);
  for (const region of REGIONS) {
    const work = join(sb.base, `job-${region}`);
    git(sb.base, ["clone", "--quiet", origin, work]);
    const r = await ok(cli(["pki", "renew", "--region", region, "--at", at, "--dir", join(work, "pki")], ciEnv(sb)));
    assert.match(r.out, new RegExp(`journal entry ${region}#\\d+|${region}#\\d+`), r.out);
    git(work, ["checkout", "--quiet", "-b", `renew-${region}`]);
    git(work, ["add", "--all", "--", "pki"]);
    git(work, ["commit", "--quiet", "-m", `pki: renew ${region}`]);
    const changed = git(work, ["show", "--name-only", "--format=", "HEAD"]).trim().split("\n");
    assert.ok(changed.every((p) => p.includes(`/${region}/`) || p.includes(`/${region}.`) || p === `pki/journal/scopes/${region}.jsonl`), `${region}'s commit touches another scope's file: ${changed.join(", ")}`);
    git(work, ["push", "--quiet", "origin", `renew-${region}`]);
  }

  // The fan-in job: merge the three branches, with no conflict and no manual step.
  const merge = join(sb.base, "merge");
  git(sb.base, ["clone", "--quiet", origin, merge]);
  git(merge, ["fetch", "--quiet", "origin", ...REGIONS.map((r) => `renew-${r}`)]);
  git(merge, ["merge", "--quiet", "--no-edit", ...REGIONS.map((r) => `origin/renew-${r}`)]);
  assert.is(git(merge, ["status", "--porcelain"]).trim(), "", "the merge left changes behind");
  for (const region of REGIONS) assert.ok(existsSync(join(merge, `pki/journal/scopes/${region}.jsonl`)), `${region}'s journal is not in the merged tree`);

  // verify, git history included: each scope journal extends the one before the merge.
  const dir = join(merge, "pki");
  const v = await verify(dir, ciEnv(sb, { INFORGE_PKI_ROOT_KEY: sb.rootKey }), at);
  assert.is(v.code, 0, findingsOf(v.report));
  assert.equal(errorCodes(v.report), []);
  // Every region's leaves are the renewed ones: notBefore is the renewal's instant.
  for (const region of REGIONS) {
    const idx = JSON.parse(readFileSync(join(dir, `leaves/${region}/index.json`), "utf8")) as { leaves: Record<string, { notBefore: string }> };
    for (const [svc, l] of Object.entries(idx.leaves)) assert.ok(l.notBefore >= iso(T0 + 5 * D - 10 * 60_000), `${region}/${svc} was not renewed (${l.notBefore})`);
  }
  // And the merged tree keeps working: the next run (fleet-wide) on it applies and verifies.
  await ok(cli(["pki", "renew", "--at", iso(T0 + 10 * D), "--dir", dir], ciEnv(sb)));
  const again = await verify(dir, ciEnv(sb, { INFORGE_PKI_ROOT_KEY: sb.rootKey }), iso(T0 + 10 * D));
  assert.is(again.code, 0, findingsOf(again.report));
});

test.run();
