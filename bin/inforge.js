#!/usr/bin/env node
// The inforge CLI: TypeScript sources run through tsx, so `npx inforge` and `npm link` work
// without a build step.
import { register } from "tsx/esm/api";
register();
const { main, explain } = await import("../lib/cli/main.ts");
try {
  process.exitCode = await main(process.argv.slice(2), process.env);
} catch (e) {
  process.exitCode = explain(e);
}
