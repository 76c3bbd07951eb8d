import { timing } from "../model/config.ts";
import * as P from "../model/paths.ts";
import { INTERMEDIATE_REVOCATION_REASON, type RevocationReason } from "../model/revocation.ts";
import { generationsOf, type Snapshot } from "../model/state.ts";
import { MESHES } from "../model/mesh.ts";
import { error, warning, type Finding } from "./verify-rules.ts";

// The pure half of verify's CRL checks: which CRLs the state says must exist (the root's, and
// one per live intermediate of each scope that has leaves), and how a CRL on disk must read.
// lib/store/verify-crl.ts reads, parses and checks signatures, then asks these rules.

const bare = (serial: string) => serial.replace(/^0+/, "").toLowerCase();
const t = (s: string) => Date.parse(s);

/** What parsing a CRL showed (lib/x509's CrlInfo, narrowed). */
export interface SeenCrl {
  readonly serials: readonly string[];
  /** Each entry's reasonCode, in the order of `serials` (null: none). */
  readonly reasons: readonly (RevocationReason | null)[];
  /** Entries with an empty crlEntryExtensions SEQUENCE (RFC 5280 §5.1 forbids it; PKI.js refuses the CRL). */
  readonly emptyEntryExtensions: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | null;
  readonly number: number | null;
}

/** One CRL a file must hold: who signs it, and the serials (bare lowercase hex, sorted) with their reasons. */
export interface WantedCrl {
  readonly what: string; // "root G1", "eu G2"
  readonly gen: number;
  readonly cert: string;
  readonly serials: readonly string[];
  readonly reasons: ReadonlyMap<string, RevocationReason>;
}

/** One CRL per root that signs (active or retiring), listing the revoked intermediates and mesh issuers it issued. */
export function expectedCrls(s: Snapshot): (WantedCrl & { serials: string[] })[] {
  return s.root.generations
    .filter((g) => g.state === "active" || g.state === "retiring")
    .map((root) => {
      const reasons = new Map<string, RevocationReason>();
      for (const [scope, sf] of Object.entries(s.scopes)) {
        for (const mesh of [undefined, ...MESHES]) {
          for (const g of generationsOf(sf, mesh)) {
            if (g.state !== "revoked" || g.issuer !== root.gen) continue;
            const rec = s.root.crl.revoked.find((r) => r.scope === scope && r.mesh === mesh && r.gen === g.gen);
            reasons.set(bare(g.serial), rec?.reason ?? INTERMEDIATE_REVOCATION_REASON);
          }
        }
      }
      return { what: `root G${root.gen}`, gen: root.gen, cert: P.rootCert(root.gen), serials: [...reasons.keys()].sort(), reasons };
    });
}

/** The CRLs crl/<scope>.crl.pem must hold, per scope whose index records one: one per generation in its `gens`. */
export function expectedScopeCrls(s: Snapshot): { scope: string; file: string; number: number; crls: WantedCrl[] }[] {
  return Object.keys(s.leaves).sort().flatMap((scope) => {
    const idx = s.leaves[scope]!;
    if (!idx.crl) return [];
    const crls = idx.crl.gens.map((gen) => {
      const reasons = new Map<string, RevocationReason>();
      for (const r of idx.revoked ?? []) if (r.gen === gen) reasons.set(bare(r.serial), r.reason);
      return { what: `${scope} G${gen}`, gen, cert: P.intermediateCert(scope, gen), serials: [...reasons.keys()].sort(), reasons };
    });
    return [{ scope, file: P.scopeCrl(scope), number: idx.crl.number, crls }];
  });
}

/**
 * A CRL must list exactly what the state revokes under its issuer, each with its reasonCode (none
 * for "unspecified", §5.3.1), carry no empty entry extensions, and still be current at `now`.
 * `o.fix` says how to re-sign it (the root's in root posture, a scope's in CI). A scope CRL that
 * has lapsed is pending work like an expired leaf (a warning: CI's next renew re-signs it); the
 * root's is an error, since only the offline root can re-sign it.
 */
export function compareCrl(
  want: WantedCrl, c: SeenCrl, now: Date, stateNumber: number,
  o: { file?: string; fix?: string; lapsed?: "error" | "warning" } = {},
): Finding[] {
  const file = o.file ?? P.CRL;
  const fix = o.fix ?? "re-sign it with inforge pki crl (root posture)";
  const out: Finding[] = [];
  const got = c.serials.map(bare);
  const sorted = [...got].sort();
  if (sorted.join() !== want.serials.join()) {
    out.push(error("crl.serials", `the CRL of ${want.what} lists [${sorted.join(", ")}] but the state revokes [${want.serials.join(", ")}] under it; ${fix}`, file));
  } else {
    const wrong = got.filter((serial, i) => (c.reasons[i] ?? "unspecified") !== want.reasons.get(serial));
    if (wrong.length) out.push(error("crl.reasons", `the CRL of ${want.what} gives serial(s) ${wrong.join(", ")} another reason than the state records; ${fix}`, file));
  }
  if (c.emptyEntryExtensions) {
    out.push(error("crl.malformed", `the CRL of ${want.what} has ${c.emptyEntryExtensions} entr${c.emptyEntryExtensions === 1 ? "y" : "ies"} with an empty extensions list, which RFC 5280 §5.1 forbids (PKI.js cannot read it); ${fix}`, file));
  }
  if (!c.nextUpdate || c.nextUpdate.getTime() <= now.getTime()) {
    out.push((o.lapsed === "warning" ? warning : error)(o.lapsed === "warning" ? "pending.crl-stale" : "crl.stale", `the CRL of ${want.what} ${c.nextUpdate ? `expired at ${c.nextUpdate.toISOString()}` : "has no nextUpdate"} (checked at ${now.toISOString()}); verifiers that check revocation reject it — ${fix}`, file));
  }
  if (c.number !== stateNumber) {
    out.push(warning("crl.number", `the CRL of ${want.what} has number ${c.number ?? "none"} but the state records ${stateNumber}; ${fix}`, file));
  }
  return out;
}

/**
 * Work the scope CRLs wait for (warnings): a scope with leaves but no CRL, a live generation
 * (active or retiring) that signs none — OpenSSL's -crl_check_all then refuses its leaves —
 * or a CRL past its renewal point. CI's next renew fixes each.
 */
export function pendingScopeCrls(s: Snapshot, now: Date): Finding[] {
  if (!s.config) return [];
  const renewAt = timing(s.config).renewAt;
  const out: Finding[] = [];
  for (const scope of Object.keys(s.leaves).sort()) {
    const idx = s.leaves[scope]!;
    const file = P.scopeCrl(scope);
    const fix = `run inforge pki renew --region ${scope} in CI`;
    const minted = Object.keys(idx.leaves).length + Object.keys(idx.csr ?? {}).length > 0;
    if (!idx.crl) {
      if (minted) out.push(warning("pending.crl-missing", `${scope} has leaves but no CRL (${file}), so verifiers that want a CRL from every CA (openssl -crl_check_all) refuse its leaves; ${fix}`, file));
      continue;
    }
    const live = (s.scopes[scope]?.generations ?? []).filter((g) => g.state === "active" || g.state === "retiring").map((g) => g.gen);
    const unsigned = live.filter((g) => !idx.crl!.gens.includes(g));
    if (unsigned.length) out.push(warning("pending.crl-issuers", `${file} holds no CRL of ${scope} G${unsigned.join(", G")}, so verifiers that want a CRL from every CA refuse the leaves it signs; ${fix}`, file));
    const renewBy = t(idx.crl.thisUpdate) + (t(idx.crl.nextUpdate) - t(idx.crl.thisUpdate)) * renewAt;
    if (renewBy <= now.getTime() && t(idx.crl.nextUpdate) > now.getTime()) out.push(warning("pending.crl-due", `${file} is past its renewal point and expires at ${idx.crl.nextUpdate}; ${fix}`, file));
  }
  return out;
}
