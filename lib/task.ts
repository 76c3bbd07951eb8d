import * as v from "valibot";
import type { Intent } from "./dsl/intent.ts";

// A runbook is a default export `task({...})` in tasks/<name>.ts: a summary, valibot-checked
// arguments, and a `run` that returns intents — no crypto, no file handling. The same file
// runs three ways: `inforge run <name> --arg v`, `tsx tasks/<name>.ts --arg v`, and under Deno.

export interface TaskContext {
  /** The CI recipient derived from INFORGE_SECRETS_KEY, when that is set. */
  readonly ciRecipient: string | null;
  /** The clock of this run (`--at` / INFORGE_NOW, or the real time). */
  readonly now: Date;
}

/** What a task may hand to zx or a shell after a successful apply (see docs). */
export interface AfterContext {
  readonly dir: string;
  readonly written: readonly string[];
  readonly planOnly: boolean;
}

export interface TaskDef<S extends v.GenericSchema<Record<string, unknown>, Record<string, unknown>>> {
  readonly summary: string;
  readonly args: S;
  /** Extra lines for `--help`: real examples. */
  readonly examples?: readonly string[];
  run(args: v.InferOutput<S>, ctx: TaskContext): Intent | readonly Intent[];
  /** Runs after a successful apply (not after --plan): commit the pki dir, hand bundles on, … */
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
      void import("./cli/direct.ts").then((m) => m.runDirect(t, file));
    }, 0);
  }
  return t;
}

export function isTask(x: unknown): x is Task {
  return typeof x === "object" && x !== null && (x as Task).__task === true;
}

function callerFile(): string | null {
  const lines = (new Error().stack ?? "").split("\n").slice(1);
  for (const l of lines) {
    const m = /\(?((?:file:\/\/)?\/[^():]+?\.[cm]?[tj]s):\d+:\d+\)?\s*$/.exec(l.trim());
    if (m && !m[1]!.endsWith("/lib/task.ts")) return decodeURIComponent(m[1]!.replace(/^file:\/\//, ""));
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
