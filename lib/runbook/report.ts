import { InputError, PostureError, StateError, CheckError } from "../errors.ts";
import type { RunContext } from "../pki.ts";
import type { RunOutcome } from "./pipeline.ts";
import type { RunReport } from "../model/reports.ts";
import { identitiesNeeded } from "../plan/step.ts";
import { ioMessage, isErrno } from "../store/io-errors.ts";
import { deniedMessage, isDenied } from "../runtime.ts";

// What a run says when it ends, the same for `inforge …` and a task file run as a program:
// the `--json` report of a run, and the one sentence and exit code of a failure.

/** The `inforge.run/v1` report (lib/model/reports.ts): what `--json` prints for any task. */
export function runReport(o: RunOutcome, ctx: RunContext, task: string): RunReport {
  return {
    schema: "inforge.run/v1", at: o.plan.now, task, applied: o.result !== null, planOnly: ctx.planOnly,
    needs: identitiesNeeded(o.plan),
    steps: o.plan.steps as RunReport["steps"],
    bundles: o.plan.steps.flatMap((s) => (s.kind === "write-bundle" ? [{ bundle: s.bundle, enter: [...s.enter], leave: [...s.leave], members: [...s.members] }] : [])),
    notes: [...o.plan.notes], next: [...o.plan.next], written: [...(o.result?.written ?? [])], journal: o.result?.entry.seq ?? null, entry: o.entry ?? null,
  };
}

/** One clear sentence on stderr and a non-zero exit for anything the operator can fix. */
export function explain(thrown: unknown, json = false): number {
  // A failed system call that no layer explained (a full disk, a read-only file system) is the
  // operator's to fix, not a bug: one sentence, exit 1.
  const e = !isDenied(thrown) && isErrno(thrown) ? new StateError(ioMessage(thrown, "run inforge pki verify to see the state of the pki directory")) : thrown;
  if (json) {
    const name = (e as Error)?.name ?? "Error";
    process.stdout.write(JSON.stringify({ schema: "inforge.error/v1", error: name, message: (e as Error)?.message ?? String(e) }) + "\n");
  }
  if (e instanceof InputError || e instanceof PostureError || e instanceof StateError || e instanceof CheckError) {
    process.stderr.write(`inforge: ${e.message}\n`);
    return e instanceof PostureError ? 3 : 1;
  }
  const m = (e as Error)?.name === "AgeError" || (e as Error)?.name === "X509Error" ? (e as Error).message : null;
  if (m) {
    process.stderr.write(`inforge: ${m}\n`);
    return 1;
  }
  if (isDenied(e)) {
    process.stderr.write(`inforge: ${deniedMessage(e)}\n`);
    return 1;
  }
  process.stderr.write(`inforge: unexpected error (a bug; please report it): ${(e as Error)?.stack ?? String(e)}\n`);
  return 70;
}
