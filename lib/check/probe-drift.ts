import { timing, type PkiConfig } from "../model/config.ts";
import { formatDuration } from "../model/duration.ts";
import type { EndpointResult, ProbeEvidence } from "../model/probes.ts";
import type { Snapshot } from "../model/state.ts";

// Drift (issue 18): what the last probe saw services serve, against what the state says they
// should. Pure: the verified records (lib/store/probe-records.ts), the snapshot and a clock in,
// findings out — one per scope and condition, naming the endpoints. A generation's state is read
// now, not at the probe: a generation revoked since still makes its leaves drift.

export interface DriftFinding {
  readonly severity: "warning" | "critical";
  readonly code: string;
  readonly scope: string;
  readonly message: string;
}

interface Rule {
  readonly code: string;
  readonly severity: "warning" | "critical";
  /** "N endpoint(s) of <scope> …" */
  readonly what: string;
  readonly fix: string;
}

const RULES = {
  revoked: { code: "probe.revoked-issuer", severity: "critical", what: "serve a leaf of a revoked generation", fix: "deploy their current leaf (inforge deploy <service> --region R) and reload them" },
  retired: { code: "probe.retired-issuer", severity: "critical", what: "serve a leaf of a retired generation, which no bundle carries any more", fix: "deploy their current leaf and reload them" },
  unknown: { code: "probe.unknown-leaf", severity: "critical", what: "serve a leaf that no generation of this tree issued", fix: "find out who configured it; deploy the service's leaf from inforge" },
  chain: { code: "probe.chain-fails", severity: "critical", what: "serve a chain that does not verify with the region bundle", fix: "deploy tls.crt again (leaf + its intermediate) and reload them" },
  expired: { code: "probe.leaf-expired", severity: "critical", what: "serve an expired leaf", fix: "run inforge pki renew, deploy and reload them" },
  expiring: { code: "probe.leaf-expiring", severity: "warning", what: "serve a leaf past its renewal point", fix: "deploy their current leaf and reload them (renew mints one when due)" },
  stale: { code: "probe.stale-leaf", severity: "warning", what: "serve a leaf the state no longer records (they have not loaded their new one)", fix: "deploy their current leaf and reload them" },
  name: { code: "probe.name-mismatch", severity: "warning", what: "serve a leaf without the name the probe asked for (SNI)", fix: "check the sni of their probe entry, or which service answers on that address" },
  down: { code: "probe.unreachable", severity: "warning", what: "could not be probed", fix: "check the address in the region file and the service" },
} as const satisfies Record<string, Rule>;

const currentLeaf = (s: Snapshot, scope: string, service: string, fingerprint: string) => {
  const idx = s.leaves[scope];
  return idx?.leaves[service as never]?.fingerprint === fingerprint || idx?.csr?.[service as never]?.fingerprint === fingerprint;
};

export function probeDrift(s: Snapshot, records: ProbeEvidence, now: number, cfg: PkiConfig): DriftFinding[] {
  const renewAt = timing(cfg).renewAt;
  const out: DriftFinding[] = [];
  for (const scope of Object.keys(records).sort()) {
    const rec = records[scope]!;
    const hits = new Map<keyof typeof RULES, string[]>();
    const hit = (k: keyof typeof RULES, e: EndpointResult, why?: string) => hits.set(k, [...(hits.get(k) ?? []), `${e.service} at ${e.address}${why ? ` (${why})` : ""}`]);
    for (const e of rec.endpoints) {
      if (e.outcome === "skipped") continue;
      // A consumer's endpoint is probed for trust only; what it serves is not ours to judge.
      if (e.consumer) {
        if (e.outcome !== "tls") hit("down", e, `${e.outcome}${e.error ? `: ${e.error}` : ""}`);
        continue;
      }
      if (e.outcome !== "tls" || !e.served) {
        hit("down", e, `${e.outcome}${e.error ? `: ${e.error}` : ""}`);
        continue;
      }
      const sv = e.served;
      const issuer = sv.issuer ? s.scopes[sv.issuer.scope]?.generations.find((g) => g.gen === sv.issuer!.gen && g.fingerprint === sv.issuer!.fingerprint) : undefined;
      const by = sv.issuer ? `${sv.issuer.scope} G${sv.issuer.gen}` : "";
      if (!sv.issuer || !issuer) hit("unknown", e, `subject "${sv.subject}", sha256 ${sv.fingerprint.slice(0, 16)}…`);
      else if (issuer.state === "revoked") hit("revoked", e, `${by}, which is revoked`);
      else if (issuer.state === "retired") hit("retired", e, `${by}, which is retired`);
      else if (!sv.verifies) hit("chain", e, sv.verifyError);
      // Against the state now: a leaf renewed since the probe makes the one still served stale.
      else if (!currentLeaf(s, scope, e.service, sv.fingerprint)) hit("stale", e, `a leaf of ${by}, serial ${sv.serial}`);
      const nb = Date.parse(sv.notBefore);
      const na = Date.parse(sv.notAfter);
      if (na <= now) hit("expired", e, `expired ${sv.notAfter}`);
      else if (nb + (na - nb) * renewAt <= now) hit("expiring", e, `${formatDuration(na - now)} left`);
      if (!sv.nameMatches) hit("name", e, e.sni);
    }
    for (const [k, list] of hits) {
      const r = RULES[k];
      out.push({ severity: r.severity, code: r.code, scope, message: `${list.length} endpoint(s) of ${scope} ${r.what} (probe of ${rec.at}): ${list.join(", ")}; ${r.fix}` });
    }
  }
  return out;
}
