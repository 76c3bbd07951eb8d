// Review, then apply exactly that (issue 13): `--plan --out plan.json` binds the plan to the
// state it was made on; `inforge apply plan.json` applies it or refuses naming what changed;
// root ceremonies without a plan file ask on a terminal (driven here through a pty by
// util-linux `script`) and need --yes without one.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, opensslVerify, rootEnv, ROOT, run, sandbox, treeHash, type Sandbox } from "./helpers.ts";
import { iso } from "./tree-checks.ts";

const H = 3_600_000;
const T0 = Date.now();
const BIN = join(ROOT, "bin/inforge.js");

async function treeWithPlan(): Promise<{ sb: Sandbox; plan: string }> {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu"], iso(T0));
  const plan = join(sb.base, "plan.json");
  const r = await ok(cli(["pki", "rotate", "--intermediate", "eu", "--plan", "--out", plan, "--at", iso(T0 + H)], rootEnv(sb)));
  assert.match(r.out, /plan saved to .*plan\.json; review it, then apply exactly this plan with: inforge apply/);
  return { sb, plan };
}

test("a saved plan applies on the unchanged tree, exactly as reviewed, and the new intermediate verifies", async () => {
  const { sb, plan } = await treeWithPlan();
  const saved = JSON.parse(readFileSync(plan, "utf8"));
  assert.is(saved.schema, "inforge.plan/v1");
  assert.equal(saved.needs, ["root"]);
  assert.ok(Object.keys(saved.state).includes("scopes/eu/scope.json"));
  const r = await cli(["apply", plan, "--json"], rootEnv(sb));
  assert.is(r.code, 0, r.err);
  const report = JSON.parse(r.out);
  assert.is(report.applied, true);
  assert.equal(report.steps, saved.steps, "the applied steps are the saved ones");
  const scope = JSON.parse(readFileSync(join(sb.dir, "scopes/eu/scope.json"), "utf8"));
  const g2 = scope.generations.find((g: { gen: number }) => g.gen === 2);
  assert.is(g2.state, "prepared");
  // The clock the plan was made at (less the clock-skew backdating), not the clock of the apply.
  const lag = Date.parse(saved.now) - Date.parse(g2.notBefore);
  assert.ok(lag >= 0 && lag <= 10 * 60_000, `notBefore ${g2.notBefore} follows the plan's clock ${saved.now}`);
  const v = opensslVerify(["-attime", String(Math.floor((T0 + 2 * H) / 1000)), "-CAfile", join(sb.dir, "root/G1.crt.pem"), join(sb.dir, "scopes/eu/G2.crt.pem")]);
  assert.ok(v.ok, v.out);
  // Applied once: the state it was bound to is gone, so a second apply is refused.
  const again = await cli(["apply", plan], rootEnv(sb));
  assert.is(again.code, 1);
  assert.match(again.err, /the pki directory changed since the plan of rotate-intermediate was made .*: (scopes\/eu\/scope\.json|root\/root\.json|crl\/root\.crl\.pem|bundles\/\S+) (changed|was created)/);
  rmSync(sb.base, { recursive: true, force: true });
});

test("a saved plan is refused after another run changed the tree, naming the file, and nothing changes", async () => {
  const { sb, plan } = await treeWithPlan();
  await ok(cli(["pki", "crl", "--at", iso(T0 + 2 * H)], rootEnv(sb)));
  const before = treeHash(sb.dir);
  const r = await cli(["apply", plan], rootEnv(sb));
  assert.is(r.code, 1);
  assert.match(r.err, /^inforge: the pki directory changed since the plan of rotate-intermediate was made \(\S+\): crl\/root\.crl\.pem changed \(and \d+ other file\(s\)\); nothing was changed — make and review the plan again \(--plan --out\)\n$/);
  assert.is(treeHash(sb.dir), before);
  rmSync(sb.base, { recursive: true, force: true });
});

test("a saved plan edited by hand is refused in one sentence, and nothing changes", async () => {
  const { sb, plan } = await treeWithPlan();
  const before = treeHash(sb.dir);
  const saved = JSON.parse(readFileSync(plan, "utf8"));
  for (const edit of [
    (p: typeof saved) => (p.steps[0].notAfter = "2099-01-01T00:00:00Z"),
    (p: typeof saved) => (p.intents[0].scope = "global"),
    (p: typeof saved) => (p.state["scopes/eu/scope.json"] = "0".repeat(64)),
  ]) {
    const copy = JSON.parse(JSON.stringify(saved));
    edit(copy);
    writeFileSync(plan, JSON.stringify(copy));
    const r = await cli(["apply", plan], rootEnv(sb));
    assert.is(r.code, 1);
    assert.match(r.err, /^inforge: the plan file ".*plan\.json" was edited after inforge wrote it \(its digest does not match its content\); make the plan again with --plan --out instead of editing it\n$/);
  }
  writeFileSync(plan, "{ not json");
  const bad = await cli(["apply", plan], rootEnv(sb));
  assert.match(bad.err, /^inforge: the plan file ".*plan\.json" is not JSON; give the file that inforge wrote with --plan --out\n$/);
  assert.is(treeHash(sb.dir), before);
  rmSync(sb.base, { recursive: true, force: true });
});

test("--plan --out refuses a file inside the pki directory", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global"], iso(T0));
  const r = await cli(["pki", "rotate", "--intermediate", "global", "--plan", "--out", join(sb.dir, "plan.json")], rootEnv(sb));
  assert.is(r.code, 1);
  assert.match(r.err, /--out ".*plan\.json" is inside the pki directory/);
  rmSync(sb.base, { recursive: true, force: true });
});

test("a root ceremony without a terminal and without --yes is refused; CI-posture runs are not asked", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu"], iso(T0));
  const before = treeHash(sb.dir);
  const r = run("node", [BIN, "pki", "rotate", "--intermediate", "eu", "--at", iso(T0 + H)], { env: rootEnv(sb) as NodeJS.ProcessEnv, cwd: sb.base, input: "y\n" });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /^inforge: this plan needs the offline root and there is no terminal to confirm it on; nothing was changed — review it and run again with --yes, or save it with --plan --out plan.json and apply that file with inforge apply plan.json/);
  assert.match(r.stdout, /issue intermediate\s+eu G2/, "the plan is printed first");
  assert.is(treeHash(sb.dir), before);
  const ci = run("node", [BIN, "pki", "renew", "--at", iso(T0 + H)], { env: { ...sb.env({ INFORGE_SECRETS_KEY: sb.ciKey }) } as NodeJS.ProcessEnv, cwd: sb.base });
  assert.is(ci.status, 0, ci.stderr);
  rmSync(sb.base, { recursive: true, force: true });
});

test("inforge apply runs the task's after() from the reviewed task file, and refuses one edited since", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu"], iso(T0));
  const tasks = join(sb.base, "tasks");
  mkdirSync(tasks);
  const file = join(tasks, "renew-and-mark.ts");
  const source = (mark: string) => [
    `import { scope, task, v } from ${JSON.stringify(join(ROOT, "lib/mod.ts"))};`,
    `export default task({`,
    `  summary: "rotate the eu payments leaf, then leave a mark",`,
    `  args: v.strictObject({}),`,
    `  run: () => scope("eu").service("payments").leaf().rotate(),`,
    `  after: async ({ $, entry }) => { await $\`echo ${mark} \${entry} > ${join(sb.base, "after-ran")}\`; },`,
    `});`,
  ].join("\n") + "\n";
  writeFileSync(file, source("reviewed"));
  const env = ciEnv(sb, { INFORGE_TASKS_DIR: tasks });
  const plan = join(sb.base, "plan.json");
  await ok(cli(["run", "renew-and-mark", "--plan", "--out", plan, "--at", iso(T0 + H)], env));
  const saved = JSON.parse(readFileSync(plan, "utf8"));
  assert.is(saved.after.file, file, "the task file lies outside the working directory: recorded by its absolute path");
  assert.ok(!existsSync(join(sb.base, "after-ran")), "--plan runs no after()");

  // Edited since the review: refused before anything is applied.
  writeFileSync(file, source("edited"));
  const before = treeHash(sb.dir);
  const edited = await cli(["apply", plan], env);
  assert.is(edited.code, 1);
  assert.match(edited.err, /^inforge: the task file .*renew-and-mark\.ts changed since the plan file ".*plan\.json" was made, and its after\(\) step is part of what was reviewed; nothing was changed — make and review the plan again \(--plan --out\)\n$/);
  assert.is(treeHash(sb.dir), before);
  assert.ok(!existsSync(join(sb.base, "after-ran")));

  // The reviewed bytes again: applied, then after() runs with the journal entry of the apply.
  writeFileSync(file, source("reviewed"));
  const r = await cli(["apply", plan, "--json"], env);
  assert.is(r.code, 0, r.err);
  const report = JSON.parse(r.out.trim().split("\n").pop()!);
  assert.is(report.applied, true);
  assert.is(readFileSync(join(sb.base, "after-ran"), "utf8"), `reviewed ${report.journal}\n`);
  rmSync(sb.base, { recursive: true, force: true });
});

/** The command under a pseudo-terminal (util-linux script), answering `answer` to the question. */
function onTerminal(sb: Sandbox, argv: string[], answer: string) {
  const cmd = ["node", BIN, ...argv].map((a) => `'${a}'`).join(" ");
  return run("script", ["-qfec", cmd, "/dev/null"], { env: rootEnv(sb) as NodeJS.ProcessEnv, cwd: sb.base, input: answer });
}

test("on a terminal a root ceremony asks; no leaves the tree byte-identical, yes applies", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu"], iso(T0));
  const before = treeHash(sb.dir);
  const no = onTerminal(sb, ["pki", "rotate", "--intermediate", "eu", "--at", iso(T0 + H)], "n\n");
  assert.is(no.status, 0, no.stdout);
  assert.match(no.stdout, /issue intermediate\s+eu G2[\s\S]*apply this plan\? \[y\/N\] /);
  assert.match(no.stdout, /not applied: nothing was changed/);
  assert.is(treeHash(sb.dir), before);
  const yes = onTerminal(sb, ["pki", "rotate", "--intermediate", "eu", "--at", iso(T0 + H)], "y\n");
  assert.is(yes.status, 0, yes.stdout);
  assert.match(yes.stdout, /applied: \d+ step\(s\)/);
  assert.is.not(treeHash(sb.dir), before);
  rmSync(sb.base, { recursive: true, force: true });
});

test.run();
