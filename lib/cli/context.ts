import { dirname, resolve } from "node:path";
import { InputError } from "../errors.ts";
import { kindOfSync, realPath } from "../store/no-follow.ts";
import type { Args } from "./args.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** Where and when a command runs: the pki directory, the regions directory, the clock. */
export interface RunContext {
  readonly dir: string;
  readonly regions: string;
  readonly now: Date;
  readonly env: Env;
  readonly planOnly: boolean;
  readonly json: boolean;
}

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

/**
 * The pki directory as a real path, resolved once: the path the operator gives may pass through
 * symlinks (a CI workspace, /var on macOS, even a symlinked `pki`), and is then used as the
 * physical directory it names; nothing below it may be a symlink (lib/store/no-follow.ts).
 */
function pkiDir(given: string): string {
  const real = realPath(given);
  const kind = kindOfSync(real);
  if (kind !== null && kind !== "dir") {
    throw new InputError(`--dir "${given}" is ${kind === "file" ? "a file" : "not a directory"}, not a pki directory; point --dir / INFORGE_PKI_DIR at the directory pki init made (or a new one for pki init)`);
  }
  if (kind === null) {
    // The nearest ancestor that can be seen must be a directory (one that cannot be read, under
    // Deno's flags, is left to the runtime to refuse).
    let up = dirname(real);
    while (kindOfSync(up) === null && up !== dirname(up)) up = dirname(up);
    const k = kindOfSync(up);
    if (k !== null && k !== "dir") throw new InputError(`--dir "${given}" lies under ${up}, which is not a directory; point --dir / INFORGE_PKI_DIR at a directory`);
  }
  return resolve(real);
}
