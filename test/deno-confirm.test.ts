// The root-ceremony question under Deno (issue 13): a task file run directly by `deno run` on a
// terminal (a pty from util-linux `script`) prints the plan and asks; "no" leaves the tree
// byte-identical, "yes" applies — the same as under Node (test/saved-plan.test.ts).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ROOT, run, sandbox, treeHash } from "./helpers.ts";
import { assertDenoInstalled, DENO, leastFlags } from "./deno.ts";
import { iso } from "./tree-checks.ts";

assertDenoInstalled();
const H = 3_600_000;
const T0 = Date.now();

/** `deno run … tasks/rotate-intermediate.ts --scope eu` under a pseudo-terminal, answering `answer`. */
function onTerminal(sb: ReturnType<typeof sandbox>, answer: string) {
  const argv = [DENO, "run", ...leastFlags(sb, { read: [sb.rootKey] }), join(ROOT, "tasks/rotate-intermediate.ts"), "--scope", "eu", "--at", iso(T0 + H)];
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", TERM: "dumb", INFORGE_PKI_DIR: sb.dir, INFORGE_REGIONS_DIR: sb.regions, INFORGE_PKI_ROOT_KEY: sb.rootKey };
  return run("script", ["-qfec", argv.map((a) => `'${a}'`).join(" "), "/dev/null"], { env: env as NodeJS.ProcessEnv, cwd: sb.base, input: answer });
}

test("under deno a root ceremony run on a terminal asks; no changes nothing, yes applies", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu"], iso(T0));
  const before = treeHash(sb.dir);
  const no = onTerminal(sb, "n\n");
  assert.is(no.status, 0, no.stdout);
  assert.match(no.stdout, /issue intermediate\s+eu G2[\s\S]*apply this plan\? \[y\/N\] /);
  assert.match(no.stdout, /not applied: nothing was changed/);
  assert.is(treeHash(sb.dir), before);
  const yes = onTerminal(sb, "y\n");
  assert.is(yes.status, 0, yes.stdout);
  assert.match(yes.stdout, /applied: \d+ step\(s\)/);
  const scope = JSON.parse(readFileSync(join(sb.dir, "scopes/eu/scope.json"), "utf8"));
  assert.ok(scope.generations.some((g: { gen: number; state: string }) => g.gen === 2 && g.state === "prepared"), "eu G2 is prepared");
  rmSync(sb.base, { recursive: true, force: true });
});

test.run();
