// `npm run build`: the prebuilt CLI, dist/cli/inforge.mjs — lib/ and the shipped tasks bundled
// by esbuild (which comes with tsx) into plain JavaScript, so `inforge` starts without compiling
// TypeScript on every run (about 450 ms under tsx). bin/inforge.js uses it when it is present
// and current: dist/cli/manifest.json lists every input file with its size and mtime, and any
// difference (an edited source, an updated package, a task added) sends bin/ back to the
// sources through tsx. Tests and Deno always run the sources.
//
// The bundle sits at dist/cli/, the same depth as lib/cli/, so paths that lib/cli derives from
// import.meta.url (the shipped tasks directory) resolve to the same place from either.
import { build, type Metafile, type OutputFile, type Plugin } from "esbuild";
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
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

export async function buildCli(): Promise<{ ms: number; bytes: number; metafile: Metafile }> {
  const t = performance.now();
  const tasks = readdirSync(join(ROOT, "tasks")).filter((f) => f.endsWith(".ts") && !f.startsWith("_")).sort();
  // The entry: register each shipped task under its source path, then the CLI itself.
  const entry = [
    `import { join } from "node:path";`,
    `import { setFrameMapper } from "./lib/dsl/origin.ts";`,
    `import { bundleFrameMapper } from "./lib/cli/bundle-origins.ts";`,
    `setFrameMapper(bundleFrameMapper(import.meta.url));`,
    `import { registerShippedTask, SHIPPED } from "./lib/runbook/shipped.ts";`,
    ...tasks.map((f) => `registerShippedTask(join(SHIPPED, ${JSON.stringify(f)}), () => import("./tasks/${f}"));`),
    `export { main, explain } from "./lib/cli/main.ts";`,
  ].join("\n");
  const tmp = join(ROOT, "dist", `.cli-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const result = await build({
    stdin: { contents: entry, resolveDir: ROOT, loader: "ts", sourcefile: "inforge-entry.ts" },
    // The leaf-minting worker thread's own entry, beside the chunks (lib/apply/mint-workers.ts).
    entryPoints: [{ in: "lib/apply/mint-worker.ts", out: "mint-worker" }],
    absWorkingDir: ROOT,
    plugins: [valibotDirect],
    bundle: true,
    splitting: true, // zx and the other dynamic imports stay out of the start-up path
    format: "esm",
    platform: "node",
    target: "node20",
    outdir: tmp,
    entryNames: "[name]", // stdin's output, "stdin", is written as inforge.mjs (outName)
    chunkNames: "[name]-[hash]", // beside the entry: the same depth as lib/cli/ (see above)
    outExtension: { ".js": ".mjs" },
    metafile: true,
    legalComments: "none",
    // Only read here, for the positions of lib/dsl/ and tasks/ (origins.json, lib/cli/bundle-origins.ts).
    sourcemap: "external",
    sourcesContent: false,
    write: false,
    logLevel: "warning",
    // CommonJS dependencies call require() for node built-ins; ESM output has no require.
    banner: { js: `import { createRequire as __inforgeRequire } from "node:module"; const require = __inforgeRequire(import.meta.url);` },
  });
  const origins: Origins = { sources: [], chunks: {} };
  for (const f of result.outputFiles) {
    if (f.path.endsWith(".map")) originsOf(f, origins);
    else writeFileSync(outName(f.path), f.contents);
  }
  writeFileSync(join(tmp, "origins.json"), JSON.stringify(origins) + "\n");
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
  // The metafile under the names written.
  const outputs = Object.fromEntries(Object.entries(result.metafile.outputs).map(([k, v]) => [outName(k), v]));
  return { ms: performance.now() - t, bytes, metafile: { ...result.metafile, outputs } };
}

/** esbuild names the stdin entry "stdin"; the CLI's entry is inforge.mjs. */
const outName = (path: string) => path.replace(/(^|[\\/])stdin\.mjs$/, "$1inforge.mjs");

/**
 * The shipped tasks take valibot as `v` from lib/mod.ts (`export * as v`), which makes esbuild
 * keep all of valibot (190 kB) in the chunk every command loads, `pki status` too; importing the
 * same namespace straight from valibot lets it keep only what is used. The import is rewritten on
 * its own line, so the task's line numbers (its intents' origins) stay as they are.
 */
const valibotDirect: Plugin = {
  name: "valibot-direct",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (dirname(args.path) !== join(ROOT, "tasks")) return undefined;
      const text = readFileSync(args.path, "utf8");
      const contents = text.replace(/^import \{([^}\n]*)\} from "\.\.\/lib\/mod\.ts";$/m, (line, names: string) => {
        const list = names.split(",").map((n) => n.trim()).filter(Boolean);
        if (!list.includes("v")) return line;
        const rest = list.filter((n) => n !== "v");
        return `${rest.length ? `import { ${rest.join(", ")} } from "../lib/mod.ts"; ` : ""}import * as v from "valibot";`;
      });
      return { contents, loader: "ts" };
    });
  },
};

interface Origins {
  sources: string[];
  chunks: Record<string, Record<string, [number, number, number][]>>;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Base64 VLQ fields of one source-map segment (Source Map v3 "mappings"). */
function vlq(segment: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const c of segment) {
    const d = B64.indexOf(c);
    value += (d & 31) << shift;
    if (d & 32) shift += 5;
    else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

/** The mappings of one bundle file that come from lib/dsl/ or tasks/, where intents take their origin. */
function originsOf(map: OutputFile, into: Origins): void {
  const m = JSON.parse(map.text) as { sources: string[]; mappings: string };
  const rel = m.sources.map((s) => relative(ROOT, join(dirname(map.path), s)));
  const wanted = rel.map((r) => (/^(lib\/dsl|tasks)\//.test(r) ? r : null));
  if (!wanted.some((w) => w)) return;
  const chunk: Record<string, [number, number, number][]> = {};
  let src = 0;
  let line = 0;
  m.mappings.split(";").forEach((text, gen) => {
    let col = 0;
    for (const seg of text ? text.split(",") : []) {
      const f = vlq(seg);
      col += f[0]!;
      if (f.length < 4) continue;
      src += f[1]!;
      line += f[2]!;
      const name = wanted[src];
      if (!name) continue;
      let i = into.sources.indexOf(name);
      if (i < 0) i = into.sources.push(name) - 1;
      (chunk[String(gen + 1)] ??= []).push([col, i, line + 1]);
    }
  });
  into.chunks[relative(dirname(map.path), outName(map.path.slice(0, -".map".length)))] = chunk;
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
