import { InputError, StateError } from "../errors.ts";
import { readProbeRecords } from "../store/probe-records.ts";
import { FsStore } from "../store/fs-store.ts";
import { readSnapshot } from "../store/snapshot.ts";
import { loadTopology } from "../store/regions.ts";
import { assertCustody } from "../store/custody.ts";
import type { Args } from "../runbook/args.ts";
import type { RunContext } from "../runbook/context.ts";
import { graphReport, renderGraph, type GraphFormat } from "./graph.ts";
import { checkExitCode, renderStatus, statusReport } from "./status.ts";

async function snapshot(ctx: RunContext) {
  return (await snapshotAndStore(ctx)).snap;
}

async function snapshotAndStore(ctx: RunContext) {
  const store = new FsStore(ctx.dir);
  if (!(await store.exists())) throw new InputError(`no pki directory at ${ctx.dir}; run inforge pki init first, or point --dir / INFORGE_PKI_DIR at it`);
  const snap = await readSnapshot(store);
  // A report of a tree whose pki.json or roots are not what the root signed would mislead: refuse.
  // A tree from before custody.json is still reported (verify flags it; mutating runs refuse it).
  await assertCustody(store, snap, ctx.env, { allowMissing: true, note: (s) => process.stderr.write(`inforge: ${s}\n`) });
  return { snap, store };
}

/** The last probe records for drift; a journal that cannot vouch for them is itself a finding. */
async function probeRecords(store: FsStore, snap: Awaited<ReturnType<typeof readSnapshot>>) {
  try {
    return await readProbeRecords(store, snap);
  } catch (e) {
    if (!(e instanceof StateError)) throw e;
    return { records: {}, rejected: [{ scope: "", file: "probes/", message: `the probe records are ignored: ${e.message}` }] };
  }
}

/** `inforge pki status [--json] [--check] [--calendar N] [--at T]` */
export async function statusCommand(a: Args, ctx: RunContext): Promise<number> {
  const { snap, store } = await snapshotAndStore(ctx);
  const cal = a.flags.calendar;
  const calendar = typeof cal === "string" ? Number(cal) : undefined;
  if (calendar !== undefined && !(Number.isInteger(calendar) && calendar >= 0)) throw new InputError(`invalid --calendar "${cal}"; give the number of upcoming events to show, such as 20`);
  const topology = await loadTopology(ctx.regions);
  const probes = await probeRecords(store, snap);
  const report = statusReport(snap, ctx.now, { topology, probes });
  if (ctx.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else process.stdout.write(renderStatus(snap, ctx.now, calendar === undefined ? { topology, probes } : { topology, probes, calendar }) + "\n");
  return a.flags.check ? checkExitCode(report) : 0;
}

/** `inforge pki graph [--format mermaid|dot | --json]` */
export async function graphCommand(a: Args, ctx: RunContext): Promise<number> {
  const f = a.flags.format ?? "mermaid";
  if (f !== "mermaid" && f !== "dot") throw new InputError(`unknown graph format "${String(f)}"; use --format mermaid or --format dot`);
  if (ctx.json && a.flags.format !== undefined) throw new InputError(`--json and --format ${String(f)} ask for two outputs; give one`);
  if (ctx.json) process.stdout.write(JSON.stringify(graphReport(await snapshot(ctx))) + "\n");
  else process.stdout.write(renderGraph(await snapshot(ctx), f as GraphFormat) + "\n");
  return 0;
}
