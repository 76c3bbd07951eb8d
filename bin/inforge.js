#!/usr/bin/env node
// The inforge CLI. It runs the prebuilt bundle (dist/cli/inforge.mjs, `npm run build`) when
// that is present and current — every input file unchanged since the build — and otherwise the
// TypeScript sources through tsx, so `npx inforge` and `npm link` work without a build step and
// an edited source is never shadowed by a stale build. Starting from the bundle skips compiling
// TypeScript on every run (about 450 ms). `inforge run` and `inforge tasks` always take the
// sources: they may import the operator's own tasks/*.ts, which need tsx's loader.
// Only node: built-ins are imported statically: nothing may use the thread pool before it is sized.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// Keygen, signing and the fsyncs of a commit run on libuv's thread pool (4 threads by default);
// a fleet renewal keeps dozens of them in flight. Sized before anything starts the pool.
process.env.UV_THREADPOOL_SIZE ??= "16";

// A reader that goes away (`inforge pki status | head`) is not an error of ours: stop writing.
for (const s of [process.stdout, process.stderr]) s.on("error", (e) => { if (e.code !== "EPIPE") throw e; });

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The bundle is current when every input it was built from has the same size and mtime. */
function bundleIsCurrent() {
  try {
    const m = JSON.parse(readFileSync(join(root, "dist/cli/manifest.json"), "utf8"));
    if (m.format !== "inforge.build/v1") return false;
    // One stat per input (157 files: 1.5 ms); the paths are the build's own, relative and
    // normalized, so they are joined as strings — path.join's normalizing tripled the loop's cost.
    for (const [p, size, mtime] of m.inputs) {
      const st = statSync(`${root}/${p}`);
      if (st.size !== size || st.mtimeMs !== mtime) return false;
    }
    const tasks = readdirSync(join(root, "tasks")).filter((f) => f.endsWith(".ts") && !f.startsWith("_")).sort();
    return tasks.join("\n") === m.tasks.join("\n");
  } catch {
    return false;
  }
}

async function fromSources() {
  const { register } = await import("tsx/esm/api");
  register();
  return import("../lib/cli/main.ts");
}

async function load() {
  const cmd = process.argv[2];
  // INFORGE_TRACE_ENTRY=1 says which one runs (tests, and anyone wondering why a start is slow).
  const trace = (what) => process.env.INFORGE_TRACE_ENTRY && process.stderr.write(`inforge: running ${what}\n`);
  if (cmd === "run" || cmd === "tasks" || process.env.INFORGE_NO_BUNDLE || !bundleIsCurrent()) {
    trace("the sources");
    return fromSources();
  }
  try {
    const m = await import(pathToFileURL(join(root, "dist/cli/inforge.mjs")).href);
    trace("dist/cli/inforge.mjs");
    return m;
  } catch (e) {
    process.stderr.write(`inforge: the prebuilt CLI in dist/ did not load (${e?.message ?? e}); running the sources — rebuild it with npm run build\n`);
    return fromSources();
  }
}

const { main, explain } = await load();
try {
  process.exitCode = await main(process.argv.slice(2), process.env);
} catch (e) {
  process.exitCode = explain(e, process.argv.includes("--json"));
}
