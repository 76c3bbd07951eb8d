import { readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as v from "valibot";
import { InputError } from "../errors.ts";
import { isTask, type Task, type TaskContext } from "../task.ts";
import { parseRecipient } from "../age/mod.ts";
import { camel, kebab, nearest } from "./args.ts";
import { isDenied } from "../runtime.ts";
import { compiledTask, SHIPPED } from "./shipped.ts";
import type { Intent } from "../dsl/intent.ts";
import { readStateSync, type RunContext } from "../pki.ts";
import type { PkiState } from "../model/view.ts";

// A missing directory or file means "no such task"; a Deno permission refusal must not, or a
// task outside --allow-read would be reported as unknown (or silently left out of the list).
const absent = <T>(value: T) => (e: unknown): T => {
  if (isDenied(e)) throw e;
  return value;
};

export { SHIPPED };

/** Task directories, the operator's own first: ./tasks (or INFORGE_TASKS_DIR), then the shipped ones. */
export function taskDirs(env: Readonly<Record<string, string | undefined>>): string[] {
  const own = resolve(env.INFORGE_TASKS_DIR ?? "tasks");
  return own === SHIPPED ? [SHIPPED] : [own, SHIPPED];
}

export async function listTasks(dirs: readonly string[]): Promise<{ name: string; file: string }[]> {
  const seen = new Map<string, string>();
  for (const d of dirs) {
    const files = await readdir(d).catch(absent([] as string[]));
    for (const f of files.sort()) {
      if (!f.endsWith(".ts") || f.startsWith("_")) continue;
      const name = f.slice(0, -3);
      if (!seen.has(name)) seen.set(name, join(d, f));
    }
  }
  return [...seen].map(([name, file]) => ({ name, file })).sort((a, b) => a.name.localeCompare(b.name));
}

export async function loadTask(name: string, dirs: readonly string[]): Promise<{ task: Task; file: string }> {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new InputError(`invalid task name "${name}"; task names are file names in tasks/ such as rotate-intermediate`);
  for (const d of dirs) {
    const file = join(d, `${name}.ts`);
    if (await stat(file).then((s) => s.isFile(), absent(false))) return { task: await importTask(file), file };
  }
  const names = (await listTasks(dirs)).map((t) => t.name);
  const near = nearest(name, names);
  throw new InputError(`unknown task "${name}"${near ? ` — did you mean "${near}"?` : ""} (run inforge tasks to list them)`);
}

export async function importTask(file: string): Promise<Task> {
  const compiled = await compiledTask(file); // the prebuilt CLI carries the shipped tasks (lib/runbook/shipped.ts)
  if (compiled) return compiled;
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (e) {
    if (e instanceof InputError) throw e;
    const hint = /require\(\)|ERR_REQUIRE/.test(String(e)) ? ` (is the repo's package.json "type": "module"?)` : "";
    throw new InputError(`cannot load the task ${file}: ${(e as Error).message.split("\n")[0]}${hint}`);
  }
  if (!isTask(mod.default)) throw new InputError(`${file} does not export a task: its default export must be task({ summary, args, run })`);
  return mod.default;
}

/** Flags → the task's valibot-checked arguments; one sentence naming the flag on failure. */
export function taskArgs(t: Task, flags: Readonly<Record<string, string | true>>, name: string): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(flags)) input[camel(k)] = val;
  const r = v.safeParse(t.args, input);
  if (r.success) return r.output;
  const i = r.issues[0];
  const key = v.getDotPath(i);
  const known = knownArgs(t);
  if (key && known.includes(key) && i.input === undefined) {
    const example = t.examples?.[0];
    throw new InputError(`task ${name} needs --${kebab(key)}${example ? `; for example: ${example}` : ` (arguments: ${known.map((k) => "--" + kebab(k)).join(", ")})`}`);
  }
  if ((i.type === "strict_object" || i.type === "object") && key && !known.includes(key)) {
    const near = key ? nearest(kebab(key), known.map(kebab)) : null;
    throw new InputError(`task ${name} has no argument --${kebab(key ?? "?")}${near ? ` — did you mean --${near}?` : ""} (arguments: ${known.map((k) => "--" + kebab(k)).join(", ") || "none"})`);
  }
  throw new InputError(`task ${name}: ${key ? `--${kebab(key)}` : "arguments"}: ${i.message}${i.input === undefined ? " (missing)" : /AGE-SECRET-KEY-/i.test(String(i.input)) ? " (got a secret age key, not shown here)" : ` (got ${JSON.stringify(i.input)})`}`);
}

export function knownArgs(t: Task): string[] {
  const s = t.args as { entries?: Record<string, unknown> };
  return Object.keys(s.entries ?? {});
}

/** What a runbook's run() sees: the clock, the CI recipient, the directories and the typed state. */
export function taskContext(ctx: RunContext, ciRecipient: string | null): TaskContext {
  // Read when run() first asks for it: the shipped tasks never do, and reading a 10,000-leaf
  // fleet's state here (before the run reads it again under its lock) cost ~0.1 s of every renewal.
  let state: PkiState | undefined;
  return Object.freeze({
    ciRecipient, now: ctx.now, dir: ctx.dir, regions: ctx.regions,
    get state() {
      return (state ??= readStateSync(ctx.dir, ctx.regions, ctx.now));
    },
  });
}

/** run()'s answer as a list of intents; awaited (run may be async); empty: nothing to do. */
export async function intentsOf(t: Task, args: Record<string, unknown>, ctx: TaskContext): Promise<Intent[]> {
  const r = await t.run(args, ctx);
  const list = (r === undefined || r === null ? [] : Array.isArray(r) ? r : [r]) as unknown[];
  for (const i of list) {
    if (typeof i !== "object" || i === null || typeof (i as Intent).kind !== "string" || typeof (i as Intent).origin !== "string") {
      throw new InputError(`the task's run() returned ${i === null ? "null" : typeof i === "object" ? "an object that is not an intent" : `a ${typeof i}`} in its list; it must return DSL verbs such as region('eu').leaves().renew() (or nothing, when there is nothing to do)`);
    }
  }
  return list as Intent[];
}

export { parseRecipient };
