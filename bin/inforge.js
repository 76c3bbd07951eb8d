#!/usr/bin/env node
// The inforge CLI: TypeScript sources run through tsx, so `npx inforge` and `npm link` work
// without a build step.
import { register } from "tsx/esm/api";
// A reader that goes away (`inforge pki status | head`) is not an error of ours: stop writing.
for (const s of [process.stdout, process.stderr]) s.on("error", (e) => { if (e.code !== "EPIPE") throw e; });
register();
const { main, explain } = await import("../lib/cli/main.ts");
try {
  process.exitCode = await main(process.argv.slice(2), process.env);
} catch (e) {
  process.exitCode = explain(e, process.argv.includes("--json"));
}
