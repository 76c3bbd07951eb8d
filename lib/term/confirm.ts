import { createInterface } from "node:readline/promises";
import { InputError } from "../errors.ts";
import { identitiesNeeded, type Plan } from "../plan/step.ts";

/** A root ceremony: the plan needs the offline root identity, or creates the root (init). */
export const rootPosture = (plan: Plan) => identitiesNeeded(plan).includes("root") || plan.steps.some((s) => s.kind === "create-root");

/**
 * Review before a root ceremony applies: the plan is printed, then asked about on a terminal;
 * `--yes` answers for the operator; with no terminal (a pipe, a script) the run needs `--yes` or
 * a reviewed plan file. CI-posture plans are not asked about: CI runs them unattended.
 */
export function askBeforeRoot(yes: boolean, command: string): (plan: Plan) => Promise<boolean> {
  return async (plan) => {
    if (yes || !rootPosture(plan)) return true;
    if (!process.stdin.isTTY) {
      throw new InputError(`this plan needs the offline root and there is no terminal to confirm it on; nothing was changed — review it and run again with --yes, or save it with --plan --out plan.json and apply that file with inforge apply plan.json (${command})`);
    }
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question("apply this plan? [y/N] ");
      const go = /^y(es)?$/i.test(answer.trim());
      if (!go) process.stderr.write("not applied: nothing was changed\n");
      return go;
    } finally {
      rl.close();
    }
  };
}
