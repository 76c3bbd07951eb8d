// The custom-runbook guide (docs/custom-runbooks.md) and its worked example
// examples/tasks/rotate-intermediates.ts: the guide shows the file as it is, and the example
// composes its verbs into one plan that applies, promotes and verifies — under Node and Deno.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, rootEnv, ROOT, sandbox } from "./helpers.ts";
import { assertDenoInstalled, denoRun, leastFlags, mustRun } from "./deno.ts";
import { iso, treeProblems } from "./tree-checks.ts";

const EXAMPLES = join(ROOT, "examples/tasks");
const H = 3_600_000;
const T0 = Date.now();
const withTasks = (env: Record<string, string | undefined>) => ({ ...env, INFORGE_TASKS_DIR: EXAMPLES });

test("the guide shows examples/tasks/rotate-intermediates.ts exactly as it is", () => {
  const doc = readFileSync(join(ROOT, "docs/custom-runbooks.md"), "utf8");
  const file = readFileSync(join(EXAMPLES, "rotate-intermediates.ts"), "utf8");
  const blocks = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.includes(file), "copy examples/tasks/rotate-intermediates.ts into docs/custom-runbooks.md again");
  const after = /after: async[\s\S]*?\n {2}\},\n/.exec(readFileSync(join(EXAMPLES, "renew-and-commit.ts"), "utf8"))![0];
  assert.ok(doc.includes(after), "the guide's after() excerpt must match examples/tasks/renew-and-commit.ts");
});

test("rotate-intermediates plans a prepared generation for each scope and one root CRL, pointing at its own lines", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu", "us"], iso(T0));
  const r = await ok(cli(["run", "rotate-intermediates", "--scopes", "eu, us,eu", "--plan", "--at", iso(T0 + H)], withTasks(rootEnv(sb))));
  assert.match(r.out, /issue intermediate\s+eu G2 \(prepared\)/);
  assert.match(r.out, /issue intermediate\s+us G2 \(prepared\)/);
  assert.not.match(r.out, /global G2/);
  assert.is((r.out.match(/sign CRL/g) ?? []).length, 1, r.out);
  assert.match(r.out, /tasks\/rotate-intermediates\.ts:\d+/);
});

test("rotate-intermediates refuses a bad scope name, naming the flag, before planning anything", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu"], iso(T0));
  const r = await cli(["run", "rotate-intermediates", "--scopes", "eu,EU!", "--at", iso(T0 + H)], withTasks(rootEnv(sb)));
  assert.is(r.code, 1);
  assert.match(r.err, /^inforge: task rotate-intermediates: --scopes/);
  const none = await cli(["run", "rotate-intermediates", "--scopes", " , ", "--at", iso(T0 + H)], withTasks(rootEnv(sb)));
  assert.match(none.err, /give at least one scope/);
});

test("rotate-intermediates applied under Deno, promoted by CI's renew under Node, leaves a tree that verifies", async () => {
  assertDenoInstalled();
  const sb = sandbox();
  await buildTree(sb, ["global", "eu", "us"], iso(T0));
  const flags = leastFlags(sb, { read: [sb.rootKey, EXAMPLES] });
  const r = mustRun(denoRun(flags, join(EXAMPLES, "rotate-intermediates.ts"), ["--scopes", "eu,us", "--at", iso(T0 + H)], rootEnv(sb), sb.base), "rotate-intermediates");
  assert.match(r.out, /applied: /);
  const promoted = await ok(cli(["pki", "renew", "--at", iso(T0 + 26 * H)], ciEnv(sb)));
  assert.match(promoted.out, /eu G2/);
  assert.match(promoted.out, /us G2/);
  const status = JSON.parse((await ok(cli(["pki", "status", "--json", "--at", iso(T0 + 26 * H)], ciEnv(sb)))).out) as { scopes: { scope: string; generations: { gen: number; state: string }[] }[] };
  for (const s of ["eu", "us"]) assert.is(status.scopes.find((x) => x.scope === s)!.generations.find((g) => g.gen === 2)!.state, "active", s);
  assert.equal(await treeProblems(sb, T0 + 26 * H), []);
});

test.run();
