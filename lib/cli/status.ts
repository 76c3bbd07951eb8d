import { checkState, pendingWork } from "../check/check-state.ts";
import { timing } from "../model/config.ts";
import { formatDuration } from "../model/duration.ts";
import type { Generation, Snapshot } from "../model/state.ts";
import { LIVE } from "../model/state.ts";
import { dim, green, red, yellow } from "./style.ts";

const t = (s: string) => Date.parse(s);

/** The tree as data (for --json): root → scopes → generations → leaf counts. */
export function statusData(s: Snapshot, now: Date) {
  const cfg = s.config;
  const renewAt = cfg ? timing(cfg).renewAt : 2 / 3;
  const gen = (g: Generation) => ({
    gen: g.gen, state: g.state, notBefore: g.notBefore, notAfter: g.notAfter, serial: g.serial,
    expiresInDays: Math.floor((t(g.notAfter) - now.getTime()) / 86_400_000),
    ...(g.activateAfter ? { activateAfter: g.activateAfter } : {}), ...(g.retireAfter ? { retireAfter: g.retireAfter } : {}),
  });
  return {
    schema: "inforge.status/v1",
    at: now.toISOString(),
    mesh: cfg ? { name: cfg.name, domain: cfg.domain } : null,
    roots: s.root.generations.map(gen),
    scopes: Object.keys(s.scopes).sort().map((name) => {
      const leaves = Object.entries(s.leaves[name]?.leaves ?? {});
      const due = leaves.filter(([, l]) => now.getTime() >= t(l.notBefore) + (t(l.notAfter) - t(l.notBefore)) * renewAt);
      return {
        scope: name,
        generations: s.scopes[name]!.generations.map(gen),
        leaves: { total: leaves.length, due: due.length, expired: leaves.filter(([, l]) => t(l.notAfter) <= now.getTime()).length },
      };
    }),
    problems: checkState(s).map((i) => ({ code: i.code, message: i.message })),
    pending: pendingWork(s, now.getTime()).map((i) => ({ code: i.code, message: i.message })),
  };
}

export function renderStatus(s: Snapshot, now: Date): string {
  if (!s.config) return "not initialised: run inforge pki init";
  const d = statusData(s, now);
  const left = (g: { notAfter: string }) => t(g.notAfter) - now.getTime();
  const colour = (ms: number, warn: number, crit: number) => (s: string) => (ms <= crit ? red(s) : ms <= warn ? yellow(s) : s);
  const day = 86_400_000;
  const genLine = (g: ReturnType<typeof statusData>["roots"][number], warn: number, crit: number) => {
    const ms = left(g);
    const state = g.state === "active" ? green(g.state) : LIVE.has(g.state as never) ? yellow(g.state) : dim(g.state);
    const when = ms <= 0 ? red(`expired ${g.notAfter.slice(0, 10)}`) : colour(ms, warn, crit)(`expires ${g.notAfter.slice(0, 10)} (in ${formatDuration(ms)})`);
    const extra = g.activateAfter ? dim(` activates after ${g.activateAfter}`) : g.retireAfter ? dim(` retires after ${g.retireAfter}`) : "";
    return `G${g.gen} ${state} ${when}${extra}`;
  };
  const out = [`${d.mesh!.name} (${d.mesh!.domain})  at ${d.at}`];
  for (const r of d.roots) out.push(`root ${genLine(r, 365 * day, 182 * day)}`);
  d.scopes.forEach((sc, i) => {
    const last = i === d.scopes.length - 1;
    out.push(`${last ? "└─" : "├─"} ${sc.scope}  leaves: ${sc.leaves.total}${sc.leaves.due ? yellow(`, ${sc.leaves.due} due`) : ""}${sc.leaves.expired ? red(`, ${sc.leaves.expired} expired`) : ""}`);
    for (const g of sc.generations) {
      if (g.state === "retired") continue;
      out.push(`${last ? "  " : "│ "}   ${genLine(g, 60 * day, 30 * day)}`);
    }
  });
  for (const p of d.problems) out.push(red(`problem: ${p.message}`));
  for (const p of d.pending) out.push(yellow(`pending: ${p.message}`));
  return out.join("\n");
}
