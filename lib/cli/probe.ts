import { formatDuration } from "../model/duration.ts";
import type { EndpointResult } from "../model/probes.ts";
import { PROBE_DEFAULTS, runProbe, type ProbeReport } from "../probe/run-probe.ts";
import { InputError } from "../errors.ts";
import { parseDuration, parseWait } from "../model/duration.ts";
import type { Args } from "../runbook/args.ts";
import type { RunContext } from "../runbook/context.ts";
import { bold, dim, green, red, yellow } from "../term/style.ts";

// `inforge pki probe [--region R] [--json]` (CI posture): lib/probe does the work; this prints.

export async function probeCommand(a: Args, ctx: RunContext, command: string): Promise<number> {
  // Real services, real certificates: a simulated clock would mint a client certificate they refuse.
  if (a.flags.at !== undefined || ctx.env.INFORGE_NOW !== undefined) throw new InputError("inforge pki probe connects to running services and runs at the real time; drop --at / INFORGE_NOW");
  const region = a.flags.region;
  const c = a.flags.concurrency;
  const concurrency = typeof c === "string" ? Number(c) : PROBE_DEFAULTS.concurrency;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new InputError(`invalid --concurrency "${String(c)}"; give the number of endpoints probed at once, 1 to 256`);
  const t = a.flags.timeout;
  const timeoutMs = typeof t === "string" ? parseDuration(t) : PROBE_DEFAULTS.timeoutMs;
  if (timeoutMs === null || timeoutMs > 60_000) throw new InputError(`invalid --timeout "${String(t)}"; give how long one connection may take, at most 60s, such as 5s`);
  const report = await runProbe({
    dir: ctx.dir, regions: ctx.regions, now: ctx.now, env: ctx.env, command, concurrency, timeoutMs,
    ...(typeof region === "string" ? { region } : {}), waitMs: parseWait(a.flags.wait),
  });
  process.stdout.write(ctx.json ? JSON.stringify(report) + "\n" : renderProbe(report, ctx.now.getTime()) + "\n");
  return 0;
}

const DAY = 86_400_000;

function servedText(e: EndpointResult, now: number): string {
  const s = e.served!;
  const left = Date.parse(s.notAfter) - now;
  const who = s.issuer ? `${s.issuer.scope} G${s.issuer.gen}` : red("an unknown issuer");
  const life = left <= 0 ? red("expired") : left < DAY ? yellow(`${formatDuration(left)} left`) : `${formatDuration(left)} left`;
  const state = s.current ? "current" : s.issuer ? yellow("not the current leaf") : red("unknown leaf");
  const chain = s.verifies ? green("chain verifies") : red(`chain fails (${s.verifyError ?? "not trusted"})`);
  return `leaf of ${who}, ${state}, ${life}, ${chain}${s.nameMatches ? "" : red(", name mismatch")}`;
}

export function renderProbe(r: ProbeReport, now: number): string {
  const n = r.scopes.reduce((k, s) => k + s.endpoints.length, 0);
  const out = [bold(`probe — ${n} endpoint(s) in ${(r.ms / 1000).toFixed(1)} s`) + dim(` (recorded: journal entry ${r.entry})`)];
  for (const s of r.scopes) {
    out.push(`${bold(s.scope)}${s.prepared ? `  G${s.prepared.gen} prepared` : ""}`);
    const w = Math.max(...s.endpoints.map((e) => `${e.service}  ${e.address}`.length));
    for (const e of s.endpoints) {
      const head = `  ${`${e.service}  ${e.address}`.padEnd(w)}  `;
      if (e.outcome !== "tls") {
        out.push(head + yellow(`${e.outcome}: ${e.error ?? ""}`));
        continue;
      }
      const trust = e.trust ? `; trusts G${e.trust.gen}: ${e.trust.outcome === "accepted" ? green("accepted") : red(e.trust.outcome)}${e.trust.outcome === "accepted" ? "" : ` (${e.trust.detail ?? ""})`}` : "";
      out.push(head + servedText(e, now) + trust);
    }
    if (s.promotion) {
      out.push(s.promotion.ready
        ? green(`  promotion: every endpoint trusts G${s.prepared!.gen}; inforge pki renew --region ${s.scope} promotes it now`)
        : yellow(`  promotion of G${s.prepared!.gen} waits for: ${s.promotion.blockers.join("; ")}`));
    }
  }
  return out.join("\n");
}
