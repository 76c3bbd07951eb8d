import type { Intent } from "../dsl/intent.ts";
import { runIntents as run, type RunContext, type RunOptions, type RunOutcome } from "../pki.ts";
import { renderPlan } from "../term/render-plan.ts";
import { bold, green } from "../term/style.ts";
import { progress } from "../term/progress.ts";

export type { RunOptions, RunOutcome };

/** The CLI's run: lib/pki.ts's, with the plan table, colours and the progress bar of a terminal. */
export async function runIntents(intents: readonly Intent[], ctx: RunContext, o: RunOptions): Promise<RunOutcome> {
  const out = o.print ?? ((s: string) => process.stdout.write(s + "\n"));
  const bar = progress(`${o.title.split(" — ")[0]}`);
  return run(intents, ctx, {
    render: renderPlan,
    onStep: (done, total) => bar.update(done, total),
    onEnd: () => bar.end(),
    ...o,
    print: (s, tone) => out(tone === "ok" ? green(s) : tone === "strong" ? bold(s) : s),
  });
}
