import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import * as v from "valibot";
import { PLAN_SCHEMA, SavedPlanSchema, type AfterHook, type SavedPlan } from "../model/saved-plan.ts";
import { InputError } from "../errors.ts";
import { canonicalJson } from "../model/custody-record.ts";
import { identitiesNeeded, type Plan } from "../plan/step.ts";

export { PLAN_SCHEMA, type AfterHook, type SavedPlan };
import { TMP } from "./fs-store.ts";
import { sha256 } from "./journal.ts";
import { isDenied } from "../runtime.ts";

// A saved plan (`--plan --out plan.json`, `inforge apply plan.json`, `pki.apply(saved)`): the
// intents, the steps they planned, the clock they were planned at, and every file of the pki
// directory they were planned on (path → SHA-256). Applying re-plans the same intents at the same
// clock on the state found under the lock and refuses unless both the state and the steps are
// what was reviewed. The file is hostile input: parsed strictly, its own digest checked.

const digestOf = (p: Omit<SavedPlan, "digest">) => sha256(canonicalJson(p));

export function savedPlan(plan: Plan, state: Readonly<Record<string, string>>, task: string, title: string, after?: AfterHook): SavedPlan {
  const body = {
    schema: PLAN_SCHEMA, task, title, now: plan.now, intents: plan.intents, needs: identitiesNeeded(plan), state,
    steps: plan.steps, notes: plan.notes, next: plan.next, ...(after ? { after } : {}),
  } as const;
  // Through JSON once, so the digest is over exactly what a file holds (no undefined fields).
  const plain = JSON.parse(JSON.stringify(body)) as Omit<SavedPlan, "digest">;
  return Object.freeze({ ...plain, digest: digestOf(plain) });
}

/** A saved plan from its JSON text (or an already parsed object); one sentence when it is not one. */
export function parseSavedPlan(input: string | unknown, where: string): SavedPlan {
  let data: unknown = input;
  if (typeof input === "string") {
    try {
      data = JSON.parse(input);
    } catch {
      throw new InputError(`${where} is not JSON; give the file that inforge wrote with --plan --out`);
    }
  }
  const r = v.safeParse(SavedPlanSchema, data);
  if (!r.success) {
    const i = r.issues[0];
    throw new InputError(`${where} is not an inforge plan (${v.getDotPath(i) ?? "schema"}: ${i.message}); give the file that inforge wrote with --plan --out`);
  }
  const { digest, ...body } = r.output;
  if (digestOf(body as unknown as Omit<SavedPlan, "digest">) !== digest) {
    throw new InputError(`${where} was edited after inforge wrote it (its digest does not match its content); make the plan again with --plan --out instead of editing it`);
  }
  return r.output as unknown as SavedPlan;
}

export async function readPlanFile(path: string): Promise<SavedPlan> {
  const text = await readFile(path, "utf8").catch((e: unknown): never => {
    if (isDenied(e)) throw e;
    const x = e as NodeJS.ErrnoException;
    throw new InputError(`cannot read the plan file "${path}" (${x.code ?? x.message}); give the file written by --plan --out`);
  });
  return parseSavedPlan(text, `the plan file "${path}"`);
}

/**
 * Every file under the pki directory (not the lock files nor staged writes of a run): path →
 * SHA-256. What a saved plan is bound to; read in batches (a fleet has thousands of files).
 */
export async function stateFiles(dir: string): Promise<Record<string, string>> {
  const paths: string[] = [];
  const walk = async (rel: string) => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true }).catch(() => [])) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else if (!/^\.lock(-[a-z0-9-]+)?$/.test(p) && !e.name.endsWith(TMP) && !/\.tmp$/.test(e.name)) paths.push(p);
    }
  };
  await walk("");
  paths.sort();
  const out: Record<string, string> = {};
  for (let i = 0; i < paths.length; i += 64) {
    const batch = paths.slice(i, i + 64);
    const sums = await Promise.all(batch.map(async (p) => sha256(await readFile(join(dir, p)))));
    batch.forEach((p, j) => (out[p] = sums[j]!));
  }
  return out;
}

/** The first difference between the state a plan was made on and the state now, as a clause; null when equal. */
export function stateChange(was: Readonly<Record<string, string>>, now: Readonly<Record<string, string>>): string | null {
  const paths = [...new Set([...Object.keys(was), ...Object.keys(now)])].sort();
  // A file other than a journal names the change best; the journal only says that a run happened.
  const changed = paths.filter((p) => was[p] !== now[p]);
  if (!changed.length) return null;
  const first = changed.find((p) => !p.startsWith("journal/")) ?? changed[0]!;
  const what = was[first] === undefined ? "was created" : now[first] === undefined ? "was removed" : "changed";
  const more = changed.length > 1 ? ` (and ${changed.length - 1} other file(s))` : "";
  return `${first} ${what}${more}`;
}
