// inforge installed into an infra repo from its `npm pack` tarball (issue 13): after one
// `npm i -D`, `npx inforge`, `npx tsx tasks/<mine>.ts`, Deno (README "Use it in your infra repo")
// and a zx script importing "inforge" all work there — a custom async task on ctx.state through
// each, and a zx script that plans, applies and reads status with openPki.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ROOT, sandbox } from "./helpers.ts";
import { iso, treeProblems } from "./tree-checks.ts";
import * as mod from "../lib/mod.ts";

const D = 86_400_000;
const T0 = Date.now();
const sb = sandbox({ global: ["mesh-gw"], eu: ["api", "web"] });
await buildTree(sb, ["global", "eu"], iso(T0));
const repo = sb.base;

function sh(cmd: string, args: string[], env: Record<string, string | undefined> = {}) {
  const all = Object.fromEntries(Object.entries({ ...sb.env(), NO_COLOR: "1", ...env }).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
  const r = spawnSync(cmd, args, { cwd: repo, env: all, encoding: "utf8", timeout: 300_000 });
  return { code: r.status ?? -1, out: r.stdout ?? "", err: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
}
function must(r: ReturnType<typeof sh>, what: string) {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}):\n${r.err}\n${r.out}`);
  return r;
}

// The operator's repo: package.json, the tarball installed with one command.
writeFileSync(join(repo, "package.json"), JSON.stringify({ name: "infra", private: true, type: "module" }));
must(sh("npm", ["pack", ROOT, "--pack-destination", repo, "--silent"]), "npm pack");
const tgz = readdirSync(repo).find((f) => /^inforge-.*\.tgz$/.test(f))!;
must(sh("npm", ["install", "--save-dev", `./${tgz}`, "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"]), "npm install");
mkdirSync(join(repo, "tasks"));
// A custom async runbook on ctx.state: rotate intermediates at least --days old (0: all of them).
writeFileSync(join(repo, "tasks/rotate-aged.ts"), [
  `import { scope, task, v } from "inforge";`,
  `export default task({`,
  `  summary: "rotate every intermediate at least --days old",`,
  `  args: v.strictObject({ days: v.pipe(v.string(), v.transform(Number), v.integer()) }),`,
  `  run: async ({ days }, { state, dir }) => {`,
  `    await Promise.resolve(dir);`,
  `    return Object.entries(state.scopes).filter(([, s]) => s.active && s.active.ageDays >= days).map(([name]) => scope(name).intermediate().rotate());`,
  `  },`,
  `});`,
].join("\n"));
const rootEnv = { INFORGE_PKI_ROOT_KEY: sb.rootKey, INFORGE_PKI_DIR: "pki", INFORGE_REGIONS_DIR: "regions" };
const DENO_FLAGS = ["--no-prompt", `--allow-read=.,${sb.rootKey}`, "--allow-write=pki", "--allow-env", "--allow-sys=hostname"];
const at = (d: number) => ["--at", iso(T0 + d * D)];

test("npx inforge --version and the infra repo's own async task under inforge run, tsx and Deno", () => {
  const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
  assert.is(must(sh("npx", ["--no-install", "inforge", "--version"]), "version").out, `inforge ${version}\n`);
  const help = must(sh("npx", ["--no-install", "inforge", "run", "rotate-aged", "--help"]), "help").out;
  assert.match(help, /--days <\S+> \(required\)/);
  for (const [what, cmd, args] of [
    ["inforge run", "npx", ["--no-install", "inforge", "run", "rotate-aged"]],
    ["tsx", "npx", ["--no-install", "tsx", "tasks/rotate-aged.ts"]],
    ["deno", "npx", ["--no-install", "deno", "run", ...DENO_FLAGS, "tasks/rotate-aged.ts"]],
  ] as const) {
    const none = must(sh(cmd, [...args, "--days", "30", ...at(1), "--yes"], rootEnv), `${what} (nothing due)`);
    assert.match(none.out, /nothing to do: task rotate-aged asked for nothing on this state/, `${what}: ${none.out} ${none.err}`);
    const plan = must(sh(cmd, [...args, "--days", "0", ...at(1), "--plan", "--json"], rootEnv), `${what} (plan)`);
    const report = JSON.parse(plan.out.trim().split("\n").at(-1)!);
    assert.equal(report.steps.filter((s: { kind: string }) => s.kind === "issue-intermediate").map((s: { scope: string }) => s.scope).sort(), ["eu", "global"], what);
  }
  // Deno runs the installed CLI too, from its JavaScript build (README "Use it in your infra repo").
  const status = must(sh("npx", ["--no-install", "deno", "run", ...DENO_FLAGS, "node_modules/inforge/dist/deno/inforge.js", "pki", "status", ...at(1)], rootEnv), "deno cli");
  assert.match(status.out, /global G1/);
});

test("a zx script in the infra repo plans a rotation with openPki, applies it and reads status", async () => {
  writeFileSync(join(repo, "rotate.mjs"), [
    `import { openPki, scope } from "inforge";`,
    `const at = new Date(process.argv.at(-1));`,
    `const pki = await openPki({ dir: "pki", regions: "regions", at });`,
    `const plan = await pki.plan(scope("eu").intermediate().rotate(), { task: "zx-rotate" });`,
    `const result = await pki.apply(plan);`,
    `const status = await pki.status();`,
    `console.log(JSON.stringify({ needs: plan.needs, written: result.written.length, eu: pki.state.scopes.eu.generations.map((g) => g.state), health: status.health }));`,
  ].join("\n"));
  const r = must(sh("npx", ["--no-install", "zx", "rotate.mjs", iso(T0 + 2 * D)], rootEnv), "zx");
  const out = JSON.parse(r.out.trim().split("\n").at(-1)!);
  assert.equal(out.needs, ["root"]);
  assert.equal(out.eu, ["active", "prepared"]);
  assert.is(out.health, "ok");
  assert.ok(out.written > 0);
  assert.equal(await treeProblems(sb, T0 + 2 * D), []);
});

test("lib/mod.deno.js and lib/mod.node.js export exactly lib/mod.ts's names", () => {
  const names = Object.keys(mod).sort();
  for (const f of ["lib/mod.deno.js", "lib/mod.node.js"]) {
    const src = readFileSync(join(ROOT, f), "utf8");
    const list = /export const \{([\s\S]*?)\} = mod;/.exec(src)![1]!.split(",").map((s) => s.trim()).filter(Boolean).sort();
    assert.equal(list, names, f);
  }
});

test.after(() => rmSync(repo, { recursive: true, force: true }));
// Last: it moves the tree's clock past the other tests'.
test("the installed CLI mints leaves on worker threads under Node (sources through tsx) and under Deno (dist/deno)", async () => {
  const ci = { INFORGE_SECRETS_KEY: sb.ciKey, INFORGE_PKI_DIR: "pki", INFORGE_REGIONS_DIR: "regions", INFORGE_MINT_WORKERS: "2", INFORGE_TIMINGS: "1" };
  const node = must(sh("npx", ["--no-install", "inforge", "pki", "renew", ...at(5)], ci), "renew under node");
  assert.match(node.err, /2 mint workers/);
  const deno = must(sh("npx", ["--no-install", "deno", "run", ...DENO_FLAGS, "node_modules/inforge/dist/deno/inforge.js", "pki", "renew", ...at(10)], ci), "renew under deno");
  assert.match(deno.err, /2 mint workers/);
  assert.equal(await treeProblems(sb, T0 + 10 * D), []);
});

test.run();
