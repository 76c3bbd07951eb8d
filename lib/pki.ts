import { link, lstat, mkdir, readFile, rmdir, stat, unlink } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { InputError, PostureError, StateError } from "./errors.ts";
import { parseIdentity, type Identity } from "./age/mod.ts";
import type { Intent } from "./dsl/intent.ts";
import { plan as makePlan } from "./plan/planner.ts";
import { leafDueAt } from "./plan/intents.ts";
import { timing } from "./model/config.ts";
import { identitiesNeeded, type Plan } from "./plan/step.ts";
import { assertChecked } from "./check/check-plan.ts";
import { checkState, pendingWork } from "./check/check-state.ts";
import type { Issue } from "./errors.ts";
import { apply, type ApplyResult } from "./apply/apply.ts";
import { MintWorkers, mintWorkerCount } from "./apply/mint-workers.ts";
import { hasIdentity, IDENTITY_VAR, type Identities, type RootToken } from "./apply/keys.ts";
import { DIR_MODE, FsStore } from "./store/fs-store.ts";
import { fsyncDir, writeDurable } from "./store/atomic.ts";
import { realPath, within } from "./store/no-follow.ts";
import { ioFailure } from "./store/io-errors.ts";
import { acquireLock, type Lock } from "./store/lock.ts";
import { readSnapshot, readSnapshotSync } from "./store/snapshot.ts";
import { checkNameLimits, loadTopology, loadTopologySync } from "./store/regions.ts";
import { ciGuard, isCi, loadIdentities, matchRecipients, tokenIdentity } from "./store/identities.ts";
import { parsePkcs11Uri } from "./pkcs11/uri.ts";
import type { VerifyReport } from "./store/verify.ts";
import { assertUntampered } from "./store/tamper.ts";
import { assertCustody } from "./store/custody.ts";
import { readProbeRecords } from "./store/probe-records.ts";
import type { ProbeReport } from "./probe/run-probe.ts";
import { probeDrift, type DriftFinding } from "./check/probe-drift.ts";
import { entryRef, writesWithin } from "./store/domains.ts";
import { parseSavedPlan, savedPlan, stateChange, stateFiles, type AfterHook, type SavedPlan } from "./store/plan-file.ts";
import { stateView, type PkiState } from "./model/view.ts";
import type { Snapshot, Topology } from "./model/state.ts";
import { granted, isDenied } from "./runtime.ts";
import { pkiDir } from "./store/pki-dir.ts";

export { pkiDir };
import { canonicalJson } from "./model/custody-record.ts";

// openPki(): the library's front door and the one owner of a run — snapshot, lock, recovery,
// custody, plan, check, tamper check, apply (STYLE 13). lib/cli parses flags, asks and prints;
// runbooks (lib/task.ts) and operators' zx scripts call the same object.

type Env = Readonly<Record<string, string | undefined>>;

export interface OpenOptions {
  /** The pki directory (created by the first `root().init()` plan). */
  readonly dir: string;
  /** The regions directory: one JSON file per region. Default "regions". */
  readonly regions?: string;
  /** The clock of every plan (default: the real time when each call starts). */
  readonly at?: Date;
  /** Where INFORGE_* settings and identities are read from (default: process.env). */
  readonly env?: Env;
}

/** Where and when a run happens (what the CLI's RunContext carries). */
export interface RunContext {
  readonly dir: string;
  readonly regions: string;
  readonly now: Date;
  readonly env: Env;
  readonly planOnly: boolean;
  readonly json: boolean;
}

export interface RunOptions {
  readonly title: string;
  readonly command: string;
  /** For `pki init`: where to write the new root identity instead of printing it. */
  readonly identityOut?: string;
  readonly waitMs?: number;
  /** Where lines go; `tone` lets a terminal caller colour them. Default: stdout. */
  readonly print?: (s: string, tone?: "ok" | "strong") => void;
  /** The plan as text, printed before anything is applied (the CLI's table); absent: not printed. */
  readonly render?: (plan: Plan, ids: Identities, title: string) => string;
  /** Asked after the plan is printed and checked, before the apply; false stops with nothing changed. */
  readonly confirm?: (plan: Plan) => Promise<boolean>;
  /** Progress while applying: steps done of total. */
  readonly onStep?: (done: number, total: number) => void;
  readonly onEnd?: () => void;
  /** Leaves issued at once (`--concurrency`); apply's default when absent. */
  readonly concurrency?: number;
  /** Lock the whole directory even for a one-scope run (set when such a run's plan writes shared files). */
  readonly wholeDirectory?: boolean;
  /** Apply exactly this saved plan, or refuse (its intents replace `intents`). */
  readonly saved?: SavedPlan;
  /** With planOnly: also build the saved plan (state digest) to write to a file. */
  readonly save?: { readonly task: string; readonly after?: AfterHook };
}

export interface RunOutcome {
  readonly plan: Plan;
  readonly result: ApplyResult | null;
  /** With `save`: the plan bound to the state it was made on. */
  readonly saved?: SavedPlan;
  /** The confirm() answer was no: nothing was changed. */
  readonly declined?: boolean;
  /** The journal entry the run committed, named by its journal: "pki#12", or "eu#1" for a one-region run. */
  readonly entry?: string;
}

/** A checked plan from pki.plan(): print it (`text`), save it (JSON.stringify), apply it. */
export type PkiPlan = SavedPlan & { readonly plan: Plan };

export interface PkiStatus {
  readonly at: string;
  /** "ok", or "critical" when a trust invariant is broken, "warning" when work is due. */
  readonly health: "ok" | "warning" | "critical";
  readonly problems: readonly Issue[];
  readonly pending: readonly Issue[];
  /** What the last `pki probe` saw services serve against what they should (lib/check/probe-drift.ts). */
  readonly drift: readonly DriftFinding[];
  readonly state: PkiState;
}

export interface Pki {
  readonly dir: string;
  readonly regions: string;
  /** The state when opened; `refresh()` reads it again. */
  readonly state: PkiState;
  refresh(): Promise<PkiState>;
  /** Plan and check intents (nothing changes): a plan that apply() takes, or JSON.stringify saves. */
  plan(intents: Intent | readonly Intent[], o?: { readonly task?: string }): Promise<PkiPlan>;
  /** Apply a plan from plan() or a saved plan file's content, exactly, or refuse naming what changed. */
  apply(plan: PkiPlan | SavedPlan | string, o?: { readonly concurrency?: number }): Promise<ApplyResult>;
  status(): Promise<PkiStatus>;
  verify(o?: { readonly since?: string }): Promise<VerifyReport>;
  /**
   * `pki probe` (CI posture): connect to every endpoint the region files list (or one region's),
   * report what each serves and whether it trusts a prepared generation; recorded in the journal.
   */
  probe(o?: { readonly region?: string; readonly concurrency?: number; readonly timeoutMs?: number; readonly budgetMs?: number }): Promise<ProbeReport>;
}

/** Open the pki directory at `o.dir`: reads its state (it may not exist yet: before init). */
export async function openPki(o: OpenOptions): Promise<Pki> {
  const env = o.env ?? (globalThis as { process?: { env: Env } }).process?.env ?? {};
  ciGuard(env);
  const dir = pkiDir(o.dir);
  const regions = resolve(o.regions ?? "regions");
  const clock = () => o.at ?? new Date();
  const ctx = (planOnly: boolean): RunContext => ({ dir, regions, now: clock(), env, planOnly, json: true });
  const quiet = () => {};
  const read = async () => readState(dir, regions, clock(), env);
  let state = await read();
  const pki: Pki = {
    dir, regions,
    get state() {
      return state;
    },
    refresh: async () => (state = await read()),
    async plan(intents, p = {}) {
      const list = Array.isArray(intents) ? (intents as Intent[]) : [intents as Intent];
      const task = p.task ?? "script";
      const out = await runIntents(list, ctx(true), { title: task, command: task, print: quiet, save: { task } });
      // `plan` is not enumerable: JSON.stringify(pkiPlan) is exactly the saved plan file.
      return Object.freeze(Object.defineProperty({ ...out.saved! }, "plan", { value: out.plan, enumerable: false })) as PkiPlan;
    },
    async apply(given, a = {}) {
      const saved = parseSavedPlan(typeof given === "string" ? given : JSON.parse(JSON.stringify(given)), "the plan");
      // print: the default (stdout) — a root init made here shows its new identity there.
      const out = await runIntents(saved.intents, ctx(false), {
        title: saved.title, command: `openPki().apply(${saved.task})`, saved, ...(a.concurrency ? { concurrency: a.concurrency } : {}),
      });
      state = await read();
      if (!out.result) throw new StateError(`the plan of ${saved.task} has nothing to apply (${out.plan.notes[0] ?? "no steps"})`);
      return out.result;
    },
    async status() {
      const store = new FsStore(dir);
      if (!(await store.exists())) throw new InputError(`no pki directory at ${dir}; run inforge pki init first, or point dir at it`);
      const s = await readSnapshot(store);
      await assertCustody(store, s, env, { allowMissing: true, note: (n) => process.stderr.write(`inforge: ${n}\n`) });
      const now = clock();
      const problems = checkState(s);
      const pending = pendingWork(s, now.getTime());
      state = stateView(s, await loadTopology(regions), now);
      // Drift from the last probe (issue 18), as `pki status` reports it.
      const records = s.config ? await readProbeRecords(store, s).catch((e: unknown) => (e instanceof StateError ? null : Promise.reject(e))) : null;
      const drift = s.config && records ? probeDrift(s, records.records, now.getTime(), s.config) : [];
      const health = problems.length || drift.some((d) => d.severity === "critical") ? "critical" : pending.length || state.leavesDue.length || drift.length ? "warning" : "ok";
      return Object.freeze({ at: now.toISOString(), health, problems, pending, drift, state });
    },
    async verify(v = {}) {
      // Loaded when asked for: verify reads foreign shapes with @peculiar/x509, which a renewal never loads.
      const { verifyDir } = await import("./store/verify.ts");
      return verifyDir(dir, { now: clock(), identities: await loadIdentities(env), env, history: v.since === undefined ? {} : { since: v.since } });
    },
    async probe(p = {}) {
      const { runProbe } = await import("./probe/run-probe.ts");
      return runProbe({ dir, regions, now: clock(), env, command: `openPki().probe(${p.region ?? ""})`, ...p });
    },
  };
  return pki;
}

/**
 * The typed view of the directory at `dir` (an empty one before init). A view of a tree whose
 * pki.json or roots are not what the root signed would mislead: refused, as `pki status` does.
 */
export async function readState(dir: string, regions: string, now: Date, env: Env): Promise<PkiState> {
  const store = new FsStore(dir);
  const [s, t]: [Snapshot, Topology] = await Promise.all([readSnapshot(store), loadTopology(regions)]);
  if (s.config) await assertCustody(store, s, env, { allowMissing: true, note: () => {} });
  return stateView(s, t, now);
}

/**
 * A runbook's `ctx.state`: the same view, read synchronously when run() first asks for it, and
 * without the custody check — the run it feeds checks custody before it plans anything, with
 * `pki config`'s leave to find pki.json changed.
 */
export function readStateSync(dir: string, regions: string, now: Date): PkiState {
  return stateView(readSnapshotSync(new FsStore(dir)), loadTopologySync(regions), now);
}

/**
 * The scope a run may lock alone (lib/store/domains.ts): CI-posture work on one scope's leaves.
 * Null: the run locks the whole directory.
 */
function scopeOfIntents(intents: readonly Intent[]): string | null {
  const scopes = new Set<string>();
  for (const i of intents) {
    if ((i.kind === "leaves.renew" || i.kind === "leaf.rotate" || i.kind === "leaf.revoke" || i.kind === "leaf.sign-csr") && i.scope !== "all") scopes.add(i.scope);
    else return null;
  }
  return scopes.size === 1 ? [...scopes][0]! : null;
}

const POSTURE_HINT = {
  root: "run it on the offline operator workstation that holds INFORGE_PKI_ROOT_KEY",
  ci: "run it in CI (or the infra repo) with INFORGE_SECRETS_KEY",
} as const;

/** The token a `--root-in pkcs11:…` names, if any intent makes a root key on one. */
function rootInToken(intents: readonly Intent[]): RootToken | undefined {
  for (const i of intents) {
    if ((i.kind === "root.init" || i.kind === "root.rotate") && i.rootIn && i.rootIn !== "age" && i.rootIn.uri) {
      return tokenIdentity(parsePkcs11Uri(i.rootIn.uri, "--root-in"));
    }
  }
  return undefined;
}

/** intents → plan → check → (print) → apply, under the directory lock. */
export async function runIntents(intents: readonly Intent[], ctx: RunContext, o: RunOptions): Promise<RunOutcome> {
  const print = o.print ?? ((s: string) => process.stdout.write(s + "\n"));
  ciGuard(ctx.env);
  const ids = await loadIdentities(ctx.env);
  const init = intents.some((i) => i.kind === "root.init");
  if (init && isCi(ctx.env) && !ctx.planOnly) {
    throw new PostureError("inforge pki init creates the offline root and prints its identity; it must not run in CI (CI is set) — run it on the offline operator workstation", "root");
  }
  // --json promises one JSON document on stdout; the new root identity must not travel in it.
  if (init && ctx.json && !o.identityOut && !ctx.planOnly) {
    throw new InputError("inforge pki init --json needs --identity-out FILE: the new root identity is never printed with the JSON report, so give the file (outside the pki directory, e.g. on removable media) it is written to; nothing was created");
  }
  if (init && o.identityOut) await checkIdentityOut(o.identityOut, ctx.dir);
  if (!init && !(await new FsStore(ctx.dir).exists())) {
    throw new InputError(`no pki directory at ${ctx.dir}; run inforge pki init first, or point --dir / INFORGE_PKI_DIR at it`);
  }
  // INFORGE_TIMINGS=1: where a run's time went, on stderr (the benchmark's breakdown). Under Deno
  // it counts only when --allow-env grants it (asking would prompt, or fail, mid-run).
  const lap = laps(envIfGranted(ctx.env, "INFORGE_TIMINGS"));
  // One region's renewal locks only that scope, so CI can renew regions in parallel jobs.
  // A saved plan is bound to the whole directory's state: it locks the whole directory.
  const scope = o.wholeDirectory || o.saved ? null : scopeOfIntents(intents);
  const existed = await new FsStore(ctx.dir).exists();
  const lock = ctx.planOnly ? null : await acquireLock(await ensureDir(ctx.dir), o.command, ctx.now, o.waitMs ?? 0, scope);
  const store = new FsStore(ctx.dir, lock ? { run: lock.run, domain: lock.domain } : {});
  let stopWorkers: (() => Promise<void> | undefined) | undefined;
  try {
    if (!ctx.planOnly) await store.recover();
    lap("lock+recover");
    // Read before the snapshot: a run that lands in between makes the saved state older than
    // the plan, so applying refuses — never the other way round.
    const files = o.save || o.saved ? (existed || !ctx.planOnly ? await stateFiles(ctx.dir) : {}) : null;
    if (o.saved && files) {
      const moved = stateChange(o.saved.state, files);
      if (moved) {
        throw new StateError(`the pki directory changed since the plan of ${o.saved.task} was made (${o.saved.now}): ${moved}; nothing was changed — make and review the plan again (--plan --out)`);
      }
    }
    const [snapshot, topology] = await Promise.all([readSnapshot(store), loadTopology(ctx.regions)]);
    lap("read state");
    // A broken journal or a file changed behind our back stops the run — judged only when there
    // is something to write: a no-op renewal reads and hashes no file of the fleet here (a fleet's
    // workers may have begun the check; a plan with nothing to do stops them, unjudged).
    // A plan that only makes certificates runs the check beside the apply — on a mint worker
    // from before the plan, or here beside the steps — and reaches its commit point only once it
    // has passed; a step with an effect outside the commit (an identity revealed, a key made on a
    // token) waits for it.
    // Run once, where it is first asked for; its milliseconds and where it ran go to INFORGE_TIMINGS.
    let untampered: { readonly took: Promise<number>; readonly where: string } | undefined;
    const tamperOrder = { dir: store.dir, domain: store.domain, shippedLeaves: snapshot.config?.leafFiles === "shipped" };
    const tamperCheck = (mw: MintWorkers | null = null): Promise<number> => {
      if (!untampered) {
        const t = performance.now();
        const took = mw?.tamper ?? (mw ? mw.tamperCheck(tamperOrder) : assertUntampered(store, { shippedLeaves: tamperOrder.shippedLeaves })).then(() => performance.now() - t);
        untampered = { took, where: mw ? "on a worker" : "beside" };
      }
      return untampered.took;
    };
    // A fleet mints on worker threads: they start now and take the tamper check as their first
    // job (it only reads, under the lock), while this thread plans, checks and opens the issuers.
    // Stopped by apply once its leaves are made, or by the finally below (a plan with nothing to
    // do stops them mid-check: it writes nothing).
    const requested = mintWorkersSetting(envIfGranted(ctx.env, "INFORGE_MINT_WORKERS"));
    let workers: Promise<MintWorkers | null> | undefined;
    const startWorkers = (leaves: number) => {
      if (workers) return workers;
      const count = mintWorkerCount(leaves, requested);
      workers = count ? MintWorkers.start(count, tamperOrder) : Promise.resolve(null);
      return workers;
    };
    stopWorkers = () => workers?.then((mw) => mw?.close());
    // Started before the plan — and before custody is judged, which they do not wait for: they only
    // read, and a run whose custody fails stops them unjudged — only when enough leaves of this
    // run's scopes are due by their dates
    // (a daily no-op renewal of a fleet starts no thread and reads nothing); any other plan that
    // needs them (a fleet's first leaves, a new issuer) starts them once it is made.
    let due = 0;
    try {
      const renewAt = snapshot.config ? timing(snapshot.config).renewAt : null;
      if (renewAt !== null) {
        for (const [s, idx] of Object.entries(snapshot.leaves)) {
          if (store.domain === null || s === store.domain) due += Object.values(idx.leaves).filter((l) => ctx.now.getTime() >= leafDueAt(l, renewAt)).length;
        }
      }
    } catch {
      // A pki.json whose timings do not parse: no early workers; custody, below, says what is wrong.
    }
    if (!ctx.planOnly && mintWorkerCount(due, requested)) startWorkers(due);
    // Custody before anything is planned (DESIGN invariant 6): pki.json is what the root signed, the
    // record is genuine, the roots are anchored on INFORGE_ROOT_FINGERPRINT. `pki config` is the
    // one run that may find pki.json changed (or a tree without a record): it signs the change.
    const accepting = intents.some((i) => i.kind === "root.config");
    const custody = await assertCustody(store, snapshot, ctx.env, { compareFields: !accepting, allowMissing: accepting, note: (s) => process.stderr.write(`inforge: ${s}\n`) });
    lap("custody");
    const initDomain = intents.find((i) => i.kind === "root.init")?.domain;
    if (snapshot.config) checkNameLimits(topology, snapshot.config.domain, ctx.regions, `pki.json ("${snapshot.config.domain}")`);
    else if (initDomain) checkNameLimits(topology, initDomain, ctx.regions, `--domain "${initDomain}"`);
    matchRecipients(ids, snapshot.config);
    const done = lock ? await finishedRun(store, lock, o.command, init ? o.identityOut : undefined, snapshot.config?.recipients.root) : null;
    if (done) {
      if (!ctx.json) print(done, "ok");
      return { plan: makePlan([], snapshot, topology, ctx.now), result: null };
    }
    if (init && o.identityOut && !snapshot.config) await identityOutFree(o.identityOut);
    // promotion: "probe" — only records the journal holds and their generation signed count (issue 18).
    const probes = snapshot.config?.promotion === "probe" ? await readProbeRecords(store, snapshot) : null;
    for (const r of probes?.rejected ?? []) process.stderr.write(`inforge: ${r.message}\n`);
    const plan = makePlan(intents, snapshot, topology, o.saved ? new Date(o.saved.now) : ctx.now, probes?.records);
    lap("plan");
    if (o.saved && canonicalJson(savedPlan(plan, o.saved.state, o.saved.task, o.saved.title).steps) !== canonicalJson(o.saved.steps)) {
      throw new StateError(`the plan of ${o.saved.task} no longer plans the steps it lists on this state (the regions or the pki configuration changed, or the file was edited); nothing was changed — make and review the plan again (--plan --out)`);
    }
    if (lock?.domain != null && !writesWithin(plan.steps.flatMap((s) => s.writes), lock.domain)) {
      // The plan also changes shared files (a promotion or retirement rewrites bundles/global.pem):
      // run it again under the whole directory's lock, against a snapshot taken under that lock.
      await stopWorkers?.(); // their check read this scope's snapshot; the re-run makes its own
      await lock.release();
      return runIntents(intents, ctx, { ...o, wholeDirectory: true });
    }
    if (!ctx.json && o.render) print(o.render(plan, ids, o.title));
    lap("print plan");
    const checked = assertChecked(plan);
    lap("check");
    if (ctx.planOnly) {
      if (!ctx.json) print("--plan: nothing was changed", "strong");
      return { plan, result: null, ...(o.save && files ? { saved: savedPlan(plan, files, o.save.task, o.title, o.save.after) } : {}) };
    }
    for (const p of identitiesNeeded(plan)) {
      if (!hasIdentity(ids, p)) {
        throw new PostureError(
          `this plan needs the ${p === "root" ? "offline root" : "CI master"} identity (${p === "root" ? "root" : "CI"} posture), but ${IDENTITY_VAR[p]} is not set; ${POSTURE_HINT[p]}: ${o.command}. Nothing was changed`,
          p,
        );
      }
    }
    if (!checked.steps.length) return { plan, result: null };
    const beside = !checked.steps.some((s) => s.kind === "create-root-identity" || (s.kind === "create-root" && s.keyIn));
    if (o.confirm && !(await o.confirm(plan))) return { plan, result: null, declined: true };
    if (!beside) {
      await tamperCheck();
      lap("tamper check");
    }
    // --root-in pkcs11:…: log in before anything happens (a wrong PIN must stop init before it reveals an identity).
    const newRootToken = rootInToken(intents);
    if (newRootToken) await newRootToken.open();
    const result = await apply(checked, {
      store, identities: ids, command: o.command, trusted: custody?.recipients ?? null, ...(newRootToken ? { newRootToken } : {}),
      revealRootIdentity: (id) => revealRoot(id, o.identityOut, print),
      ...(o.onStep ? { onStep: o.onStep } : {}),
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      workers: startWorkers(leavesOf(checked)),
      // On a worker if they started (its first job, maybe under way already), else here.
      ...(beside ? { beside: () => startWorkers(leavesOf(checked)).then((mw) => tamperCheck(mw)) } : {}),
    }).catch(async (e: unknown) => {
      await tamperCheck(); // a tampered tree is the cause to report, whatever a step met in it
      throw e;
    }).catch(damagedFile).finally(() => o.onEnd?.());
    const notes = [
      ...(beside ? [`tamper ${(await tamperCheck()).toFixed(0)} ms ${untampered?.where}`] : []),
      ...(result.mintWorkers ? [`${result.mintWorkers} mint workers (${result.mintedOnWorkers} of ${leavesOf(checked)} leaves)`] : []),
      ...(store.logStreamed ? ["redo log streamed"] : []),
      ...(store.flushed ? [store.flushed === "syncfs" ? "flushed by syncfs" : "flushed file by file"] : []),
    ];
    lap("apply", result.timings, notes.join(", ") || undefined);
    if (init && o.identityOut) await promoteIdentity(o.identityOut);
    // One-region runs number their scope's own journal: name it, so "eu#1" and "us#1" are not one entry.
    const entry = entryRef(store.domain, result.entry.seq);
    if (!ctx.json) print(`applied: ${checked.steps.length} step(s), ${result.written.length} file(s) written in ${ctx.dir} (journal entry ${entry})`, "ok");
    const pin = pinAdvice(checked, result);
    if (pin) (ctx.json ? (s: string) => process.stderr.write(s + "\n") : print)(pin);
    return { plan, result, entry };
  } finally {
    await stopWorkers?.();
    await lock?.release();
    // An init that failed leaves no empty pki directory behind (rmdir removes only an empty one).
    if (!existed) await rmdir(ctx.dir).catch(() => {});
  }
}

/**
 * After a plan that made a root: its fingerprint, and the INFORGE_ROOT_FINGERPRINT line for CI
 * (the anchor pinned outside the repo). During a root overlap both roots are listed.
 */
function pinAdvice(plan: Plan, result: ApplyResult): string | null {
  const made = plan.steps.flatMap((s) => (s.kind === "create-root" ? [s.gen] : []));
  const live = result.state.root.generations.filter((g) => g.state === "active" || g.state === "retiring" || g.state === "prepared");
  if (plan.steps.some((s) => s.kind === "set-state" && s.scope === "root" && s.to === "retired")) {
    return `the root overlap is finished: the pinned roots (CI's settings, this workstation) can now be just INFORGE_ROOT_FINGERPRINT=${live.map((g) => g.fingerprint).join(",")}`;
  }
  if (!made.length) return null;
  const lines = made.map((gen) => `root G${gen} fingerprint (SHA-256 of its certificate): ${result.state.root.generations.find((g) => g.gen === gen)?.fingerprint}`);
  const all = live.map((g) => g.fingerprint).join(",");
  lines.push(live.length > 1
    ? `add it to the pinned roots in CI's settings and on this workstation (keep the old one until the overlap is finished): INFORGE_ROOT_FINGERPRINT=${all}`
    : `pin it in CI's settings and on this workstation (outside this repo), so every run refuses a root it does not anchor: INFORGE_ROOT_FINGERPRINT=${all}`);
  return lines.join("\n");
}

/**
 * A certificate or sealed key of the pki directory that cannot be parsed or opened while applying
 * is a damaged file, not an operator mistake (the identity was already matched to pki.json): say
 * so, and how to fix it, instead of lib/x509's or lib/age's generic advice.
 */
function damagedFile(e: unknown): never {
  const x = e as { name?: string; code?: string; message?: string; origin?: string };
  const inTree = (p: string | undefined) => p !== undefined && /^(root|scopes|leaves|bundles|crl)\/\S+$/.test(p);
  if (x?.name === "X509Error" && (x.code === "not-pem" || x.code === "bad-der") && inTree(x.message?.split(" ")[0])) {
    throw new StateError(`${x.message}; restore it from git (inforge pki verify lists every damaged file)`);
  }
  if (x?.name === "AgeError" && /^open\.(not-age|wrong-identity|not-text)$/.test(x.code ?? "") && inTree(x.origin)) {
    throw new StateError(`${x.message} — the identity is the one pki.json names, so ${x.origin} itself is wrong: restore it from git (inforge pki verify lists every damaged file)`);
  }
  throw e;
}

function envIfGranted(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  if (!granted({ name: "env", variable: name })) return undefined;
  try {
    return env[name];
  } catch {
    return undefined;
  }
}

/** The leaves a plan issues. */
const leavesOf = (p: Plan) => p.steps.reduce((n, s) => n + (s.kind === "issue-leaf" ? 1 : 0), 0);

/**
 * INFORGE_MINT_WORKERS=N: worker threads that mint a run's leaves, whatever its size, instead of
 * one per core but the main thread's (at most 4) from MINT_WORKERS_FROM leaves — for a CI
 * container whose CPU quota is below the host's core count, which is what Node reports; 0 mints
 * every leaf on the main thread.
 */
function mintWorkersSetting(v: string | undefined): number | undefined {
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 16) throw new InputError(`invalid INFORGE_MINT_WORKERS "${v}"; give the number of worker threads that mint leaves, 0 to 16 (0: none), or unset it for one per core`);
  return n;
}

/** A stopwatch printing each lap to stderr when `enabled`; a no-op otherwise. */
function laps(enabled: string | undefined): (what: string, parts?: Record<string, number>, note?: string) => void {
  if (!enabled) return () => {};
  let t = performance.now();
  // From the process's start (its time origin) to here: start-up, modules, arguments, the task.
  process.stderr.write(`inforge timing: start ${t.toFixed(0)} ms\n`);
  return (what, parts, note) => {
    const now = performance.now();
    const items = parts ? Object.entries(parts).map(([k, v]) => `${k} ${v.toFixed(0)} ms`) : [];
    if (note) items.push(note);
    const detail = items.length ? ` (${items.join(", ")})` : "";
    process.stderr.write(`inforge timing: ${what} ${(now - t).toFixed(0)} ms${detail}\n`);
    t = now;
  };
}

/**
 * The pki directory (a real path, lib/runbook/context.ts: no symlink above it), created with an
 * explicit mode when new — mkdir's mode applies to every level it creates, so umask 000 cannot
 * make it 0777.
 */
async function ensureDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE }).catch((e: unknown) => {
    throw ioFailure(e, "nothing was changed");
  });
  return dir;
}

async function checkIdentityOut(path: string, dir: string): Promise<void> {
  // Compared by real path: a symlink or `..` route into the pki directory is still inside it.
  const p = resolve(path);
  if (within(realPath(p), realPath(dir))) {
    throw new InputError(`--identity-out "${path}" is inside the pki directory; the root identity must never be stored with the keys it opens — write it to removable media or a password manager`);
  }
  if (!(await stat(dirname(p)).then((s) => s.isDirectory(), notFound))) throw new InputError(`--identity-out "${path}": the directory ${dirname(p)} does not exist`);
}

// A Deno permission refusal is not "absent": say which flag is missing instead of guessing.
const notFound = (e: unknown): false => {
  if (isDenied(e)) throw e;
  return false;
};
// lstat: a dangling symlink at --identity-out is something there, not a free name.
const exists = (p: string) => lstat(p).then(() => true, notFound);
/** Where init writes the new root identity first; it becomes --identity-out once the root is committed. */
const partialOf = (out: string) => resolve(out) + ".partial";

async function identityOutFree(path: string): Promise<void> {
  if (await exists(resolve(path))) throw new InputError(`--identity-out "${path}" already exists; choose a new file (an existing identity is never overwritten)`);
}

/**
 * A run of this same command was killed after its commit point and its work is on disk now
 * (rolled forward by recover() just now, or complete before the kill: the last journal entry is
 * the dead lock holder's). Doing it again would not give the tree an uninterrupted run gives —
 * a second recover-intermediate would revoke the fresh generation too — so say it is done.
 * For init, the root identity of a committed root is moved to --identity-out if it is not there yet.
 */
async function finishedRun(store: FsStore, lock: Lock, command: string, identityOut: string | undefined, rootRecipient: string | undefined): Promise<string | null> {
  if (identityOut && rootRecipient && !(await exists(resolve(identityOut))) && (await exists(partialOf(identityOut)))) {
    const id = await parseIdentity(await readFile(partialOf(identityOut), "utf8"), partialOf(identityOut)).catch(() => null);
    if (id?.recipient === rootRecipient) {
      await promoteIdentity(identityOut);
      return `the interrupted inforge pki init had committed the root; its identity is now in ${identityOut} — move it offline`;
    }
  }
  const last = store.recovered ?? (lock.tookOver?.run ? await store.lastEntry() : null);
  const finished = last && last.command === command && (last === store.recovered || last.run === lock.tookOver?.run);
  return finished ? `the interrupted run of "${command}" had committed its work (journal entry ${entryRef(store.domain, last.seq)}); it is finished now and nothing else needs doing` : null;
}

/** Move the committed root's identity from its .partial file to --identity-out, never over an existing file. */
async function promoteIdentity(out: string): Promise<void> {
  const p = resolve(out);
  try {
    await link(partialOf(out), p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new InputError(`the new root identity is in ${partialOf(out)}, but it could not be moved to --identity-out "${out}" (${(e as Error).message}); move it by hand — the root key is sealed to it`);
  }
  await unlink(partialOf(out));
  await fsyncDir(dirname(p));
}

/** Shown (or written) once, before anything is sealed to it. */
async function revealRoot(id: Identity, out: string | undefined, print: (s: string, tone?: "ok" | "strong") => void): Promise<void> {
  const text = `# inforge offline root identity — keep offline; set INFORGE_PKI_ROOT_KEY to this file on the operator workstation\n# public key: ${id.recipient}\n${id.secret}\n`;
  if (out) {
    // Durable before anything is sealed to it, under a temporary name until the root is committed:
    // a run killed in between leaves no identity at --identity-out that opens nothing, and the
    // re-run of the same command finds the one that opens the committed root (see finishedRun).
    // Created anew (O_EXCL, no symlink followed): a planted `root.key.partial -> victim` is
    // unlinked, never written through.
    await writeDurable(partialOf(out), text, 0o600);
    await fsyncDir(dirname(resolve(out)));
    process.stderr.write(`the new root identity is written to ${out} (mode 0600) once the root is committed; move it offline — it is shown nowhere else\n`);
    return;
  }
  print("NEW ROOT IDENTITY — shown once, store it offline now (it is not saved anywhere):", "strong");
  print(text.trimEnd());
}

