import { InputError } from "../errors.ts";
import { loadIdentities } from "./identities.ts";
import type { Task } from "../task.ts";
import type { RunContext } from "./context.ts";
import { intentsOf, taskArgs, taskContext } from "./tasks.ts";
import { runIntents, type RunOutcome } from "./pipeline.ts";

const RESERVED = new Set(["dir", "regions", "at", "plan", "json", "identity-out", "wait"]);

/** Run one task with the flags given on the command line (minus the global ones). */
export async function runTask(
  name: string, t: Task, flags: Readonly<Record<string, string | true>>, ctx: RunContext, command: string,
): Promise<RunOutcome> {
  const own = Object.fromEntries(Object.entries(flags).filter(([k]) => !RESERVED.has(k)));
  const args = taskArgs(t, own, name);
  const ids = await loadIdentities(ctx.env);
  const intents = intentsOf(t, args, taskContext(ctx.env, ctx.now, ids.ci?.recipient ?? null));
  const identityOut = typeof flags["identity-out"] === "string" ? flags["identity-out"] : undefined;
  const wait = flags.wait;
  const waitMs = typeof wait === "string" ? parseWait(wait) : 0;
  const outcome = await runIntents(intents, ctx, { title: `${name} — ${t.summary}`, command, ...(identityOut ? { identityOut } : {}), waitMs });
  if (outcome.result && t.after) await t.after({ dir: ctx.dir, written: outcome.result.written, planOnly: false });
  return outcome;
}

function parseWait(s: string): number {
  const m = /^(\d+)(s|m)$/.exec(s);
  if (!m) throw new InputError(`invalid --wait "${s}"; give seconds or minutes such as 60s or 5m`);
  return Number(m[1]) * (m[2] === "m" ? 60_000 : 1000);
}
