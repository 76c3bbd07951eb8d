import "reflect-metadata";
import { basename } from "node:path";
import { parseArgs } from "./args.ts";
import { runContext } from "./context.ts";
import { runTask } from "./run-task.ts";
import { ciGuard } from "../store/identities.ts";
import { explain, runReport } from "./report.ts";
import { COMMON_FLAGS } from "./flags-help.ts";
import { taskHelp } from "./task-help.ts";
import { directRunner } from "../runtime.ts";
import type { Task } from "../task.ts";

/** `tsx tasks/<name>.ts --arg v` (or `deno run … tasks/<name>.ts`): the same as `inforge run <name>`. */
export async function runDirect(t: Task, file: string): Promise<void> {
  const argv = process.argv.slice(2);
  const name = basename(file).replace(/\.[cm]?[tj]s$/, "");
  try {
    const a = parseArgs(argv, new Set(["plan", "json", "force", "finish", "help", "yes"]));
    if (a.flags.help) {
      process.stdout.write(`${taskHelp(name, t)}\n${COMMON_FLAGS}\n`);
      return;
    }
    ciGuard(process.env);
    const ctx = runContext(a, process.env);
    const outcome = await runTask(name, t, a.flags, ctx, `${directRunner} ${file} ${argv.join(" ")}`.trim(), file);
    // The same inforge.run/v1 report as `inforge run <name> --json`, so automation can use either.
    if (ctx.json) process.stdout.write(JSON.stringify(runReport(outcome, ctx, name)) + "\n");
  } catch (e) {
    process.exitCode = explain(e, argv.includes("--json"));
  }
}
