import "reflect-metadata";
import { basename } from "node:path";
import { parseArgs } from "./args.ts";
import { runContext } from "./context.ts";
import { runTask } from "./run-task.ts";
import { ciGuard } from "./identities.ts";
import { explain } from "./main.ts";
import { USAGE } from "./help.ts";
import type { Task } from "../task.ts";

/** `tsx tasks/<name>.ts --arg v` (or `deno run … tasks/<name>.ts`): the same as `inforge run <name>`. */
export async function runDirect(t: Task, file: string): Promise<void> {
  const argv = process.argv.slice(2);
  const name = basename(file).replace(/\.[cm]?[tj]s$/, "");
  try {
    const a = parseArgs(argv, new Set(["plan", "json", "force", "finish", "help"]));
    if (a.flags.help) {
      process.stdout.write(`${name}: ${t.summary}\n\n${(t.examples ?? []).join("\n")}\n\n${USAGE}`);
      return;
    }
    ciGuard(process.env);
    await runTask(name, t, a.flags, runContext(a, process.env), `tsx ${file} ${argv.join(" ")}`.trim());
  } catch (e) {
    process.exitCode = explain(e);
  }
}
