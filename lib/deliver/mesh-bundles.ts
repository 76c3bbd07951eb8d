// Trust bundles in the formats meshes consume, built from the same certificates as
// bundles/<name>.pem and written in the same commit (lib/apply calls meshBundleFiles from its
// write-bundle step; the planner declares the paths, P.meshBundles). Pure: no I/O, no clock.
//
// - bundles/<scope>.spiffe.json — the SPIFFE trust bundle of trust domain `<scope>.<domain>`
//   (SPIFFE Trust Domain and Bundle spec §4): a JWK set whose keys have "use": "x509-svid" and
//   "x5c": [base64 DER], one per certificate of bundles/trust-domains/<scope>.<domain>.pem (that
//   scope's CAs only), in the same order; "spiffe_sequence" increases on every change,
//   "spiffe_refresh_hint" (seconds) comes from pki.json's spiffeRefreshHint.
// - bundles/<name>.configmap.yaml — a Kubernetes ConfigMap carrying a scope's or the root's PEM
//   bundle as "ca.crt", for trust-manager's Bundle sources or a mesh's own distribution.
import * as X from "../x509/core.ts";
import type { PkiConfig } from "../model/config.ts";
import { DEFAULTS } from "../model/config.ts";
import { parseDuration } from "../model/duration.ts";
import * as P from "../model/paths.ts";
import { yamlDocument } from "./yaml.ts";

export interface MeshFile {
  readonly path: string;
  readonly content: string;
}

/** The SPIFFE bundle's JSON text (2-space indent, final newline: stable bytes for git). */
export function spiffeBundle(pems: readonly string[], o: { sequence: number; refreshHintSeconds: number }): string {
  const keys = pems.map((pem, i) => {
    const { jwk, x5c } = X.certificateJwk(pem, `bundle certificate ${i + 1}`);
    return { use: "x509-svid", kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, x5c: [x5c] };
  });
  return JSON.stringify({ spiffe_sequence: o.sequence, spiffe_refresh_hint: o.refreshHintSeconds, keys }, null, 2) + "\n";
}

/** A ConfigMap manifest named `inforge-trust-<bundle>`; apply it with kubectl -n <namespace>. */
export function trustConfigMap(o: { bundle: string; domain: string; pem: string }): string {
  return yamlDocument({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: `inforge-trust-${o.bundle}`,
      labels: {
        "app.kubernetes.io/managed-by": "inforge",
        "inforge.dev/bundle": o.bundle,
      },
      annotations: {
        "inforge.dev/source": P.bundle(o.bundle),
        ...(o.bundle === "root" ? { "inforge.dev/anchors": "root-anchoring consumers" } : { "inforge.dev/trust-domain": `${o.bundle}.${o.domain}` }),
      },
    },
    data: { "ca.crt": o.pem },
  });
}

/**
 * The sequence number of the next version of a scope's SPIFFE bundle, derived from the journal:
 * one more than the number of applied plans that wrote bundles/<scope>.spiffe.json or
 * bundles/<scope>.pem (which every SPIFFE write before the trust-domain bundles came with). The
 * journal is append-only and hash-chained, and each SPIFFE write is itself journalled, so this
 * increases on every change — also across the change of what the file holds — and needs no
 * extra state. `journal` is the text of the journals that may have written it (or null).
 */
export function spiffeSequence(journal: string | null, scope: string): number {
  const paths = new Set([P.spiffeBundle(scope), P.bundle(scope)]);
  let n = 0;
  for (const line of (journal ?? "").split("\n")) {
    if (![...paths].some((p) => line.includes(p))) continue;
    try {
      const e = JSON.parse(line) as { files?: { path?: string }[] };
      if (e.files?.some((f) => paths.has(f.path ?? ""))) n++;
    } catch {
      // a broken journal is refused before apply runs (FsStore.lastEntry); skip here
    }
  }
  return n + 1;
}

/** The refresh hint in whole seconds (SPIFFE wants seconds), from pki.json or the default. */
export function refreshHintSeconds(cfg: PkiConfig): number {
  return Math.round(parseDuration(cfg.spiffeRefreshHint ?? DEFAULTS.spiffeRefreshHint)! / 1000);
}

/** Every mesh-format file for one bundle, from the PEMs of its members (in bundle order). */
export function meshBundleFiles(bundle: string, pems: readonly string[], cfg: PkiConfig, journal: string | null): MeshFile[] {
  const scope = P.trustDomainScope(bundle);
  if (scope === null) return [{ path: P.bundleConfigMap(bundle), content: trustConfigMap({ bundle, domain: cfg.domain, pem: pems.join("") }) }];
  const spiffe = spiffeBundle(pems, { sequence: spiffeSequence(journal, scope), refreshHintSeconds: refreshHintSeconds(cfg) });
  return [{ path: P.spiffeBundle(scope), content: spiffe }];
}
