// The prebuilt CLI (`npm run build` → dist/cli/inforge.mjs): bin/inforge.js runs it only while
// every input is unchanged, it behaves as the sources do, and it carries the shipped tasks.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Metafile } from "esbuild";
import { buildCli } from "../scripts/build.ts";
import { ROOT, buildTree, ciEnv, run, sandbox } from "./helpers.ts";

const sb = sandbox({ global: ["auth"], eu: ["payments"] });
await buildTree(sb, ["global", "eu"]);
const BIN = join(ROOT, "bin/inforge.js");
/** Every leaf is due by then: the plan has steps, each with its runbook origin. */
const SOON = new Date(Math.floor(Date.now() / 1000) * 1000 + 5 * 86_400_000).toISOString();
const cliRun = (argv: string[], extra: Record<string, string> = {}) =>
  run(process.execPath, [BIN, ...argv], { env: { ...ciEnv(sb), PATH: process.env.PATH, INFORGE_TRACE_ENTRY: "1", ...extra } as NodeJS.ProcessEnv });

/**
 * Run with the bundle current. Others may edit the sources while this runs (which rightly sends
 * bin back to them), so build right before, and once more if an edit slipped in between.
 */
async function viaBundle(argv: string[]) {
  for (let attempt = 0; ; attempt++) {
    await buildCli();
    const r = cliRun(argv);
    if (/running dist\/cli\/inforge\.mjs/.test(r.stderr) || attempt === 2) return r;
  }
}

test("bin runs the prebuilt CLI when it is current, and it prints what the sources print", async () => {
  for (const argv of [["--help"], ["pki", "status", "--at", "2030-01-01T00:00:00Z"], ["pki", "renew", "--plan", "--at", SOON]]) {
    const built = await viaBundle(argv);
    const src = cliRun(argv, { INFORGE_NO_BUNDLE: "1" });
    assert.match(built.stderr, /running dist\/cli\/inforge\.mjs/, argv.join(" "));
    assert.match(src.stderr, /running the sources/);
    assert.is(built.status, src.status, argv.join(" "));
    assert.is(built.stdout, src.stdout, argv.join(" "));
  }
});

test("the prebuilt CLI applies a shipped task (rotate a leaf) without a TypeScript loader", async () => {
  const r = await viaBundle(["pki", "rotate", "--leaf", "payments", "--region", "eu"]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /running dist\/cli\/inforge\.mjs/);
  assert.match(r.stdout, /issue leaf\s+eu\/payments \(forced\)/);
});

test("leaves are minted on worker threads from the bundle (its own worker entry) and from the sources (tsx registered in the worker)", async () => {
  const workers = { INFORGE_MINT_WORKERS: "2", INFORGE_TIMINGS: "1" };
  for (const [how, at] of [["bundle", SOON], ["sources", new Date(Date.parse(SOON) + 5 * 86_400_000).toISOString()]] as const) {
    if (how === "bundle") await buildCli();
    const r = cliRun(["pki", "renew", "--at", at], how === "bundle" ? workers : { ...workers, INFORGE_NO_BUNDLE: "1" });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, how === "bundle" ? /running dist\/cli\/inforge\.mjs/ : /running the sources/);
    assert.match(r.stderr, /2 mint workers/, how);
    const v = cliRun(["pki", "verify", "--at", at]);
    assert.is(v.status, 0, v.stdout + v.stderr);
  }
});

/** Every input file a bundle output loads before it runs: the output and its static imports, transitively. */
function loadedBy(meta: Metafile, start: string): Set<string> {
  const outs = meta.outputs;
  const inputs = new Set<string>();
  const seen = new Set<string>();
  const todo = [start];
  while (todo.length) {
    const o = todo.pop()!;
    if (seen.has(o)) continue;
    seen.add(o);
    for (const i of Object.keys(outs[o]!.inputs)) inputs.add(i);
    for (const i of outs[o]!.imports) if (i.kind === "import-statement" && !i.external) todo.push(i.path);
  }
  return inputs;
}

test("the entry chunk holds the help text, not the libraries; pki status loads neither @peculiar/x509 nor age", async () => {
  const { metafile } = await buildCli();
  const outputOf = (pred: (o: string) => boolean) => {
    const o = Object.keys(metafile.outputs).find(pred);
    assert.ok(o, "no such output in the bundle");
    return o!;
  };
  const entry = loadedBy(metafile, outputOf((o) => o.endsWith("/inforge.mjs")));
  assert.ok(entry.has("lib/cli/help.ts"), "the entry has the help text");
  const pkg = (re: RegExp, set: Set<string>) => [...set].filter((p) => re.test(p));
  // Each of these costs tens of milliseconds to compile and evaluate (README, Performance).
  for (const lib of [/node_modules\/@peculiar\//, /node_modules\/reflect-metadata\//, /node_modules\/age-encryption\//, /node_modules\/@noble\//, /node_modules\/valibot\//, /node_modules\/zx\//, /^tasks\//]) {
    assert.equal(pkg(lib, entry), [], `the entry chunk statically loads ${lib}`);
  }
  // pki status: the dynamic import main.ts makes for it, with everything that one loads statically.
  const status = loadedBy(metafile, outputOf((o) => metafile.outputs[o]!.entryPoint === "lib/cli/report-commands.ts"));
  assert.ok(status.has("lib/store/custody.ts"), "status checks custody");
  for (const lib of [/node_modules\/@peculiar\//, /node_modules\/reflect-metadata\//, /node_modules\/age-encryption\//, /^lib\/x509\/vendor\.ts$/]) {
    assert.equal(pkg(lib, status), [], `pki status statically loads ${lib}`);
  }
  // Only the valibot it uses (scripts/build.ts, valibotDirect), not all 190 kB of it.
  const valibot = Object.values(metafile.outputs).reduce((n, o) => n + (o.inputs["node_modules/valibot/dist/index.mjs"]?.bytesInOutput ?? 0), 0);
  assert.ok(valibot < 60_000, `the bundle keeps ${valibot} bytes of valibot`);
});

test("a renewal (the task, the runner, the mint worker) loads neither @peculiar/x509 nor age's library: leaves and CRLs are encoded, keys sealed, without them", async () => {
  const { metafile } = await buildCli();
  const byEntry = (entry: string) => {
    const o = Object.keys(metafile.outputs).find((k) => metafile.outputs[k]!.entryPoint === entry);
    assert.ok(o, `no output for ${entry}`);
    return loadedBy(metafile, o!);
  };
  const renew = new Set([...byEntry("lib/runbook/run-task.ts"), ...byEntry("tasks/renew.ts"), ...byEntry("lib/apply/mint-worker.ts")]);
  assert.ok(renew.has("lib/apply/apply.ts") && renew.has("lib/x509/crl-sign.ts") && renew.has("lib/age/seal.ts"), "the runner applies plans, signs CRLs, seals keys");
  for (const lib of [/node_modules\/@peculiar\//, /node_modules\/reflect-metadata\//, /^lib\/x509\/vendor\.ts$/, /node_modules\/age-encryption\//, /node_modules\/@noble\/post-quantum\//]) {
    assert.equal([...renew].filter((p) => lib.test(p)), [], `a renewal statically loads ${lib}`);
  }
});

test("a changed input makes bin run the sources instead, and run/tasks always do", async () => {
  await buildCli();
  const path = join(ROOT, "dist/cli/manifest.json");
  const text = readFileSync(path, "utf8");
  try {
    // As if lib/ had been edited since the build: one recorded mtime no longer matches.
    const m = JSON.parse(text) as { inputs: [string, number, number][] };
    m.inputs[0]![2] -= 1000;
    writeFileSync(path, JSON.stringify(m));
    assert.match(cliRun(["--help"]).stderr, /running the sources/);
  } finally {
    writeFileSync(path, text);
  }
  assert.match(cliRun(["tasks"]).stderr, /running the sources/);
});

test.run();
