import { checkState, pendingWork } from "../check/check-state.ts";
import { DEFAULTS, timing, type PkiConfig } from "../model/config.ts";
import { formatDuration, parseDuration } from "../model/duration.ts";
import * as P from "../model/paths.ts";
import { generationsOf, LIVE, type Generation, type Snapshot, type Topology } from "../model/state.ts";
import { MESHES } from "../model/mesh.ts";
import { finishReadyText, rootOverlap } from "../model/root-overlap.ts";
import { unprovisioned, unprovisionedText } from "../model/unprovisioned.ts";
import { bold, dim, green, red, yellow } from "../term/style.ts";
import { probeDrift } from "../check/probe-drift.ts";
import type { ProbeEvidence } from "../model/probes.ts";
import { textOrder } from "../model/text-order.ts";

// `inforge pki status`: the tree, its health against thresholds, and a calendar of what comes
// next. Pure: a snapshot and a clock in, data or text out (golden-tested).

const DAY = 86_400_000;
const t = (s: string) => Date.parse(s);
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export type Severity = "ok" | "warning" | "critical";
const RANK: Record<Severity, number> = { ok: 0, warning: 1, critical: 2 };

export interface Finding {
  readonly severity: Exclude<Severity, "ok">;
  readonly code: string;
  readonly message: string;
  /** The certificate the finding is about, under the pki directory, when there is one. */
  readonly file?: string;
  /** The scope it is about ("global" or a region); none for the root, the root CRL and the tree as a whole. */
  readonly scope?: string;
}
export interface CalendarEvent {
  readonly at: string;
  readonly subject: string;
  readonly event: string;
  readonly severity: Severity;
}
export interface GenView {
  readonly gen: number;
  readonly state: Generation["state"];
  readonly notBefore: string;
  readonly notAfter: string;
  readonly serial: string;
  readonly issuer: number | null;
  readonly expiresInDays: number;
  readonly health: Severity;
  readonly activateAfter?: string;
  readonly retireAfter?: string;
  /** Roots only: where the key lives (an age-sealed file, or a PKCS#11 token per pki.json rootKeys). */
  readonly key?: { readonly in: "age" } | { readonly in: "pkcs11"; readonly token: string; readonly object: string };
}
export interface StatusReport {
  readonly schema: "inforge.status/v1";
  readonly at: string;
  readonly mesh: { readonly name: string; readonly domain: string } | null;
  readonly health: Severity;
  readonly roots: readonly GenView[];
  readonly scopes: readonly {
    readonly scope: string;
    readonly generations: readonly GenView[];
    readonly leaves: { readonly total: number; readonly due: number; readonly expired: number; readonly nextRenewal: string | null };
    readonly probe?: { readonly at: string; readonly endpoints: number; readonly prepared: number | null };
    /** Mesh issuers of the scope (`pki issuer`), by mesh; absent when it has none. */
    readonly issuers?: readonly { readonly mesh: string; readonly generations: readonly GenView[] }[];
  }[];
  readonly crl: { readonly number: number; readonly thisUpdate: string | null; readonly nextUpdate: string | null };
  readonly findings: readonly Finding[];
  readonly calendar: readonly CalendarEvent[];
}

function thresholds(c: PkiConfig) {
  const th = c.thresholds ?? DEFAULTS.thresholds;
  const d = (s: string) => parseDuration(s)!;
  return {
    root: { warn: d(th.root.warn), crit: d(th.root.crit) },
    intermediate: { warn: d(th.intermediate.warn), crit: d(th.intermediate.crit) },
    crl: { warn: d(th.crl.warn), crit: d(th.crl.crit) },
  };
}

/** An expired CA: no overlap is possible any more, so the fix is a replacement now. */
const expiredText = (kind: "root" | "intermediate", subject: string, g: Generation, ago: number) =>
  `${subject} G${g.gen} expired ${formatDuration(ago)} ago (${g.notAfter}); ` +
  (kind === "root" ? "rotate it: inforge pki rotate --root (root posture)" : `replace it now: inforge pki rotate --intermediate ${subject} (root posture; no overlap, no revocation)`);

const level = (left: number, th: { warn: number; crit: number }): Severity => (left <= th.crit ? "critical" : left <= th.warn ? "warning" : "ok");

const DEFAULT_HORIZON_DAYS = 400;

export interface StatusOptions {
  /** The declared scopes (regions/*.json): one with no intermediate is a finding. */
  readonly topology?: Topology;
  readonly horizonDays?: number;
  /** The last probe records that passed lib/store/probe-records.ts, and those left out (issue 18). */
  readonly probes?: { readonly records: ProbeEvidence; readonly rejected: readonly { readonly scope: string; readonly file: string; readonly message: string }[] };
}

/** The status as data: stable, versioned (`schema`), what `--json` prints. */
export function statusReport(s: Snapshot, at: Date, o: StatusOptions = {}): StatusReport {
  const horizonDays = o.horizonDays ?? DEFAULT_HORIZON_DAYS;
  const now = at.getTime();
  const findings: Finding[] = [];
  const calendar: CalendarEvent[] = [];
  const cfg = s.config;
  const atIso = at.toISOString().replace(/\.\d{3}Z$/, "Z");
  if (!cfg) {
    return { schema: "inforge.status/v1", at: atIso, mesh: null, health: "critical", roots: [], scopes: [], crl: { number: 0, thisUpdate: null, nextUpdate: null }, findings: [{ severity: "critical", code: "pki.uninitialised", message: "not initialised: run inforge pki init" }], calendar: [] };
  }
  const tm = timing(cfg);
  const th = thresholds(cfg);
  const event = (when: number, subject: string, what: string, severity: Severity = "ok") => {
    if (when >= now && when <= now + horizonDays * DAY) calendar.push({ at: new Date(when).toISOString().replace(/\.\d{3}Z$/, "Z"), subject, event: what, severity });
  };
  /** `issuer`: a mesh issuer, whose fix is `pki issuer --rotate` and whose promotion is its scope's renew. */
  const view = (g: Generation, kind: "root" | "intermediate", subject: string, issuer?: { scope: string; mesh: string }): GenView => {
    const rotateText = issuer ? `rotate it: inforge pki issuer ${issuer.scope} --mesh ${issuer.mesh} --rotate (root posture)` : `rotate it: inforge pki rotate --intermediate ${subject} (root posture)`;
    const region = issuer?.scope ?? subject;
    const left = t(g.notAfter) - now;
    const tier = th[kind];
    const watched = g.state === "active" || g.state === "prepared";
    const health: Severity = !watched ? "ok" : left <= 0 ? "critical" : level(left, tier);
    if (watched) {
      if (health !== "ok") findings.push({ severity: health, code: `${kind}.expiring`, ...(kind === "root" ? {} : { scope: subject }), message: left <= 0 ? (issuer ? `${subject} G${g.gen} expired ${formatDuration(-left)} ago (${g.notAfter}); replace it now: inforge pki issuer ${issuer.scope} --mesh ${issuer.mesh} --rotate (root posture)` : expiredText(kind, subject, g, -left)) : `${subject} G${g.gen} expires in ${formatDuration(left)} (${g.notAfter}); ${kind === "root" ? "rotate it: inforge pki rotate --root (root posture)" : rotateText}` });
      event(t(g.notAfter) - tier.warn, `${subject} G${g.gen}`, kind === "root" ? `enters its last ${formatDuration(tier.warn)}` : `has ${formatDuration(tier.warn)} left`, "warning");
      event(t(g.notAfter) - tier.crit, `${subject} G${g.gen}`, `has ${formatDuration(tier.crit)} left`, "critical");
      event(t(g.notAfter), `${subject} G${g.gen}`, "expires", "critical");
    }
    if (g.state === "prepared" && g.activateAfter) {
      // promotion "probe" (issue 18): the timer is no gate for a scope's intermediate; the probes are. Overdue then means a service has not loaded the bundle.
      const byProbe = !issuer && cfg.promotion === "probe" && !!o.topology?.scopes[subject]?.probes;
      event(t(g.activateAfter), `${subject} G${g.gen}`, byProbe ? `propagation delay passes; promoted once every probed endpoint trusts it (CI: inforge pki probe --region ${region}, then renew)` : `can be promoted (CI: inforge pki renew${subject === "root" ? "" : ` --region ${region}`})`);
      if (now > t(g.activateAfter) + DAY) {
        findings.push({
          severity: "warning", code: "intermediate.promotion-overdue", scope: region,
          message: byProbe
            ? `${subject} G${g.gen} has been in the bundles since ${g.since} and is not promoted yet: the last probe does not show every endpoint trusting it (inforge pki probe --region ${region} names them); have them load bundles/${region}.pem`
            : `${subject} G${g.gen} has been ready to activate since ${g.activateAfter}; run inforge pki renew --region ${region} in CI`,
        });
      }
    }
    if (g.state === "retiring" && g.retireAfter) event(t(g.retireAfter), `${subject} G${g.gen}`, issuer ? "retires (deploy --mesh no longer exports it)" : "retires and leaves the bundles");
    return {
      gen: g.gen, state: g.state, notBefore: g.notBefore, notAfter: g.notAfter, serial: g.serial, issuer: g.issuer,
      expiresInDays: Math.floor(left / DAY), health,
      ...(g.activateAfter ? { activateAfter: g.activateAfter } : {}), ...(g.retireAfter ? { retireAfter: g.retireAfter } : {}),
    };
  };

  const roots = s.root.generations.map((g): GenView => {
    const loc = cfg.rootKeys?.[`G${g.gen}`];
    return { ...view(g, "root", "root"), key: loc ? { in: "pkcs11", token: loc.token, object: loc.object } : { in: "age" } };
  });
  const scopes = Object.keys(s.scopes).sort().map((name) => {
    const gens = s.scopes[name]!.generations.map((g) => view(g, "intermediate", name));
    const leaves = Object.values(s.leaves[name]?.leaves ?? {});
    const renewal = leaves.map((l) => t(l.notBefore) + (t(l.notAfter) - t(l.notBefore)) * tm.renewAt);
    const due = renewal.filter((r) => r <= now).length;
    const expired = leaves.filter((l) => t(l.notAfter) <= now).length;
    const future = renewal.filter((r) => r > now);
    const next = future.length ? Math.min(...future) : null;
    // Expired leaves are a critical finding of their own (below): the warning counts the others.
    if (due > expired) findings.push({ severity: "warning", code: "leaf.due", scope: name, message: `${due - expired} leaf(s) of ${name} are past their renewal point; run inforge pki renew --region ${name} in CI` });
    if (next !== null) event(next, name, `${future.filter((r) => day(r) === day(next)).length} leaf(s) due for renewal (CI: inforge pki renew)`);
    // The scope CRL lives as long as a leaf and renew re-signs it at renewAt of its life (lib/plan/scope-crl.ts):
    // past that point a CI run is overdue; once expired, verifiers that check revocation refuse every leaf of the scope.
    // No calendar entries: the same daily renew that renews the leaves re-signs it, and a week's worth would crowd the calendar.
    const crl = s.leaves[name]?.crl;
    if (crl) {
      const renewBy = t(crl.thisUpdate) + (t(crl.nextUpdate) - t(crl.thisUpdate)) * tm.renewAt;
      const left = t(crl.nextUpdate) - now;
      if (left <= 0) findings.push({ severity: "critical", code: "crl.scope-expired", scope: name, message: `the CRL of ${name} (crl/${name}.crl.pem) expired at ${crl.nextUpdate}: verifiers that check revocation refuse every ${name} leaf; run inforge pki renew --region ${name} in CI` });
      else if (renewBy <= now) findings.push({ severity: "warning", code: "crl.scope-due", scope: name, message: `the CRL of ${name} (crl/${name}.crl.pem) expires in ${formatDuration(left)} and is past its renewal point; run inforge pki renew --region ${name} in CI` });
    } else if (leaves.length) {
      findings.push({ severity: "warning", code: "crl.scope-missing", scope: name, message: `${name} has leaves but no CRL yet (crl/${name}.crl.pem), so verifiers that check every CA's CRL (openssl -crl_check_all) refuse its leaves; run inforge pki renew --region ${name} in CI` });
    }
    const rec = o.probes?.records[name];
    const issuers = MESHES.filter((m) => generationsOf(s.scopes[name], m).length).map((mesh) => ({
      mesh, generations: generationsOf(s.scopes[name], mesh).map((g) => view(g, "intermediate", `${name} ${mesh} issuer`, { scope: name, mesh })),
    }));
    return {
      scope: name, generations: gens, leaves: { total: leaves.length, due, expired, nextRenewal: next === null ? null : new Date(next).toISOString().replace(/\.\d{3}Z$/, "Z") },
      ...(issuers.length ? { issuers } : {}),
      ...(rec ? { probe: { at: rec.at, endpoints: rec.endpoints.length, prepared: rec.prepared?.gen ?? null } } : {}),
    };
  });

  // A root overlap ends only when the root posture finishes it; until then the old root stays in root.pem.
  const overlap = rootOverlap(s.root, s.scopes);
  if (overlap && !overlap.blockers.length) findings.push({ severity: "warning", code: "root.overlap-finishable", message: finishReadyText(overlap.old) });
  else if (overlap && overlap.blockers.every((b) => b.g.state === "retiring" && b.g.retireAfter)) {
    const last = Math.max(...overlap.blockers.map((b) => t(b.g.retireAfter!)));
    event(last, `root ${overlap.old.map((g) => `G${g.gen}`).join(", ")}`, "overlap can finish once CI retires its last intermediate (root posture: inforge pki rotate --root --finish)", "warning");
  }
  const activeRoot = s.root.generations.find((g) => g.state === "active");
  const crlNext = s.root.crl.thisUpdate && activeRoot ? Math.min(t(s.root.crl.thisUpdate) + tm.crlLifetime, t(activeRoot.notAfter)) : null;
  if (crlNext !== null) {
    const left = crlNext - now;
    const sev = left <= 0 ? "critical" : level(left, th.crl);
    if (sev !== "ok") findings.push({ severity: sev, code: "crl.expiring", message: `the root CRL ${left <= 0 ? "has expired" : `expires in ${formatDuration(left)}`}; re-sign it with inforge pki crl (root posture)` });
    event(crlNext - th.crl.warn, "root CRL", `has ${formatDuration(th.crl.warn)} left before its nextUpdate`, "warning");
    event(crlNext, "root CRL", "expires (root posture: inforge pki crl)", "critical");
  }
  // Not yet valid: every notBefore inforge sets is backdated by the clock skew, so one still ahead
  // was set by a clock running ahead; verifiers refuse the certificate until then (openssl:
  // "certificate is not yet valid"). Beyond the skew that is every verifier: critical.
  const early = (kind: string, what: string, file: string, notBefore: string, scope?: string) => {
    const ahead = t(notBefore) - now;
    if (ahead <= 0) return;
    const beyond = ahead > tm.clockSkew;
    findings.push({
      severity: beyond ? "critical" : "warning", code: `${kind}.not-yet-valid`, file, ...(scope ? { scope } : {}),
      message: `${what} (${file}) is not valid until ${notBefore}, ${formatDuration(ahead)} from now${beyond ? `, beyond the clock skew of ${formatDuration(tm.clockSkew)}: the clock of the machine that minted it runs ahead — correct it and re-issue` : `, within the clock skew of ${formatDuration(tm.clockSkew)}: check this host's clock and the minting runner's`}`,
    });
  };
  for (const g of s.root.generations) if (LIVE.has(g.state)) early("root", `root G${g.gen}`, P.rootCert(g.gen), g.notBefore);
  for (const [scope, sf] of Object.entries(s.scopes)) {
    for (const g of sf.generations) if (LIVE.has(g.state)) early("intermediate", `${scope} G${g.gen}`, P.intermediateCert(scope, g.gen), g.notBefore, scope);
  }
  for (const [scope, idx] of Object.entries(s.leaves)) {
    for (const [svc, l] of Object.entries(idx.leaves)) early("leaf", `leaf ${scope}/${svc}`, P.leafCert(scope, svc), l.notBefore, scope);
  }
  for (const scope of o.topology ? unprovisioned(o.topology, s.scopes) : []) {
    findings.push({ severity: "warning", code: "scope.unprovisioned", scope, message: unprovisionedText(scope) });
  }
  for (const i of checkState(s)) findings.push({ severity: "critical", code: i.code, message: i.message });
  // One finding per scope and condition, naming the services, not one line per leaf.
  const pending = new Map<string, { code: string; scope: string; services: string[] }>();
  for (const i of pendingWork(s, now)) {
    const m = /^leaf ([^/]+)\/(\S+)/.exec(i.message);
    if (!m) {
      findings.push({ severity: "critical", code: i.code, message: i.message });
      continue;
    }
    const key = `${i.code} ${m[1]}`;
    const p = pending.get(key) ?? { code: i.code, scope: m[1]!, services: [] };
    p.services.push(m[2]!);
    pending.set(key, p);
  }
  for (const p of pending.values()) {
    const what = p.code === "leaf.expired" ? "expired" : p.code === "leaf.issuer-revoked" ? "are signed by a revoked intermediate" : p.code;
    findings.push({ severity: "critical", code: p.code, scope: p.scope, message: `${p.services.length} leaf(s) of ${p.scope} ${what} (${p.services.join(", ")}); run inforge pki renew --region ${p.scope} in CI` });
  }
  // Drift: what services really served at the last probe.
  if (o.probes) {
    findings.push(...probeDrift(s, o.probes.records, now, cfg));
    for (const r of o.probes.rejected) findings.push({ severity: "warning", code: "probe.record-ignored", file: r.file, ...(r.scope ? { scope: r.scope } : {}), message: r.message });
  }
  // Criticals first (stable otherwise), so the first line read is the worst.
  findings.sort((a, b) => RANK[b.severity] - RANK[a.severity]);
  // Same-format UTC timestamps: code-point order is time order.
  calendar.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : textOrder(a.subject, b.subject)));
  const health = findings.reduce<Severity>((h, f) => (RANK[f.severity] > RANK[h] ? f.severity : h), "ok");
  return {
    schema: "inforge.status/v1", at: atIso, mesh: { name: cfg.name, domain: cfg.domain }, health, roots, scopes,
    crl: { number: s.root.crl.number, thisUpdate: s.root.crl.thisUpdate ?? null, nextUpdate: crlNext === null ? null : new Date(crlNext).toISOString().replace(/\.\d{3}Z$/, "Z") },
    findings, calendar,
  };
}

/** `status --check` exit status, as monitoring expects: 0 ok, 1 warning, 2 critical. */
export const checkExitCode = (r: StatusReport) => RANK[r.health];

/** "2 critical, 1 warning" */
const counts = (fs: readonly Finding[]) =>
  (["critical", "warning"] as const).map((sev) => [sev, fs.filter((f) => f.severity === sev).length] as const).filter(([, n]) => n).map(([sev, n]) => paint(sev)(`${n} ${sev}`)).join(", ");

const paint = (sev: Severity) => (s: string) => (sev === "critical" ? red(s) : sev === "warning" ? yellow(s) : s);

export function renderStatus(s: Snapshot, at: Date, o: StatusOptions & { calendar?: number } = {}): string {
  const r = statusReport(s, at, o);
  if (!r.mesh) return "not initialised: run inforge pki init";
  const gen = (g: GenView) => {
    const left = t(g.notAfter) - at.getTime();
    const state = g.state === "active" ? green(g.state) : LIVE.has(g.state) ? yellow(g.state) : dim(g.state);
    const when = left <= 0 ? `expired ${g.notAfter.slice(0, 10)} (${formatDuration(-left)} ago)` : `expires ${g.notAfter.slice(0, 10)} (in ${formatDuration(left)})`;
    const extra = g.activateAfter ? `, activates after ${g.activateAfter}` : g.retireAfter ? `, retires after ${g.retireAfter}` : "";
    return `G${g.gen} ${state}  ${paint(g.health)(when)}${dim(extra)}`;
  };
  const healthText = paint(r.health)(r.health);
  const out = [bold(`${r.mesh.name} (${r.mesh.domain})`) + `  at ${r.at}  health: ${healthText}`, "root"];
  const keyOf = (g: GenView) => (g.key?.in === "pkcs11" ? dim(`  — pkcs11 token ${g.key.token} (object ${g.key.object})`) : g.key ? dim("  — age key file") : "");
  r.roots.forEach((g, i) => out.push(`${i === r.roots.length - 1 ? "└─" : "├─"} ${gen(g)}${keyOf(g)}`));
  out.push("scopes");
  r.scopes.forEach((sc, i) => {
    const last = i === r.scopes.length - 1;
    const leaves = `${sc.leaves.total} ${sc.leaves.total === 1 ? "leaf" : "leaves"}` + (sc.leaves.due ? yellow(`, ${sc.leaves.due} due`) : "") + (sc.leaves.expired ? red(`, ${sc.leaves.expired} expired`) : "");
    const probed = sc.probe ? dim(`  (probed ${sc.probe.at}: ${sc.probe.endpoints} endpoint(s)${sc.probe.prepared ? `, trust in G${sc.probe.prepared} tested` : ""})`) : "";
    out.push(`${last ? "└─" : "├─"} ${bold(sc.scope)}  ${leaves}${probed}`);
    const shown: [string, GenView][] = [
      ...sc.generations.filter((g) => g.state !== "retired").map((g): [string, GenView] => ["", g]),
      ...(sc.issuers ?? []).flatMap((i) => i.generations.filter((g) => g.state !== "retired").map((g): [string, GenView] => [`${i.mesh} issuer `, g])),
    ];
    shown.forEach(([what, g], j) => out.push(`${last ? "   " : "│  "}${j === shown.length - 1 ? "└─" : "├─"} ${what}${gen(g)}`));
  });
  if (r.crl.nextUpdate) out.push(`crl #${r.crl.number}, next update by ${r.crl.nextUpdate}`);
  if (r.findings.length) {
    // Grouped per scope (the tree as a whole first), the group with the worst finding first, criticals first within.
    out.push(`findings  ${counts(r.findings)}`);
    const groups = new Map<string, Finding[]>();
    for (const f of r.findings) groups.set(f.scope ?? "", [...(groups.get(f.scope ?? "") ?? []), f]);
    const worst = (fs: Finding[]) => Math.max(...fs.map((f) => RANK[f.severity]));
    const order = [...groups.keys()].sort((a, b) => worst(groups.get(b)!) - worst(groups.get(a)!) || (a === "" ? -1 : b === "" ? 1 : textOrder(a, b)));
    for (const g of order) {
      const fs = groups.get(g)!;
      out.push(`  ${bold(g || "pki")}  ${counts(fs)}`);
      for (const f of fs) out.push(`    ${paint(f.severity)(f.severity.padEnd(8))} ${f.message}`);
    }
  }
  const shown = o.calendar ?? 12;
  const cal = r.calendar.slice(0, shown);
  if (cal.length) {
    out.push("calendar");
    const w = Math.max(...cal.map((e) => e.subject.length));
    for (const e of cal) out.push(`  ${e.at.slice(0, 10)}  ${e.subject.padEnd(w)}  ${paint(e.severity)(e.event)}`);
  }
  const more = r.calendar.length - cal.length;
  if (more > 0) out.push(dim(`  … ${more} more within ${DEFAULT_HORIZON_DAYS} days (--calendar ${r.calendar.length} shows all, --json lists them)`));
  return out.join("\n");
}
