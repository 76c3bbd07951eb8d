// `npm run build:deno` (run by `prepack`): the library and the CLI as plain JavaScript for Deno in
// an infra repo that installed inforge from its tarball. Deno refuses to strip TypeScript types
// from files under node_modules (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING, measured with
// Deno 2.9.6), so an installed inforge is loaded from dist/deno/: lib/mod.deno.js picks it when
// lib/mod.ts cannot be loaded. A linked checkout (npm link, a workspace) still runs the sources.
// dist/deno/ sits at the same depth as lib/cli/, so paths derived from import.meta.url (the
// shipped tasks directory) resolve to the same place.
import { build } from "esbuild";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "dist", "deno");

const tasks = readdirSync(join(ROOT, "tasks")).filter((f) => f.endsWith(".ts") && !f.startsWith("_")).sort();
// The CLI: the shipped tasks registered by their source path (lib/runbook/shipped.ts), then main().
const cli = [
  `import { join } from "node:path";`,
  `import { registerShippedTask, SHIPPED } from "./lib/runbook/shipped.ts";`,
  ...tasks.map((f) => `registerShippedTask(join(SHIPPED, ${JSON.stringify(f)}), () => import("./tasks/${f}"));`),
  `import { main, explain } from "./lib/cli/main.ts";`,
  `main(process.argv.slice(2), process.env).then((c) => (process.exitCode = c), (e) => (process.exitCode = explain(e, process.argv.includes("--json"))));`,
].join("\n");

rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: [
    { in: join(ROOT, "lib/mod.ts"), out: "mod" }, { in: "inforge-deno-cli", out: "inforge" },
    // The leaf-minting worker thread's own entry, beside the chunks (lib/apply/mint-workers.ts).
    { in: join(ROOT, "lib/apply/mint-worker.ts"), out: "mint-worker" },
  ],
  plugins: [{
    name: "cli-entry",
    setup(b) {
      // The entry file only loads the CLI: the shipped tasks' task() calls then sit in a chunk,
      // not in the program being run, so none of them runs itself (lib/task.ts).
      b.onResolve({ filter: /^inforge-deno-cli$/ }, () => ({ path: "entry", namespace: "entry" }));
      b.onResolve({ filter: /^inforge-deno-cli-main$/ }, () => ({ path: "cli", namespace: "entry" }));
      b.onLoad({ filter: /^entry$/, namespace: "entry" }, () => ({ contents: `await import("inforge-deno-cli-main");`, loader: "js", resolveDir: ROOT }));
      b.onLoad({ filter: /^cli$/, namespace: "entry" }, () => ({ contents: cli, loader: "ts", resolveDir: ROOT }));
    },
  }],
  // The shipped tasks import "inforge": the library bundled here, one instance with the CLI.
  alias: { inforge: join(ROOT, "lib/mod.ts") },
  absWorkingDir: ROOT,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "es2022",
  outdir: OUT,
  chunkNames: "[name]-[hash]",
  packages: "external",
  legalComments: "none",
  logLevel: "warning",
});
