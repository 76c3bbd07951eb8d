import type { Args } from "../runbook/args.ts";
import { InputError } from "../errors.ts";
import { readPlanFile } from "../store/plan-file.ts";
import type { RunContext } from "../pki.ts";
import { runIntents, type RunOutcome } from "../runbook/pipeline.ts";
import { reviewedAfter, runAfter } from "../runbook/run-task.ts";

/**
 * `inforge apply plan.json`: apply exactly the plan that was reviewed (`--plan --out`), or refuse
 * in one sentence naming what changed since. The file is the review: no question is asked. A
 * task's after() step runs too, from the task file the plan recorded, if its bytes are unchanged.
 */
export async function applyPlanCommand(a: Args, ctx: RunContext, command: string): Promise<{ outcome: RunOutcome; task: string }> {
  const file = a.positionals[1];
  if (!file) throw new InputError("missing plan file; for example: inforge apply plan.json (made with inforge run <task> --plan --out plan.json)");
  if (a.positionals.length > 2) throw new InputError(`unexpected argument "${a.positionals[2]}"; give one plan file`);
  if (ctx.planOnly) throw new InputError("inforge apply does not take --plan: the plan file is already the plan; run it without --plan to apply it");
  const saved = await readPlanFile(file);
  const after = await reviewedAfter(saved, `the plan file "${file}"`);
  const outcome = await runIntents(saved.intents, ctx, { title: `${saved.title} (from ${file})`, command, saved });
  if (outcome.result && after) await runAfter(saved.task, after, outcome.result, ctx);
  return { outcome, task: saved.task };
}
