import { writeFile, stat } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { InputError, PostureError } from "../errors.ts";
import type { Identity } from "../age/mod.ts";
import type { Intent } from "../dsl/intent.ts";
import { plan as makePlan } from "../plan/planner.ts";
import { identitiesNeeded, type Plan } from "../plan/step.ts";
import { assertChecked } from "../check/check-plan.ts";
import { apply, type ApplyResult } from "../apply/apply.ts";
import { IDENTITY_VAR } from "../apply/keys.ts";
import { FsStore } from "../store/fs-store.ts";
import { acquireLock } from "../store/lock.ts";
import { readSnapshot } from "../store/snapshot.ts";
import { loadTopology } from "../store/regions.ts";
import { ciGuard, isCi, loadIdentities, matchRecipients } from "./identities.ts";
import { renderPlan } from "./render-plan.ts";
import type { RunContext } from "./context.ts";
import { bold, green } from "./style.ts";

export interface RunOptions {
  readonly title: string;
  readonly command: string;
  /** For `pki init`: where to write the new root identity instead of printing it. */
  readonly identityOut?: string;
  readonly waitMs?: number;
  readonly print?: (s: string) => void;
}

export interface RunOutcome {
  readonly plan: Plan;
  readonly result: ApplyResult | null;
}

const POSTURE_HINT = {
  root: "run it on the offline operator workstation that holds INFORGE_PKI_ROOT_KEY",
  ci: "run it in CI (or the infra repo) with INFORGE_SECRETS_KEY",
} as const;

/** intents → plan → check → (print) → apply, under the directory lock. */
export async function runIntents(intents: readonly Intent[], ctx: RunContext, o: RunOptions): Promise<RunOutcome> {
  const print = o.print ?? ((s: string) => process.stdout.write(s + "\n"));
  ciGuard(ctx.env);
  const ids = await loadIdentities(ctx.env);
  const init = intents.some((i) => i.kind === "root.init");
  if (init && isCi(ctx.env) && !ctx.planOnly) {
    throw new PostureError("inforge pki init creates the offline root and prints its identity; it must not run in CI (CI is set) — run it on the offline operator workstation", "root");
  }
  if (init && o.identityOut) await checkIdentityOut(o.identityOut, ctx.dir);
  const store = new FsStore(ctx.dir);
  if (!init && !(await store.exists())) {
    throw new InputError(`no pki directory at ${ctx.dir}; run inforge pki init first, or point --dir / INFORGE_PKI_DIR at it`);
  }
  const lock = ctx.planOnly ? null : await acquireLock(await ensureDir(ctx.dir), o.command, ctx.now, o.waitMs ?? 0);
  try {
    if (!ctx.planOnly) await store.recover();
    const [snapshot, topology] = await Promise.all([readSnapshot(store), loadTopology(ctx.regions)]);
    matchRecipients(ids, snapshot.config);
    if (!ctx.planOnly && snapshot.config) await store.lastEntry(); // a broken journal stops the run
    const plan = makePlan(intents, snapshot, topology, ctx.now);
    if (!ctx.json) print(renderPlan(plan, ids, o.title));
    const checked = assertChecked(plan);
    if (ctx.planOnly) {
      if (!ctx.json) print(bold("--plan: nothing was changed"));
      return { plan, result: null };
    }
    for (const p of identitiesNeeded(plan)) {
      if (!ids[p]) {
        throw new PostureError(
          `this plan needs the ${p === "root" ? "offline root" : "CI master"} identity (${p === "root" ? "root" : "CI"} posture), but ${IDENTITY_VAR[p]} is not set; ${POSTURE_HINT[p]}: ${o.command}. Nothing was changed`,
          p,
        );
      }
    }
    if (!checked.steps.length) return { plan, result: null };
    const result = await apply(checked, {
      store, identities: ids, command: o.command,
      revealRootIdentity: (id) => revealRoot(id, o.identityOut, print),
    });
    if (!ctx.json) print(green(`applied: ${checked.steps.length} step(s), ${result.written.length} file(s) written in ${ctx.dir} (journal entry ${result.entry.seq})`));
    return { plan, result };
  } finally {
    await lock?.release();
  }
}

async function ensureDir(dir: string): Promise<string> {
  const { mkdir } = await import("node:fs/promises");
  await mkdir(dir, { recursive: true });
  return dir;
}

async function checkIdentityOut(path: string, dir: string): Promise<void> {
  const p = resolve(path);
  if (p === resolve(dir) || p.startsWith(resolve(dir) + sep)) {
    throw new InputError(`--identity-out "${path}" is inside the pki directory; the root identity must never be stored with the keys it opens — write it to removable media or a password manager`);
  }
  if (await stat(p).then(() => true, () => false)) throw new InputError(`--identity-out "${path}" already exists; choose a new file (an existing identity is never overwritten)`);
  if (!(await stat(dirname(p)).then((s) => s.isDirectory(), () => false))) throw new InputError(`--identity-out "${path}": the directory ${dirname(p)} does not exist`);
}

/** Shown (or written) once, before anything is sealed to it. */
async function revealRoot(id: Identity, out: string | undefined, print: (s: string) => void): Promise<void> {
  const text = `# inforge offline root identity — keep offline; set INFORGE_PKI_ROOT_KEY to this file on the operator workstation\n# public key: ${id.recipient}\n${id.secret}\n`;
  if (out) {
    await writeFile(resolve(out), text, { mode: 0o600, flag: "wx" });
    process.stderr.write(`the new root identity was written to ${out} (mode 0600); move it offline — it is shown nowhere else\n`);
    return;
  }
  print(bold("NEW ROOT IDENTITY — shown once, store it offline now (it is not saved anywhere):"));
  print(text.trimEnd());
}
