import * as v from "valibot";
import type { Intent } from "../dsl/intent.ts";
import type { Plan } from "../plan/step.ts";

// The saved plan's file format, `inforge.plan/v1` (docs/schemas/plan.v1.schema.json): what
// `--plan --out` writes and `inforge apply` / `pki.apply()` read. Parsed strictly — the file is
// hostile input — and bound by its digest (lib/store/plan-file.ts).

export const PLAN_SCHEMA = "inforge.plan/v1";

export interface AfterHook {
  /** The task file, as a path relative to the directory the plan was made in (or absolute). */
  readonly file: string;
  readonly sha256: string;
}

export interface SavedPlan {
  readonly schema: typeof PLAN_SCHEMA;
  readonly task: string;
  readonly title: string;
  /** The clock the plan was made at (`Plan.now`); applying re-plans at this instant. */
  readonly now: string;
  readonly intents: readonly Intent[];
  /** The identities applying it needs (root and/or ci). */
  readonly needs: readonly ("root" | "ci")[];
  /** Every file of the pki directory the plan was made on: path → SHA-256 of its bytes. */
  readonly state: Readonly<Record<string, string>>;
  readonly steps: Plan["steps"];
  readonly notes: readonly string[];
  readonly next: readonly string[];
  /**
   * The task's after() hook is part of what was reviewed: the task file and the SHA-256 of its
   * bytes when the plan was made. `inforge apply` runs after() only from those same bytes.
   */
  readonly after?: AfterHook;
  /** SHA-256 of the canonical JSON of everything above: a hand edit is refused. */
  readonly digest: string;
}

export const Hex = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));
export const SavedPlanSchema = v.strictObject({
  schema: v.literal(PLAN_SCHEMA),
  task: v.string(),
  title: v.string(),
  now: v.pipe(v.string(), v.isoTimestamp()),
  intents: v.pipe(v.array(v.looseObject({ kind: v.string(), origin: v.string() })), v.minLength(1)),
  needs: v.array(v.picklist(["root", "ci"])),
  state: v.record(v.string(), Hex),
  steps: v.array(v.looseObject({ kind: v.string() })),
  notes: v.array(v.string()),
  next: v.array(v.string()),
  after: v.optional(v.strictObject({ file: v.pipe(v.string(), v.minLength(1)), sha256: Hex })),
  digest: Hex,
});
