import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { InputError } from "../errors.ts";
import { plan } from "../plan/planner.ts";
import type { Plan } from "../plan/step.ts";
import { EMPTY_SNAPSHOT } from "../model/state.ts";
import { realPath, within } from "../store/no-follow.ts";
import { ioFailure } from "../store/io-errors.ts";
import type { SavedPlan } from "../store/plan-file.ts";

/** `--plan --out FILE`: never inside the pki directory (it would change the state the plan is bound to). */
export async function checkPlanOut(out: string, dir: string): Promise<void> {
  if (within(realPath(resolve(out)), dir)) {
    throw new InputError(`--out "${out}" is inside the pki directory; write the plan file elsewhere (such as ./plan.json): a file in the pki directory would change the state the plan is bound to`);
  }
}

export async function writePlanFile(out: string, saved: SavedPlan, json: boolean): Promise<void> {
  await writeFile(resolve(out), JSON.stringify(saved, null, 2) + "\n", { mode: 0o644 }).catch((e: unknown) => {
    throw ioFailure(e, "nothing was changed in the pki directory");
  });
  const line = `plan saved to ${out}; review it, then apply exactly this plan with: inforge apply ${out}`;
  if (json) process.stderr.write(line + "\n");
  else process.stdout.write(line + "\n");
}

/** The plan of a run that asked for nothing. */
export const emptyPlan = (now: Date): Plan => plan([], EMPTY_SNAPSHOT, { scopes: {} }, now);
