// `npx tsx scripts/cold-start.ts [--runs N] [--against DIR]…`: the cold start of `inforge --help`
// and `inforge pki status` on a small tree (global + eu + us, the example regions), prebuilt and
// from sources (INFORGE_NO_BUNDLE=1), beside `node -e 0`. Each `--against` is another checkout
// (its own `npm run build` done, node_modules present) measured in the same loop, interleaved run
// by run, so both sides see the same load: the A/B figures of README's Performance section.
// Wall time of each child process; median and minimum of N runs (default 21).
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildCli } from "./build.ts";
import { ROOT, buildTree, sandbox } from "../test/helpers.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "21" }, against: { type: "string", multiple: true, default: [] }, "no-build": { type: "boolean", default: false } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs "${values.runs}": give a whole number of runs, such as 21`);

if (!values["no-build"]) await buildCli();
const sb = sandbox();
await buildTree(sb);
const env = { ...sb.env(), PATH: process.env.PATH } as NodeJS.ProcessEnv;
const checkouts = [{ label: "this", dir: ROOT }, ...values.against.map((d, i) => ({ label: `against${values.against.length > 1 ? i + 1 : ""}`, dir: resolve(d) }))];
const commands: Record<string, string[]> = { "--help": ["--help"], "pki status": ["pki", "status"] };

const times = new Map<string, number[]>();
const time = (key: string, args: string[], extra: NodeJS.ProcessEnv = {}) => {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { env: { ...env, ...extra }, cwd: sb.base, encoding: "utf8" });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${key} failed (${r.status}): ${r.stderr}`);
  times.set(key, [...(times.get(key) ?? []), ms]);
};
for (let i = 0; i < runs; i++) {
  time("node -e 0", ["-e", "0"]);
  for (const c of checkouts) {
    for (const [name, argv] of Object.entries(commands)) {
      time(`${c.label}: ${name} (prebuilt)`, [join(c.dir, "bin/inforge.js"), ...argv]);
      time(`${c.label}: ${name} (sources)`, [join(c.dir, "bin/inforge.js"), ...argv], { INFORGE_NO_BUNDLE: "1" });
    }
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const w = Math.max(...[...times.keys()].map((k) => k.length));
console.log(`median / min of ${runs} runs, interleaved (ms)`);
for (const [k, a] of times) console.log(`${k.padEnd(w)}  ${median(a).toFixed(0).padStart(5)} / ${Math.min(...a).toFixed(0).padStart(5)}`);
