// `import { openPki, task, v } from "inforge"` under Deno (package.json "exports" → "deno").
// Deno strips TypeScript types only outside node_modules: a linked checkout (npm link, a
// workspace, a symlinked file: dependency) loads lib/mod.ts itself; an inforge installed from its
// tarball loads dist/deno/mod.js, the same code built by `prepack` (scripts/build-deno.ts).
// test/installed.test.ts checks that this list and lib/mod.ts export exactly the same names.
let mod;
try {
  mod = await import("./mod.ts");
} catch (e) {
  if (!/TYPE_STRIPPING/.test(`${e?.code} ${e?.message} ${e}`)) throw e;
  mod = await import("../dist/deno/mod.js");
}

export const {
  all, global, region, root, scope,
  task,
  ScopeName, RegionName, ServiceName, GLOBAL, REVOCATION_REASONS,
  plan, checkPlan, assertChecked, checkState,
  InputError, PostureError, StateError, CheckError,
  openPki, Duration, parseDuration,
  v,
} = mod;
