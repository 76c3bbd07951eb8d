import { resolve } from "node:path";
import { InputError } from "../errors.ts";
import { pkiDir } from "../store/pki-dir.ts";
import type { Args } from "./args.ts";
import type { RunContext } from "../pki.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** Where and when a command runs: the pki directory, the regions directory, the clock. */
export type { RunContext };

const flag = (a: Args, name: string) => {
  const f = a.flags[name];
  if (f === true) throw new InputError(`--${name} needs a value`);
  return f;
};

export function runContext(a: Args, env: Env): RunContext {
  const at = flag(a, "at") ?? env.INFORGE_NOW;
  let now = new Date();
  if (at !== undefined) {
    const t = Date.parse(at);
    if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:\d{2}))?$/.test(at) || Number.isNaN(t)) {
      throw new InputError(`invalid time "${at}" for --at/INFORGE_NOW; give an ISO timestamp such as 2026-12-01T10:00:00Z`);
    }
    now = new Date(t);
  }
  return {
    dir: pkiDir(flag(a, "dir") ?? env.INFORGE_PKI_DIR ?? "pki"),
    regions: resolve(flag(a, "regions") ?? env.INFORGE_REGIONS_DIR ?? "regions"),
    now,
    env,
    planOnly: a.flags.plan === true,
    json: a.flags.json === true,
  };
}
