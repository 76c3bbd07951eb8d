// Every shipped task under Deno 2 (the binary from the `deno` npm package), with the least
// permission flags README "Runtimes" documents: a whole lifecycle on one sandbox, half of it
// through the task files run directly and half through the CLI entry, then the tree is
// verified with `inforge pki verify` (under both runtimes) and openssl.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, sandbox, treeHash } from "./helpers.ts";
import { assertDenoInstalled, denoRun, leastFlags, mustRun, DENO, DENO_ENV } from "./deno.ts";
import { iso, treeProblems } from "./tree-checks.ts";

assertDenoInstalled();
const sb = sandbox();
// The root identity goes to its own directory, as to removable media: init needs to read and
// write that directory (it writes the identity under a temporary name, links it into place and
// syncs the directory), and nothing else outside the pki directory.
const offline = join(sb.base, "offline");
mkdirSync(offline);
sb.rootKey = join(offline, "root.key");
const H = 3_600_000;
const T0 = Date.now();
const MAIN = join(ROOT, "lib/cli/main.ts");
const task = (name: string) => join(ROOT, "tasks", `${name}.ts`);
const covered = new Set<string>();

const ci = sb.env({ INFORGE_SECRETS_KEY: sb.ciKey });
const root = sb.env({ INFORGE_PKI_ROOT_KEY: sb.rootKey });
const flags = () => leastFlags(sb, { read: [sb.ciKey, sb.rootKey] });

/** A shipped task run directly (`deno run … tasks/<name>.ts`), at a simulated hour. */
function direct(name: string, args: string[], env: Record<string, string | undefined>, hour: number, grant = flags()) {
  covered.add(name);
  return mustRun(denoRun(grant, task(name), [...args, "--at", iso(T0 + hour * H)], env, sb.base), `tasks/${name}.ts ${args.join(" ")}`);
}
/** The CLI entry (`deno run … lib/cli/main.ts pki …`), recording the shipped task it runs. */
function inforge(taskName: string, args: string[], env: Record<string, string | undefined>, hour: number) {
  covered.add(taskName);
  return mustRun(denoRun(flags(), MAIN, [...args, "--at", iso(T0 + hour * H)], env, sb.base), `inforge ${args.join(" ")}`);
}

test("init runs under deno with write access to the pki directory and the identity's directory only", () => {
  const r = direct("init", ["--domain", "mesh.test", "--identity-out", sb.rootKey], ci, 0, leastFlags(sb, { read: [sb.ciKey, offline], write: [offline] }));
  assert.match(r.out, /create root\s+root G1/);
  assert.match(readFileSync(sb.rootKey, "utf8"), /^AGE-SECRET-KEY-1/m);
});

test("add-region runs directly and through `pki intermediate`; renew mints every declared leaf", () => {
  direct("add-region", ["--scope", "global"], root, 0);
  for (const s of ["eu", "us"]) assert.match(inforge("add-region", ["pki", "intermediate", s], root, 0).out, new RegExp(`issue intermediate\\s+${s} G1 \\(active\\)`));
  const r = inforge("renew", ["pki", "renew"], ci, 0);
  assert.is((r.out.match(/\(missing\)/g) ?? []).length, 7, r.out);
});

test("rotate-leaf, revoke-leaf, rotate-intermediate (then the promoting renew) and recover-intermediate run under deno", () => {
  assert.match(direct("rotate-leaf", ["--region", "eu", "--service", "payments"], ci, 1).out, /issue leaf\s+eu\/payments \(forced\)/);
  assert.match(direct("revoke-leaf", ["--region", "eu", "--service", "checkout", "--reason", "key-compromise"], ci, 1).out, /issue leaf\s+eu\/checkout \(replaces revoked\)/);
  assert.match(direct("rotate-intermediate", ["--scope", "eu"], root, 2).out, /eu G2 \(prepared\)/);
  assert.match(direct("renew", ["--region", "eu"], ci, 27).out, /eu G2/);
  assert.match(inforge("recover-intermediate", ["pki", "recover-intermediate", "us"], root, 28).out, /revoke/i);
  inforge("renew", ["pki", "renew", "--region", "us"], ci, 28);
});

test("issuer runs under deno, directly and through `pki issuer` (the root rotation below then moves both issuers)", () => {
  assert.match(direct("issuer", ["--scope", "eu", "--mesh", "istio"], root, 28).out, /issue istio issuer\s+eu istio G1 \(active\)/);
  assert.match(inforge("issuer", ["pki", "issuer", "us", "--mesh", "linkerd"], root, 28).out, /issue linkerd issuer\s+us linkerd G1 \(active\)/);
});

test("sign-crl and rotate-root run under deno, and the tree then passes pki verify under both runtimes and openssl", async () => {
  direct("sign-crl", [], root, 29);
  assert.match(direct("rotate-root", [], root, 30).out, /root G2/);
  const verified = mustRun(denoRun(flags(), MAIN, ["pki", "verify", "--at", iso(T0 + 30 * H)], ci, sb.base), "inforge pki verify");
  assert.is(verified.code, 0);
  assert.equal(await treeProblems(sb, T0 + 30 * H), []);
});

test("config signs an edited pki.json under deno, directly and through `pki config` (which first shows the diff)", () => {
  const path = join(sb.dir, "pki.json");
  const edit = (leaf: string) => writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, "utf8")), lifetimes: { ...JSON.parse(readFileSync(path, "utf8")).lifetimes, leaf } }, null, 2) + "\n");
  edit("6d");
  assert.match(inforge("config", ["pki", "config"], root, 31).out, /lifetimes\.leaf\s+"7d"\s+"6d"/);
  edit("7d");
  assert.match(direct("config", [], root, 31).out, /sign custody record/);
  assert.is(JSON.parse(readFileSync(join(sb.dir, "custody.json"), "utf8")).config.lifetimes.leaf, "7d");
});

test("every shipped task has been run under deno above", () => {
  const shipped = readdirSync(join(ROOT, "tasks")).filter((f) => f.endsWith(".ts") && !f.startsWith("_")).map((f) => f.slice(0, -3));
  assert.equal(shipped.filter((t) => !covered.has(t)), [], "add a deno scenario to test/deno-tasks.test.ts for each new shipped task");
});

test("an identity file outside --allow-read is refused in one sentence that names the variable, and nothing changes", () => {
  const before = treeHash(sb.dir);
  const r = denoRun(leastFlags(sb), MAIN, ["pki", "renew"], ci, sb.base);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /^inforge: INFORGE_SECRETS_KEY names the identity file ".*ci\.key" but deno may not read it; add the file to --allow-read\n$/);
  assert.is(treeHash(sb.dir), before);
});

test("without --allow-write a run stops before touching anything and names the flag", () => {
  const before = treeHash(sb.dir);
  const noWrite = flags().filter((f) => !f.startsWith("--allow-write"));
  const r = denoRun(noWrite, MAIN, ["pki", "rotate", "--leaf", "ledger", "--region", "eu"], ci, sb.base);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /^inforge: deno refused an operation: requires write access to ".*pki" — run again with the --allow-write flag/);
  assert.is(treeHash(sb.dir), before);
});

test("the documented flags are the ones tested: README lists the same variables and permissions", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  assert.ok(readme.includes(`--allow-env=${DENO_ENV.join(",")}`), "README must list exactly the variables test/deno.ts grants");
  assert.ok(readme.includes("--allow-sys=hostname"));
  const denoJson = readFileSync(join(ROOT, "deno.json"), "utf8");
  assert.ok(denoJson.includes(`--allow-env=${DENO_ENV.join(",")}`), "deno.json's inforge task must grant the same variables");
});

test("the library's unit suites (age, x509, dsl, plan, check) also pass under Deno's runtime, as deno task test runs them", () => {
  const r = spawnSync(DENO, ["run", "--allow-all", join(ROOT, "node_modules/uvu/bin.js"), "test", "^(age|x509|dsl|plan|check)\\.test\\.ts$", "-c", "false"], {
    cwd: ROOT, encoding: "utf8", timeout: 300_000, env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  });
  const total = Number(/Total:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(r.stdout)?.[1] ?? -1);
  // Only the failing tests' names: the child's own "Total:" lines would confuse test/run.ts's count.
  const failed = r.stdout.split("\n").filter((l) => /^\s*FAIL\s/.test(l)).join("\n");
  assert.is(r.status, 0, `under deno:\n${failed}\n${r.stderr.slice(-2000)}`);
  assert.ok(total > 100, `only ${total} tests ran under deno`);
  assert.is(passed, total);
});

test.run();
