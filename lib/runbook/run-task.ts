import { InputError } from "../errors.ts";
import { loadIdentities } from "../store/identities.ts";
import type { Task } from "../task.ts";
import type { RunContext } from "./context.ts";
import { intentsOf, taskArgs, taskContext } from "./tasks.ts";
import { runIntents, type RunOutcome } from "./pipeline.ts";
import type { ApplyResult } from "../apply/apply.ts";
import { deniedMessage, isDenied } from "../runtime.ts";
import { askBeforeRoot } from "../term/confirm.ts";
import { parseWait } from "../model/duration.ts";
import { checkPlanOut, emptyPlan, writePlanFile } from "./plan-out.ts";
import { importTask } from "./tasks.ts";
import { sha256 } from "../store/journal.ts";
import type { AfterHook, SavedPlan } from "../store/plan-file.ts";
import { readFile } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";

const RESERVED = new Set(["dir", "regions", "at", "plan", "json", "identity-out", "wait", "concurrency", "yes"]);

/**
 * Run one task with the flags given on the command line (minus the global ones). `file` is the
 * task's source: a saved plan of a task with after() records its digest (see afterHook).
 */
export async function runTask(
  name: string, t: Task, flags: Readonly<Record<string, string | true>>, ctx: RunContext, command: string, file?: string,
): Promise<RunOutcome> {
  // `--plan --out FILE` saves the reviewed plan; without --plan, --out is the task's own argument.
  const planOut = ctx.planOnly && typeof flags.out === "string" ? flags.out : undefined;
  if (planOut) await checkPlanOut(planOut, ctx.dir);
  const own = Object.fromEntries(Object.entries(flags).filter(([k]) => !RESERVED.has(k) && !(planOut && k === "out")));
  const args = taskArgs(t, own, name);
  const ids = await loadIdentities(ctx.env);
  const intents = await intentsOf(t, args, taskContext(ctx, ids.ci?.recipient ?? null));
  if (!intents.length) {
    if (!ctx.json) process.stdout.write(`nothing to do: task ${name} asked for nothing on this state\n`);
    return { plan: emptyPlan(ctx.now), result: null };
  }
  const identityOut = typeof flags["identity-out"] === "string" ? flags["identity-out"] : undefined;
  const wait = flags.wait;
  const waitMs = parseWait(typeof wait === "string" || wait === true ? wait : undefined);
  const concurrency = parseConcurrency(flags.concurrency);
  const outcome = await runIntents(intents, ctx, {
    title: `${name} — ${t.summary}`, command, ...(identityOut ? { identityOut } : {}), waitMs, ...(concurrency ? { concurrency } : {}),
    confirm: askBeforeRoot(flags.yes === true, command),
    ...(planOut ? { save: { task: name, ...(t.after && file ? { after: await afterHook(file) } : {}) } } : {}),
  });
  if (planOut && outcome.saved) await writePlanFile(planOut, outcome.saved, ctx.json);
  if (outcome.result && t.after) await runAfter(name, t.after, outcome.result, ctx);
  return outcome;
}

/** What a saved plan records of a task with after(): its file and the digest of its bytes. */
async function afterHook(file: string): Promise<AfterHook> {
  const rel = relative(process.cwd(), file);
  return { file: rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file, sha256: sha256(await readFile(file)) };
}

/**
 * The task of a saved plan whose after() was reviewed with it: loaded from the same file, and only
 * if its bytes are the ones the plan recorded — a hook edited since is not what was reviewed.
 * Checked before anything is applied.
 */
export async function reviewedAfter(saved: SavedPlan, where: string): Promise<Task["after"]> {
  if (!saved.after) return undefined;
  const { file, sha256: want } = saved.after;
  const bytes = await readFile(file).catch((e: unknown): never => {
    if (isDenied(e)) throw e;
    throw new InputError(`${where} runs the after() step of the task file ${file}, which cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); apply it from the directory the plan was made in, or make the plan again`);
  });
  if (sha256(bytes) !== want) throw new InputError(`the task file ${file} changed since ${where} was made, and its after() step is part of what was reviewed; nothing was changed — make and review the plan again (--plan --out)`);
  const t = await importTask(resolve(file));
  if (!t.after) throw new InputError(`the task file ${file} no longer has an after() step; make the plan again`);
  return t.after.bind(t);
}

/** The task's after() hook with zx's `$`; a failure says plainly that the apply itself stands. */
export async function runAfter(name: string, after: NonNullable<Task["after"]>, result: ApplyResult, ctx: RunContext): Promise<void> {
  try {
    const { $, quote } = await import("zx");
    // zx looks bash up on PATH when it loads; under Deno that needs read access to every PATH
    // directory. When the lookup failed (no quote function set), name bash and set what zx
    // would have, so --allow-run=bash is all a task's shell steps need.
    const sh = $({ cwd: process.cwd(), verbose: !ctx.json, quiet: ctx.json, ...($.quote ? {} : { shell: "bash", quote, prefix: "set -euo pipefail;" }) });
    await after({ dir: ctx.dir, written: result.written, planOnly: false, entry: result.entry.seq, $: sh });
  } catch (e) {
    const why = isDenied(e) ? deniedMessage(e) : ((e as Error)?.message ?? String(e)).trim().split("\n")[0];
    throw new InputError(`task ${name} applied its plan (journal entry ${result.entry.seq}), but its after() step failed: ${why}; the pki directory is complete — finish that step by hand`);
  }
}

/** `--concurrency N`: leaves issued at once (1–1024); absent, apply's default. */
function parseConcurrency(v: string | true | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = v === true ? NaN : Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new InputError(`invalid --concurrency "${v === true ? "" : v}"; give the number of leaves to issue at once, such as 16`);
  return n;
}

