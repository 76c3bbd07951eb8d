// The library API (issue 13): openPki plans, saves, applies and reads status and state like the
// CLI; runbooks see the same state; nothing under lib/ except lib/cli imports lib/cli.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative, dirname, resolve } from "node:path";
import { openPki, region, scope, StateError } from "../lib/mod.ts";
import { buildTree, ciEnv, cli, ok, rootEnv, ROOT, sandbox, treeHash } from "./helpers.ts";
import { iso } from "./tree-checks.ts";

const H = 3_600_000;
const D = 24 * H;
const T0 = Date.now();
const EXAMPLES = join(ROOT, "examples/tasks");

test("openPki: state, plan (serializable), apply, status — and a stale plan is refused", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu", "us"], iso(T0));
  const pki = await openPki({ dir: sb.dir, regions: sb.regions, at: new Date(T0 + H), env: rootEnv(sb) });
  assert.is(pki.state.initialized, true);
  assert.is(pki.state.domain, "mesh.test");
  assert.is(pki.state.scopes.eu!.active!.gen, 1);
  assert.is(pki.state.scopes.eu!.active!.ageDays, 0);
  assert.equal(pki.state.unprovisioned, []);
  assert.ok(Object.isFrozen(pki.state.scopes.eu));
  const plan = await pki.plan(scope("eu").intermediate().rotate());
  assert.is(plan.plan.steps[0]!.kind, "issue-intermediate");
  const text = JSON.stringify(plan);
  const before = treeHash(sb.dir);
  // Another run lands first: the plan is refused, naming the file, and the tree is untouched by it.
  const other = await openPki({ dir: sb.dir, regions: sb.regions, at: new Date(T0 + H), env: rootEnv(sb) });
  await other.apply(await other.plan(scope("us").intermediate().rotate()));
  const moved = treeHash(sb.dir);
  assert.is.not(moved, before);
  try {
    await pki.apply(text);
    assert.unreachable("a stale plan applied");
  } catch (e) {
    assert.instance(e, StateError);
    assert.match((e as Error).message, /the pki directory changed since the plan of script was made .*: \S+ (changed|was created)/);
  }
  assert.is(treeHash(sb.dir), moved);
  const fresh = await pki.plan([scope("eu").intermediate().rotate()]);
  const result = await pki.apply(JSON.parse(JSON.stringify(fresh)));
  assert.ok(result.written.includes("scopes/eu/G2.crt.pem"));
  assert.is(pki.state.scopes.eu!.generations.length, 2);
  const status = await pki.status();
  assert.is(status.health, "ok");
  assert.equal(status.problems, []);
  const verify = await pki.verify();
  assert.ok(verify.ok, JSON.stringify(verify.findings));
  rmSync(sb.base, { recursive: true, force: true });
});

test("runbooks see state: an async task on ctx.state, nothing to do when it returns nothing, --help lists its arguments", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu"], iso(T0));
  const env = (e: Record<string, string | undefined>) => ({ ...e, INFORGE_TASKS_DIR: EXAMPLES });
  const help = await ok(cli(["run", "rotate-old-intermediates", "--help"], env(rootEnv(sb))));
  assert.match(help.out, /^rotate-old-intermediates: Rotate every intermediate older than/);
  assert.match(help.out, /--older-than <string> \(required\)/);
  const none = await ok(cli(["run", "rotate-old-intermediates", "--older-than", "300d", "--at", iso(T0 + 10 * D)], env(rootEnv(sb))));
  assert.match(none.out, /^nothing to do: task rotate-old-intermediates asked for nothing on this state\n$/);
  const bad = await cli(["run", "rotate-old-intermediates", "--older-than", "300 days"], env(rootEnv(sb)));
  assert.is(bad.code, 1);
  assert.match(bad.err, /--older-than: a duration is a positive number and a unit/);
  // 301 days on: both intermediates are old enough; one plan, one rotation each, --dir followed.
  const old = await ok(cli(["run", "rotate-old-intermediates", "--older-than", "300d", "--at", iso(T0 + 301 * D), "--json"], env(rootEnv(sb))));
  const report = JSON.parse(old.out);
  assert.is(report.applied, true);
  assert.equal(report.steps.filter((s: { kind: string }) => s.kind === "issue-intermediate").map((s: { scope: string }) => s.scope).sort(), ["eu", "global"]);
  assert.is(report.next.filter((n: string) => /promotes/.test(n)).length, 2, report.next.join("\n"));
  rmSync(sb.base, { recursive: true, force: true });
});

test("the guide shows examples/tasks/rotate-old-intermediates.ts exactly as it is", () => {
  const doc = readFileSync(join(ROOT, "docs/custom-runbooks.md"), "utf8");
  const blocks = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.includes(readFileSync(join(EXAMPLES, "rotate-old-intermediates.ts"), "utf8")), "copy the example into docs/custom-runbooks.md again");
});

test("ctx.state lists regions declared but not provisioned, and leaves due", async () => {
  const sb = sandbox({ global: ["mesh-gw"], eu: ["api"], ap: ["api"] });
  await buildTree(sb, ["global", "eu"], iso(T0));
  const pki = await openPki({ dir: sb.dir, regions: sb.regions, at: new Date(T0 + 60 * D), env: ciEnv(sb) });
  assert.equal(pki.state.unprovisioned, ["ap"]);
  assert.ok(pki.state.leavesDue.some((l) => l.scope === "eu" && l.service === "api"), JSON.stringify(pki.state.leavesDue));
  await pki.apply(await pki.plan(region("eu").leaves().renew()));
  assert.not.ok(pki.state.leavesDue.some((l) => l.scope === "eu"));
  rmSync(sb.base, { recursive: true, force: true });
});

test("several intents in one plan: one correct next line (add then renew; one rotation per scope)", async () => {
  const sb = sandbox({ global: ["mesh-gw"], eu: ["api"], ap: ["api"] });
  await buildTree(sb, ["global", "eu"], iso(T0));
  const pki = await openPki({ dir: sb.dir, regions: sb.regions, at: new Date(T0 + H), env: { ...rootEnv(sb), INFORGE_SECRETS_KEY: sb.ciKey } });
  const both = await pki.plan([region("ap").add(), region("ap").leaves().renew()]);
  assert.ok(both.steps.some((s) => s.kind === "issue-leaf"));
  assert.not.ok(both.next.some((n) => /renew --region ap/.test(n)), both.next.join("\n"));
  const alone = await pki.plan(region("ap").add());
  assert.ok(alone.next.some((n) => /in CI: inforge pki renew --region ap \(mints the scope's leaves\)/.test(n)));
  try {
    await pki.plan([scope("eu").intermediate().rotate(), scope("eu").intermediate().rotate()]);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /^this plan already rotates "eu" \(G2 is prepared by an earlier intent; .*open-pki\.test\.ts:\d+\); a scope's intermediate rotates once per plan — ask for it once$/);
  }
  rmSync(sb.base, { recursive: true, force: true });
});

test("openPki keeps the custody check: a pki.json the root did not sign is refused, the tree untouched", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global"], iso(T0));
  const cfg = JSON.parse(readFileSync(join(sb.dir, "pki.json"), "utf8"));
  cfg.domain = "evil.test";
  writeFileSync(join(sb.dir, "pki.json"), JSON.stringify(cfg, null, 2) + "\n");
  const before = treeHash(sb.dir);
  try {
    await openPki({ dir: sb.dir, regions: sb.regions, at: new Date(T0 + H), env: rootEnv(sb) });
    assert.unreachable("opened a tree whose pki.json the root did not sign");
  } catch (e) {
    assert.match((e as Error).message, /pki\.json domain differs from the custody record the root signed/);
  }
  assert.is(treeHash(sb.dir), before);
  rmSync(sb.base, { recursive: true, force: true });
});

test("import graph: no module under lib/ outside lib/cli imports lib/cli; task() hands over to lib/runbook", () => {
  const lib = join(ROOT, "lib");
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|js)$/.test(n)) files.push(p);
    }
  };
  walk(lib);
  const offenders: string[] = [];
  for (const f of files) {
    if (relative(lib, f).startsWith("cli/")) continue;
    const src = readFileSync(f, "utf8");
    for (const m of src.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)["']([^"']+)["']/g)) {
      const spec = m[1]!;
      if (!spec.startsWith(".")) continue;
      const target = relative(lib, resolve(dirname(f), spec));
      if (target.startsWith("cli/") || target === "cli") offenders.push(`${relative(ROOT, f)} imports ${spec}`);
    }
  }
  assert.equal(offenders, []);
  // A task file run as a program (`tsx tasks/x.ts`, Deno) hands itself to the task runner
  // (lib/runbook), a caller of the library like the CLI; the hand-over stays dynamic, so
  // importing inforge never loads the runner, its terminal output or zx.
  assert.match(readFileSync(join(lib, "task.ts"), "utf8"), /void import\("\.\/runbook\/direct\.ts"\)/);
});

test.run();
