import * as v from "valibot";
import type { Intent } from "./dsl/intent.ts";
import type { Shell } from "zx";
import type { PkiState } from "./model/view.ts";

// A runbook is a default export `task({...})` in tasks/<name>.ts: a summary, valibot-checked
// arguments, and a `run` that returns intents — no crypto, no file handling. The same file
// runs three ways: `inforge run <name> --arg v`, `tsx tasks/<name>.ts --arg v`, and under Deno.

export interface TaskContext {
  /** The CI recipient derived from INFORGE_SECRETS_KEY, when that is set. */
  readonly ciRecipient: string | null;
  /** The clock of this run (`--at` / INFORGE_NOW, or the real time). */
  readonly now: Date;
  /** The pki directory (`--dir` / INFORGE_PKI_DIR), absolute. */
  readonly dir: string;
  /** The regions directory (`--regions` / INFORGE_REGIONS_DIR), absolute. */
  readonly regions: string;
  /** The typed, read-only state of the pki directory at `now` (what `pki.state` of openPki gives). */
  readonly state: PkiState;
}

/**
 * What `after()` gets once a plan has been applied (see docs/custom-runbooks.md).
 *
 * ```ts
 * after: async ({ $, dir, written }) => {
 *   await $`git add -- ${dir}`;
 *   await $`git commit -m ${`pki: ${written.length} file(s)`} -- ${dir}`;
 * }
 * ```
 */
export interface AfterContext {
  /** The pki directory, absolute. */
  readonly dir: string;
  /** The files this run wrote, relative to `dir`. */
  readonly written: readonly string[];
  /** Always false: after() runs only after a real apply, never for --plan or an empty plan. */
  readonly planOnly: boolean;
  /** The journal entry this run appended (its sequence number). */
  readonly entry: number;
  /**
   * zx's `$`, with the working directory of the run; it echoes each command on stderr unless
   * --json is given. zx is loaded only for tasks that have after(), because importing it reads
   * the whole environment and the CPU count, which Deno would otherwise have to allow every run.
   */
  readonly $: Shell;
}

export interface TaskDef<S extends v.GenericSchema<Record<string, unknown>, Record<string, unknown>>> {
  readonly summary: string;
  readonly args: S;
  /** Extra lines for `--help`: real examples. */
  readonly examples?: readonly string[];
  /** The intents to plan as one plan; none (an empty list, or nothing) means "nothing to do". May be async. */
  run(args: v.InferOutput<S>, ctx: TaskContext): Intent | readonly Intent[] | void | Promise<Intent | readonly Intent[] | void>;
  /**
   * Shell steps after a successful apply (not after --plan, nor when nothing was due): commit
   * the pki directory, hand bundles to a deploy tool, … If it throws, the run exits non-zero
   * but what was applied stays applied (the journal has it).
   */
  after?(result: AfterContext): Promise<void> | void;
}

export type Task = TaskDef<v.GenericSchema<Record<string, unknown>, Record<string, unknown>>> & { readonly __task: true };

/** Define a runbook. When its file is the program being run (tsx or Deno), it runs itself. */
export function task<S extends v.GenericSchema<Record<string, unknown>, Record<string, unknown>>>(def: TaskDef<S>): Task {
  const t = Object.freeze({ ...def, __task: true as const }) as unknown as Task;
  const file = callerFile();
  const main = mainFile();
  if (file && main && samePath(file, main)) {
    // Deferred so the module finishes evaluating first; the CLI is loaded only in this case.
    setTimeout(() => {
      void import("./runbook/direct.ts").then((m) => m.runDirect(t, file));
    }, 0);
  }
  return t;
}

export function isTask(x: unknown): x is Task {
  return typeof x === "object" && x !== null && (x as Task).__task === true;
}

const SELF = decodeURIComponent(new URL(import.meta.url).pathname);

function callerFile(): string | null {
  const lines = (new Error().stack ?? "").split("\n").slice(1);
  for (const l of lines) {
    const m = /\(?((?:file:\/\/)?\/[^():]+?\.[cm]?[tj]s):\d+:\d+\)?\s*$/.exec(l.trim());
    // This module's own frames: lib/task.ts, or the chunk it was bundled into (dist/deno/).
    if (m && !m[1]!.endsWith("/lib/task.ts") && decodeURIComponent(m[1]!.replace(/^file:\/\//, "")) !== SELF) return decodeURIComponent(m[1]!.replace(/^file:\/\//, ""));
  }
  return null;
}

function mainFile(): string | null {
  const g = globalThis as { Deno?: { mainModule?: string }; process?: { argv?: string[] } };
  if (g.Deno?.mainModule) return decodeURIComponent(g.Deno.mainModule.replace(/^file:\/\//, ""));
  return g.process?.argv?.[1] ?? null;
}

function samePath(a: string, b: string): boolean {
  const strip = (p: string) => p.replace(/\.[cm]?[tj]s$/, "");
  return a === b || strip(a) === strip(b) || strip(a).endsWith("/" + strip(b).replace(/^\.\//, ""));
}
