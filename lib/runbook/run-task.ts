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

const RESERVED = new Set(["dir", "regions", "at", "plan", "json", "identity-out", "wait", "concurrency", "yes"]);

/** Run one task with the flags given on the command line (minus the global ones). */
export async function runTask(
  name: string, t: Task, flags: Readonly<Record<string, string | true>>, ctx: RunContext, command: string,
): Promise<RunOutcome> {
  // `--plan --out FILE` saves the reviewed plan; without --plan, --out is the task's own argument.
  const planOut = ctx.planOnly && typeof flags.out === "string" ? flags.out : undefined;
  if (planOut) await checkPlanOut(planOut, ctx.dir);
  const own = Object.fromEntries(Object.entries(flags).filter(([k]) => !RESERVED.has(k) && !(planOut && k === "out")));
  const args = taskArgs(t, own, name);
  const ids = await loadIdentities(ctx.env);
  const intents = await intentsOf(t, args, await taskContext(ctx, ids.ci?.recipient ?? null));
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
    ...(planOut ? { save: { task: name } } : {}),
  });
  if (planOut && outcome.saved) await writePlanFile(planOut, outcome.saved, ctx.json);
  if (outcome.result && t.after) await runAfter(name, t.after, outcome.result, ctx);
  return outcome;
}

/** The task's after() hook with zx's `$`; a failure says plainly that the apply itself stands. */
async function runAfter(name: string, after: NonNullable<Task["after"]>, result: ApplyResult, ctx: RunContext): Promise<void> {
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

