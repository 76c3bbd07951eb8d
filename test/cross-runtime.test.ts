// One state, two runtimes: a tree made under Node and continued under Deno, and one made under
// Deno and continued under Node, each passes `inforge pki verify` (under both runtimes), the
// state checker and openssl — and each runtime accepts the other's journal chain and sealed keys.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, rootEnv, ROOT, sandbox, type Sandbox } from "./helpers.ts";
import { assertDenoInstalled, denoRun, leastFlags, mustRun } from "./deno.ts";
import { iso, treeProblems } from "./tree-checks.ts";

assertDenoInstalled();
const H = 3_600_000;
const T0 = Date.now();
const at = (h: number) => ["--at", iso(T0 + h * H)];
const MAIN = join(ROOT, "lib/cli/main.ts");

function deno(sb: Sandbox, args: string[], posture: "root" | "ci", grant = leastFlags(sb, { read: [sb.ciKey, sb.rootKey] })) {
  const env = posture === "root" ? sb.env({ INFORGE_PKI_ROOT_KEY: sb.rootKey }) : sb.env({ INFORGE_SECRETS_KEY: sb.ciKey });
  return mustRun(denoRun(grant, MAIN, args, env, sb.base), `inforge ${args.join(" ")}`);
}
const journal = (sb: Sandbox) => readFileSync(join(sb.dir, "journal/pki.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { seq: number; command: string });

test("a tree created under Node, rotated and renewed under Deno, then renewed under Node again, verifies", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu", "us"], iso(T0));
  deno(sb, ["pki", "rotate", "--intermediate", "eu", ...at(1)], "root");
  const promoted = deno(sb, ["pki", "renew", "--region", "eu", ...at(26)], "ci");
  assert.match(promoted.out, /eu G2/);
  deno(sb, ["pki", "rotate", "--leaf", "checkout", "--region", "us", ...at(26)], "ci");
  assert.equal(await treeProblems(sb, T0 + 26 * H), [], "after the Deno runs");
  // Node picks up where Deno left off: the journal chain and the sealed keys are the same format.
  await ok(cli(["pki", "rotate", "--leaf", "ledger", "--region", "eu", ...at(27)], ciEnv(sb)));
  assert.equal(await treeProblems(sb, T0 + 27 * H), [], "after Node continued");
  const seqs = journal(sb).map((e) => e.seq);
  assert.equal(seqs, seqs.map((_, i) => i + 1), "one unbroken journal across both runtimes");
  assert.is(deno(sb, ["pki", "verify", ...at(27)], "ci").code, 0);
});

test("Deno mints leaves on worker threads from the sources, and Node continues the tree", async () => {
  const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout", "ledger"] });
  await buildTree(sb, ["global", "eu"], iso(T0));
  const grant = leastFlags(sb, { read: [sb.ciKey, sb.rootKey] }).map((f) => (f.startsWith("--allow-env=") ? `${f},INFORGE_MINT_WORKERS,INFORGE_TIMINGS` : f));
  const env = sb.env({ INFORGE_SECRETS_KEY: sb.ciKey, INFORGE_MINT_WORKERS: "2", INFORGE_TIMINGS: "1" });
  const r = mustRun(denoRun(grant, MAIN, ["pki", "renew", ...at(120)], env, sb.base), "renew on workers");
  assert.match(r.err, /2 mint workers/);
  await ok(cli(["pki", "rotate", "--leaf", "ledger", "--region", "eu", ...at(121)], ciEnv(sb)));
  assert.equal(await treeProblems(sb, T0 + 121 * H), []);
});

test("a tree created under Deno (init, scopes, leaves) and continued under Node (rotation, recovery) verifies", async () => {
  const sb = sandbox();
  const offline = join(sb.base, "offline");
  mkdirSync(offline);
  sb.rootKey = join(offline, "root.key");
  deno(sb, ["pki", "init", "--domain", "mesh.test", "--identity-out", sb.rootKey, ...at(0)], "ci", leastFlags(sb, { read: [sb.ciKey, offline], write: [offline] }));
  for (const s of ["global", "eu", "us"]) deno(sb, ["pki", "intermediate", s, ...at(0)], "root");
  deno(sb, ["pki", "renew", ...at(0)], "ci");
  assert.equal(await treeProblems(sb, T0), [], "after the Deno runs");
  await ok(cli(["pki", "rotate", "--intermediate", "us", ...at(1)], rootEnv(sb)));
  await ok(cli(["pki", "renew", ...at(26)], ciEnv(sb)));
  await ok(cli(["pki", "recover-intermediate", "eu", ...at(26)], rootEnv(sb)));
  await ok(cli(["pki", "renew", "--region", "eu", ...at(26)], ciEnv(sb)));
  assert.equal(await treeProblems(sb, T0 + 26 * H), [], "after Node continued");
  const status = JSON.parse(deno(sb, ["pki", "status", "--json", ...at(26)], "ci").out) as { scopes: { scope: string; generations: { gen: number; state: string }[] }[] };
  const gens = Object.fromEntries(status.scopes.map((s) => [s.scope, s.generations.map((g) => `G${g.gen}:${g.state}`).join(" ")]));
  assert.is(gens.eu, "G1:revoked G2:active");
  assert.match(gens.us!, /G1:retiring G2:active/);
  assert.is(journal(sb)[0]!.command.startsWith("inforge pki init"), true);
});

test.run();
