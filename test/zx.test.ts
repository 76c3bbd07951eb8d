// inforge in zx automation: the library imported from a plain zx script in another project
// (node_modules/inforge linked to this checkout), the --json reports such a script parses, a
// task's after() hook with zx's `$` committing the pki directory, and the operator example
// examples/nightly-renew.mjs run for real against a git repo.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, ROOT, run, sandbox, treeHash } from "./helpers.ts";
import { assertDenoInstalled, DENO, denoRun, leastFlags } from "./deno.ts";
import { iso, treeProblems } from "./tree-checks.ts";

assertDenoInstalled();
const D = 86_400_000;
const T0 = Date.now();
const sb = sandbox();
await buildTree(sb, ["global", "eu", "us"], iso(T0));

// The sandbox is the operator's infra repo: inforge and zx "installed" (linked), pki/ in git.
const proj = sb.base;
mkdirSync(join(proj, "node_modules/.bin"), { recursive: true });
symlinkSync(ROOT, join(proj, "node_modules/inforge"));
symlinkSync(join(ROOT, "node_modules/zx"), join(proj, "node_modules/zx"));
symlinkSync("../inforge/bin/inforge.js", join(proj, "node_modules/.bin/inforge"));
symlinkSync("../zx/build/cli.js", join(proj, "node_modules/.bin/zx"));
writeFileSync(join(proj, "package.json"), JSON.stringify({ name: "infra", private: true, type: "module" }));
const GIT = { GIT_AUTHOR_NAME: "ci", GIT_AUTHOR_EMAIL: "ci@example.test", GIT_COMMITTER_NAME: "ci", GIT_COMMITTER_EMAIL: "ci@example.test", GIT_CONFIG_NOSYSTEM: "1", HOME: proj };
const git = (...args: string[]) => {
  const r = run("git", args, { cwd: proj, env: { ...process.env, ...GIT } });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
};
git("init", "--quiet", "--initial-branch=main");
git("add", "pki");
git("commit", "--quiet", "-m", "pki: initial tree");

/** A command in the project, as its CI would run it: CI identity, PATH, git identity, a clock. */
function inProject(cmd: string, args: string[], extra: Record<string, string | undefined> = {}) {
  const env = Object.fromEntries(Object.entries({ ...ciEnv(sb), ...GIT, ...extra }).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
  const r = spawnSync(cmd, args, { cwd: proj, env, encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
const lastJson = (out: string) => JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, unknown>;

test("a plain zx script in another project imports region, task and v from 'inforge' through the package exports, under Node and Deno", () => {
  writeFileSync(join(proj, "lib-use.mjs"), [
    // (No task() here: a task defined in the program being run runs itself, by design.)
    `import { region, scope, task, v, InputError } from "inforge";`,
    `const args = v.parse(v.strictObject({ region: v.string() }), { region: "eu" });`,
    `let refused = "";`,
    `try { scope("Not A Scope"); } catch (e) { refused = e instanceof InputError ? "InputError" : String(e); }`,
    `console.log(JSON.stringify({ intent: region(args.region).leaves().renew(), task: typeof task, refused }));`,
  ].join("\n"));
  for (const [what, cmd, args] of [
    ["zx", join(proj, "node_modules/.bin/zx"), ["lib-use.mjs"]],
    ["deno", DENO, ["run", "--no-prompt", `--allow-read=${proj},${ROOT}`, "lib-use.mjs"]],
  ] as const) {
    const r = inProject(cmd, [...args]);
    assert.is(r.code, 0, `${what}: ${r.err}`);
    const out = lastJson(r.out) as { intent: { kind: string; scope: string }; refused: string };
    assert.is(out.intent.kind, "leaves.renew", what);
    assert.is(out.intent.scope, "eu", what);
    assert.is((out as unknown as { task: string }).task, "function", what);
    assert.is(out.refused, "InputError", `${what}: a bad scope name must throw inforge's own InputError`);
  }
});

test("lib/mod.node.js (the plain-Node entry) exports exactly the names lib/mod.ts exports", async () => {
  const ts = Object.keys(await import("../lib/mod.ts")).sort();
  const entry = join(ROOT, "lib/mod.node.js"); // a plain JS file: imported by path, untyped
  const node = Object.keys((await import(entry)) as object).sort();
  assert.equal(node, ts, "keep the list in lib/mod.node.js in step with lib/mod.ts");
});

test("every --json output is one JSON document with a schema: run, direct task run, status, verify, and errors", () => {
  const bin = join(proj, "node_modules/.bin/inforge");
  const at = iso(T0 + D);
  const outputs = {
    run: inProject(bin, ["pki", "renew", "--plan", "--json", "--at", at]),
    direct: inProject(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "tasks/renew.ts"), "--plan", "--json", "--at", at]),
    status: inProject(bin, ["pki", "status", "--json", "--at", at]),
    verify: inProject(bin, ["pki", "verify", "--json", "--at", at]),
    tasks: inProject(bin, ["tasks", "--json"], { INFORGE_TASKS_DIR: join(ROOT, "examples/tasks") }),
    error: inProject(bin, ["pki", "renew", "--region", "nowhere", "--json", "--at", at]),
  };
  const schemas: Record<string, string> = {};
  for (const [name, r] of Object.entries(outputs)) {
    let doc: { schema?: string };
    try {
      doc = JSON.parse(r.out);
    } catch {
      throw new Error(`${name}: stdout is not one JSON document:\n${r.out}\n${r.err}`);
    }
    schemas[name] = doc.schema ?? "(none)";
  }
  assert.equal(schemas, { run: "inforge.run/v1", direct: "inforge.run/v1", status: "inforge.status/v1", verify: "inforge.verify/v1", tasks: "inforge.tasks/v1", error: "inforge.error/v1" });
  const listed = JSON.parse(outputs.tasks.out) as { tasks: { name: string; shipped: boolean }[] };
  assert.ok(listed.tasks.some((t) => t.name === "rotate-intermediates" && !t.shipped));
  assert.ok(listed.tasks.some((t) => t.name === "renew" && t.shipped));
  assert.is.not(outputs.error.code, 0);
});

test("the nightly zx example renews every scope in parallel processes, summarises, verifies and commits the pki directory", async () => {
  copyFileSync(join(ROOT, "examples/nightly-renew.mjs"), join(proj, "nightly-renew.mjs"));
  const now = T0 + 5.5 * D; // past 2/3 of the 7-day leaves' life: every leaf is due
  const head = git("rev-parse", "HEAD");
  const r = inProject(join(proj, "node_modules/.bin/zx"), ["nightly-renew.mjs"], { INFORGE_NOW: iso(now) });
  assert.is(r.code, 0, r.err + r.out);
  const summary = lastJson(r.out) as { ok: boolean; verified: boolean; commit: string; scopes: { scope: string; applied: boolean; leaves: number }[] };
  assert.ok(summary.ok);
  assert.ok(summary.verified);
  assert.equal(summary.scopes.map((s) => `${s.scope}:${s.applied}:${s.leaves}`).sort(), ["eu:true:3", "global:true:2", "us:true:2"]);
  assert.match(r.out, /^eu: 3 leaf\(s\) issued/m);
  assert.is(git("rev-parse", "HEAD"), summary.commit);
  assert.is.not(summary.commit, head);
  assert.match(git("log", "-1", "--format=%s"), /^pki: nightly renew, 7 leaf\(s\) in /);
  assert.is(git("status", "--porcelain", "--", "pki"), "", "everything under pki/ is committed");
  assert.equal(await treeProblems(sb, now), []);
  // Run again at the same instant: nothing is due, nothing is committed.
  const again = inProject(join(proj, "node_modules/.bin/zx"), ["nightly-renew.mjs"], { INFORGE_NOW: iso(now) });
  assert.is(again.code, 0, again.err);
  assert.is((lastJson(again.out) as { commit: string | null }).commit, null);
  assert.is(git("rev-parse", "HEAD"), summary.commit);
});

test("the nightly zx example exits 1 and commits nothing when the scopes' renewals fail", () => {
  const head = git("rev-parse", "HEAD");
  const before = treeHash(sb.dir);
  const r = inProject(join(proj, "node_modules/.bin/zx"), ["nightly-renew.mjs"], { INFORGE_NOW: iso(T0 + 5.6 * D), INFORGE_SECRETS_KEY: sb.rootKey });
  assert.is(r.code, 1, r.out);
  const summary = lastJson(r.out) as { ok: boolean; commit: null; scopes: { ok: boolean; error: string }[] };
  assert.not.ok(summary.ok);
  assert.ok(summary.scopes.every((s) => !s.ok && /INFORGE_SECRETS_KEY/.test(s.error)), JSON.stringify(summary.scopes));
  assert.is(git("rev-parse", "HEAD"), head);
  assert.is(treeHash(sb.dir), before);
});

test("a task's after() hook gets zx's $ and commits the pki directory after an apply, and is skipped for --plan", () => {
  const tasks = { INFORGE_TASKS_DIR: join(ROOT, "examples/tasks") };
  const bin = join(proj, "node_modules/.bin/inforge");
  const head = git("rev-parse", "HEAD");
  // The nightly run above renewed every leaf at 5.5 days; eu's are due again past 10.2 days.
  const planned = inProject(bin, ["run", "renew-and-commit", "--region", "eu", "--plan", "--at", iso(T0 + 10.5 * D)], tasks);
  assert.is(planned.code, 0, planned.err);
  assert.is(git("rev-parse", "HEAD"), head, "--plan must not commit");
  const r = inProject(bin, ["run", "renew-and-commit", "--region", "eu", "--at", iso(T0 + 10.5 * D)], tasks);
  assert.is(r.code, 0, r.err);
  assert.match(r.err, /\$ git commit/, "zx echoes the shell steps on stderr: " + r.err + r.out);
  // Three leaves, the scope's key file and index, and its CRL (re-signed past 2/3 of its life).
  assert.match(git("log", "-1", "--format=%s"), /^pki: renew \(journal entry \d+, 6 files\)$/);
  assert.is(git("status", "--porcelain", "--", "pki"), "");
});

test("under Deno a task's after() hook needs only --allow-env, --allow-sys=hostname,cpus and --allow-run=bash beyond the CLI's flags", () => {
  const flags = leastFlags(sb, { read: [sb.ciKey, join(ROOT, "examples")] }).filter((f) => !f.startsWith("--allow-env") && !f.startsWith("--allow-sys"));
  const r = denoRun([...flags, "--allow-env", "--allow-sys=hostname,cpus", "--allow-run=bash"], join(ROOT, "examples/tasks/renew-and-commit.ts"), ["--region", "us", "--at", iso(T0 + 11 * D)], { ...ciEnv(sb), ...GIT }, proj);
  assert.is(r.code, 0, r.err);
  assert.match(git("log", "-1", "--format=%s"), /^pki: renew \(journal entry \d+, 5 files\)$/, r.err + r.out);
  assert.is(git("status", "--porcelain", "--", "pki"), "");
});

test("when the after() step fails the run exits non-zero, says the apply stands, and the tree still verifies", async () => {
  const r = inProject(join(proj, "node_modules/.bin/inforge"), ["run", "renew-and-commit", "--at", iso(T0 + 11.5 * D), "--json"], { INFORGE_TASKS_DIR: join(ROOT, "examples/tasks"), GIT_DIR: join(proj, "no-such-git-dir") });
  assert.is(r.code, 1, r.out);
  assert.match(r.err, /^inforge: task renew-and-commit applied its plan \(journal entry \d+\), but its after\(\) step failed: .*; the pki directory is complete — finish that step by hand\n$/m);
  assert.equal(await treeProblems(sb, T0 + 11.5 * D), []);
  assert.match(git("status", "--porcelain", "--", "pki"), /leaves\//, "the applied files are there, uncommitted");
});

test.run();
