// `npm run build`: the prebuilt CLI, dist/cli/inforge.mjs — lib/ and the shipped tasks bundled
// by esbuild (which comes with tsx) into plain JavaScript, so `inforge` starts without compiling
// TypeScript on every run (about 450 ms under tsx). bin/inforge.js uses it when it is present
// and current: dist/cli/manifest.json lists every input file with its size and mtime, and any
// difference (an edited source, an updated package, a task added) sends bin/ back to the
// sources through tsx. Tests and Deno always run the sources.
//
// The bundle sits at dist/cli/, the same depth as lib/cli/, so paths that lib/cli derives from
// import.meta.url (the shipped tasks directory) resolve to the same place from either.
import { build, type Metafile } from "esbuild";
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "dist", "cli");

export interface Manifest {
  readonly format: "inforge.build/v1";
  /** Every input of the bundle, relative to the repository: [path, size, mtimeMs]. */
  readonly inputs: readonly (readonly [string, number, number])[];
  /** The shipped task files compiled in; a task added or removed makes the bundle stale. */
  readonly tasks: readonly string[];
}

export async function buildCli(): Promise<{ ms: number; bytes: number }> {
  const t = performance.now();
  const tasks = readdirSync(join(ROOT, "tasks")).filter((f) => f.endsWith(".ts") && !f.startsWith("_")).sort();
  // The entry: register each shipped task under its source path, then the CLI itself.
  const entry = [
    `import { join } from "node:path";`,
    `import { registerShippedTask } from "./lib/cli/shipped.ts";`,
    `import { SHIPPED } from "./lib/cli/tasks.ts";`,
    ...tasks.map((f, i) => `import t${i} from "./tasks/${f}";\nregisterShippedTask(join(SHIPPED, ${JSON.stringify(f)}), t${i});`),
    `export { main, explain } from "./lib/cli/main.ts";`,
  ].join("\n");
  const tmp = join(ROOT, "dist", `.cli-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const result = await build({
    stdin: { contents: entry, resolveDir: ROOT, loader: "ts", sourcefile: "inforge-entry.ts" },
    absWorkingDir: ROOT,
    bundle: true,
    splitting: true, // zx and the other dynamic imports stay out of the start-up path
    format: "esm",
    platform: "node",
    target: "node20",
    outdir: tmp,
    entryNames: "inforge",
    chunkNames: "[name]-[hash]", // beside the entry: the same depth as lib/cli/ (see above)
    outExtension: { ".js": ".mjs" },
    metafile: true,
    legalComments: "none",
    // Intents record the runbook line that made them (lib/dsl/origin.ts reads the stack): with the
    // source map, stack frames name tasks/renew.ts:10 and lib/dsl/, not the bundle. bin/ turns
    // source maps on before it loads the bundle.
    sourcemap: "linked",
    sourcesContent: false,
    logLevel: "warning",
    // CommonJS dependencies call require() for node built-ins; ESM output has no require.
    banner: { js: `import { createRequire as __inforgeRequire } from "node:module"; const require = __inforgeRequire(import.meta.url);` },
  });
  const manifest: Manifest = { format: "inforge.build/v1", inputs: inputsOf(result.metafile), tasks };
  writeFileSync(join(tmp, "manifest.json"), JSON.stringify(manifest) + "\n");
  // Swap the directory in whole: a CLI starting meanwhile sees the old bundle, none (and runs
  // the sources), or the new one — never half of one.
  const old = join(ROOT, "dist", `.cli-old-${process.pid}`);
  let had = true;
  try {
    renameSync(OUT, old);
  } catch {
    had = false;
  }
  renameSync(tmp, OUT);
  if (had) rmSync(old, { recursive: true, force: true });
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  return { ms: performance.now() - t, bytes };
}

function inputsOf(meta: Metafile): [string, number, number][] {
  const out: [string, number, number][] = [];
  for (const p of Object.keys(meta.inputs).sort()) {
    if (p.startsWith("<") || p === "inforge-entry.ts") continue; // the generated entry (stdin)
    // Dependencies are covered by the lockfiles below (npm rewrites node_modules/.package-lock.json
    // on every install), which keeps bin/'s check at a few dozen stat calls.
    if (p.startsWith("node_modules/")) continue;
    const abs = join(ROOT, p);
    const st = statSync(abs);
    out.push([relative(ROOT, abs), st.size, st.mtimeMs]);
  }
  // package.json decides which files a package resolves to, so it counts as an input too.
  for (const p of ["package.json", "package-lock.json", "node_modules/.package-lock.json"]) {
    const st = statSync(join(ROOT, p), { throwIfNoEntry: false });
    if (st) out.push([p, st.size, st.mtimeMs]);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { ms, bytes } = await buildCli();
  console.log(`built ${relative(process.cwd(), join(OUT, "inforge.mjs"))} (${(bytes / 1024).toFixed(0)} KiB with chunks) in ${ms.toFixed(0)} ms`);
}
