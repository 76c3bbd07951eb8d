import { readFile, readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CheckError, InputError, PostureError, StateError } from "../errors.ts";
import { plan as makePlan } from "../plan/planner.ts";
import { parseRelease, type Release, type ReleaseEntry } from "../deliver/release.ts";
import { FsStore } from "../store/fs-store.ts";
import { checkNameLimits, loadTopology } from "../store/regions.ts";
import { readSnapshot } from "../store/snapshot.ts";
import { assertCustody } from "../store/custody.ts";
import type { Args } from "../runbook/args.ts";
import { nearest } from "../runbook/args.ts";
import type { RunContext } from "../runbook/context.ts";
import { absentLeaves, checkOut, ciIdentity, deliver, deployIntent, flush, mintedBy, parseWait, type Delivered, type Target } from "./deploy.ts";
import { runIntents, type RunOutcome } from "../runbook/pipeline.ts";
import { bold, green, red, table, yellow } from "../term/style.ts";

// `inforge releases deploy <release>` (CI posture): deliver every service a release names.
// Every leaf the release needs is minted in ONE plan (one check, one commit); regions whose plan
// cannot be made (no intermediate yet, unknown service, …) are left out of it and reported.
// Then each service's directory is written. A partial failure says exactly what was and was not
// delivered and exits 1; running it again mints and writes only what is still missing.

/** releases/<name>.json, or INFORGE_RELEASES_DIR / --releases. */
export function releasesDir(a: Args, env: Readonly<Record<string, string | undefined>>): string {
  const f = a.flags.releases;
  if (f === true) throw new InputError("--releases needs a directory");
  return resolve(f ?? env.INFORGE_RELEASES_DIR ?? "releases");
}

export async function loadRelease(dir: string, name: string): Promise<Release & { readonly file: string }> {
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(name)) throw new InputError(`invalid release name "${name}"; a release is releases/<name>.json with a lowercase name such as 2026-12-checkout`);
  const path = join(dir, `${name}.json`);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    const known = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5));
    const near = nearest(name, known);
    throw new InputError(`no release "${name}" (${path})${near ? ` — did you mean "${near}"?` : ""}; known: ${known.join(", ") || "none"}; add ${path}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new InputError(`${path} is not valid JSON; fix it (expected {"name": "${name}", "deploy": [{"region": "eu", "services": ["payments"]}]})`);
  }
  return { ...parseRelease(data, path, name), file: `releases/${name}.json` };
}

type Outcome = { readonly target: Target; readonly result: Delivered | Error };

export async function releasesCommand(a: Args, ctx: RunContext, command: string): Promise<number> {
  const [, sub, name] = a.positionals;
  if (sub !== "deploy") throw new InputError(`unknown command "inforge releases ${sub ?? ""}"; use inforge releases deploy <release>`);
  if (!name) throw new InputError("missing release; for example: inforge releases deploy 2026-12-checkout (releases/<name>.json)");
  if (a.positionals.length > 3) throw new InputError(`unexpected argument "${a.positionals[3]}"; deploy one release at a time`);
  const release = await loadRelease(releasesDir(a, ctx.env), name);
  const outFlag = a.flags.out;
  if (outFlag === true) throw new InputError("--out needs a directory");
  const base = await checkOut(outFlag ?? "deploy", ctx.dir, {
    allowInRepo: a.flags["allow-in-repo"] === true,
    subdirs: release.entries.flatMap((e) => e.services.map((s) => join(e.scope, s))),
  });
  const ci = await ciIdentity(ctx, `inforge releases deploy ${name}`);
  const waitMs = parseWait(a);
  if (!(await new FsStore(ctx.dir).exists())) throw new InputError(`no pki directory at ${ctx.dir}; run inforge pki init first, or point --dir / INFORGE_PKI_DIR at it`);

  // Which entries can be planned at all: the pure planner on the current state, one entry at a time.
  const refused = new Map<string, string>(); // "scope/service" → why not delivered
  const ready: ReleaseEntry[] = [];
  const [snapshot, topology] = await Promise.all([readSnapshot(new FsStore(ctx.dir)), loadTopology(ctx.regions)]);
  await assertCustody(new FsStore(ctx.dir), snapshot, ctx.env); // before anything is planned or delivered
  if (snapshot.config) checkNameLimits(topology, snapshot.config.domain, ctx.regions, `pki.json ("${snapshot.config.domain}")`);
  // pki.json leafFiles "shipped": leaves this checkout lacks are minted anew (lib/cli/deploy.ts absentLeaves).
  const absent = new Map<ReleaseEntry, string[]>();
  for (const e of release.entries) absent.set(e, await absentLeaves(ctx, ci, e.scope, e.services).catch(() => []));
  const intentOf = (e: ReleaseEntry) => deployIntent(e.scope, e.services, release.file, absent.get(e));
  for (const e of release.entries) {
    try {
      makePlan([intentOf(e)], snapshot, topology, ctx.now);
      ready.push(e);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      for (const s of e.services) refused.set(`${e.scope}/${s}`, err.message);
    }
  }

  // One plan, one commit, for every leaf the release needs.
  let outcome: RunOutcome | null = null;
  if (ready.length) {
    const held: string[] = []; // the plan is shown when it mints something (or on --plan)
    try {
      outcome = await runIntents(ready.map(intentOf), ctx, { title: `release ${release.name}`, command, waitMs, print: (s) => held.push(s) });
      if (outcome.plan.steps.length || ctx.planOnly) flush(held);
    } catch (err) {
      flush(held);
      if (err instanceof PostureError || !(err instanceof InputError || err instanceof CheckError || err instanceof StateError)) throw err;
      for (const e of ready) for (const s of e.services) refused.set(`${e.scope}/${s}`, err.message);
      ready.length = 0;
    }
  }
  if (ctx.planOnly) {
    printRefused(release, refused);
    return refused.size ? 1 : 0;
  }

  const targets: Target[] = ready.flatMap((e) => e.services.map((service) => ({ scope: e.scope, service, out: join(base, e.scope, service) })));
  const progress = progressLine(targets.length, ctx);
  const results = targets.length
    ? await deliver(ctx, ci!, targets, mintedBy(outcome), command, waitMs, (t, r, n) => progress(t, r, n))
    : [];
  progress.end();
  const outcomes: Outcome[] = targets.map((target, i) => ({ target, result: results[i]! }));
  return summary(release, outcomes, refused, ctx);
}

/** On a terminal one line that rewrites itself; elsewhere (CI logs) one line per service. */
function progressLine(total: number, ctx: RunContext) {
  const tty = !!process.stderr.isTTY && !ctx.json;
  const f = (t: Target, r: Delivered | Error, n: number) => {
    const what = r instanceof Error ? "failed" : r.minted ? `minted (${r.minted})` : "reused";
    const line = `[${n}/${total}] ${t.scope}/${t.service} ${what}`;
    if (tty) process.stderr.write(`\r\x1b[K${line}`);
    else if (!ctx.json) process.stderr.write(`${line}\n`);
  };
  f.end = () => {
    if (tty && total) process.stderr.write("\r\x1b[K");
  };
  return f;
}

function summary(release: Release, outcomes: readonly Outcome[], refused: ReadonlyMap<string, string>, ctx: RunContext): number {
  const failed = new Map(refused);
  for (const o of outcomes) if (o.result instanceof Error) failed.set(`${o.target.scope}/${o.target.service}`, o.result.message);
  const delivered = outcomes.filter((o): o is { target: Target; result: Delivered } => !(o.result instanceof Error));
  const scopes = release.entries.map((e) => e.scope);
  const count = (scope: string, k: "minted" | "reused" | "failed") =>
    k === "failed"
      ? [...failed.keys()].filter((x) => x.startsWith(scope + "/")).length
      : delivered.filter((d) => d.target.scope === scope && (k === "minted" ? d.result.minted : !d.result.minted)).length;
  if (ctx.json) {
    process.stdout.write(JSON.stringify({
      schema: "inforge.release/v1", release: release.name, ok: failed.size === 0,
      delivered: delivered.map((d) => ({ scope: d.target.scope, service: d.target.service, out: d.target.out, minted: d.result.minted, changed: d.result.changed })),
      failed: [...failed].map(([k, why]) => ({ scope: k.split("/")[0], service: k.split("/")[1], error: why })),
    }) + "\n");
    return failed.size ? 1 : 0;
  }
  const rows = [["region", "minted", "reused", "failed"], ...scopes.map((s) => [s, String(count(s, "minted")), String(count(s, "reused")), String(count(s, "failed"))])];
  const out = [bold(`release ${release.name}`), table(rows)];
  if (failed.size) {
    out.push(green(`delivered (${delivered.length}): `) + (delivered.map((d) => `${d.target.scope}/${d.target.service}`).join(", ") || "none"));
    out.push(red(`not delivered (${failed.size}):`));
    for (const [k, why] of failed) out.push(`  ${k}: ${why}`);
    out.push(yellow(`fix the above and run inforge releases deploy ${release.name} again: what was delivered stays as it is, only what is missing is minted and written`));
  } else {
    out.push(green(`delivered all ${delivered.length} service(s) of ${release.name}`));
  }
  process.stdout.write(out.join("\n") + "\n");
  return failed.size ? 1 : 0;
}

function printRefused(release: Release, refused: ReadonlyMap<string, string>): void {
  if (!refused.size) {
    process.stdout.write(bold(`--plan: release ${release.name} would be delivered in full; nothing was changed`) + "\n");
    return;
  }
  const lines = [red(`--plan: ${refused.size} service(s) of ${release.name} could not be delivered:`), ...[...refused].map(([k, why]) => `  ${k}: ${why}`)];
  process.stdout.write(lines.join("\n") + "\n");
}
