// `import { region, task, v } from "inforge"` under plain Node — a zx script, `node script.mjs` —
// where nothing compiles TypeScript: register tsx's loader, then load lib/mod.ts through it.
// Deno and TypeScript resolve "inforge" to lib/mod.ts itself (package.json "exports" conditions).
// The names are listed because `export *` would be linked before the loader is registered;
// test/zx.test.ts checks that this list and lib/mod.ts export exactly the same names.
import { register } from "tsx/esm/api";

register();
const mod = await import("./mod.ts");

export const {
  all, global, region, root, scope,
  task,
  ScopeName, RegionName, ServiceName, GLOBAL, REVOCATION_REASONS,
  plan, checkPlan, assertChecked, checkState,
  InputError, PostureError, StateError, CheckError,
  openPki, Duration, parseDuration,
  v,
} = mod;
