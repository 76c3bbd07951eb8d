import { timing } from "../model/config.ts";
import * as P from "../model/paths.ts";
import { configOf, iso, ms, skewed, type Draft } from "./draft.ts";

// The scope CRL (crl/<scope>.crl.pem): what leaf revocation publishes, and what OpenSSL's
// -crl_check_all needs from every CA in a chain — one CRL per intermediate that has signed a
// live leaf. Signed in CI posture by every run that works on the scope's leaves, when:
//   - the scope has leaves but no CRL yet (its first leaves are being minted),
//   - the set of live (active, retiring) generations changed: a promotion, a retirement, a
//     recovery (so each CA that issued a live leaf has its CRL),
//   - a leaf was revoked (`force`),
//   - or renewAt (2/3) of the CRL's life has passed: like a leaf, it is renewed at 2/3.
// It lives as long as a leaf (7 days by default): a daily CI run re-signs it with days to
// spare, and a consumer that caches it until nextUpdate learns of a revocation within a leaf's life.

/** Re-sign the scope's CRL if it is due (or `force`); updates the draft's leaf index. */
export function signScopeCrl(d: Draft, scope: string, origin: string, o: { force?: boolean; why?: string } = {}): void {
  const idx = d.leaves[scope];
  if (!idx) return;
  const minted = Object.keys(idx.leaves).length + Object.keys(idx.csr ?? {}).length > 0;
  if (!minted && !idx.crl) return;
  const gens = (d.scopes[scope]?.generations ?? [])
    .filter((g) => g.state === "active" || g.state === "retiring")
    .map((g) => g.gen)
    .sort((a, b) => a - b);
  if (!gens.length) return;
  const t = timing(configOf(d, origin));
  const prev = idx.crl;
  let why = o.force ? (o.why ?? "forced") : null;
  if (!why && !prev) why = "first leaves";
  else if (!why && prev!.gens.join() !== gens.join()) why = `issuers now G${gens.join(", G")}`;
  else if (!why && d.now >= ms(prev!.thisUpdate) + (ms(prev!.nextUpdate) - ms(prev!.thisUpdate)) * t.renewAt) why = "renewal point";
  if (!why) return;
  // An entry leaves the CRL once its issuer no longer signs one (retired: all its leaves have
  // expired; revoked: the root CRL covers them all), or once a CRL issued after the leaf's
  // notAfter has listed it (RFC 5280 §3.3: "An entry MUST NOT be removed from the CRL until it
  // appears on one regularly scheduled CRL issued beyond the revoked certificate's validity period").
  if (idx.revoked) idx.revoked = idx.revoked.filter((r) => gens.includes(r.gen) && !(prev && ms(r.notAfter) < ms(prev.thisUpdate)));
  // Backdated by the clock skew, as certificates are: a consumer whose clock runs behind would
  // otherwise find the CRL "not yet valid" and fail every chain it checks with it.
  const thisUpdate = skewed(d, t);
  const number = (prev?.number ?? 0) + 1;
  idx.crl = { number, thisUpdate: iso(thisUpdate), nextUpdate: iso(thisUpdate + t.leaf), gens };
  d.steps.push({
    kind: "sign-scope-crl", origin, identity: gens.every((g) => d.fresh.has(`${scope}/G${g}`)) ? null : "ci",
    scope, gens, number, thisUpdate: idx.crl.thisUpdate, nextUpdate: idx.crl.nextUpdate, why,
    revoked: (idx.revoked ?? []).map((r) => ({ service: r.service, gen: r.gen, serial: r.serial, reason: r.reason })),
    writes: [P.scopeCrl(scope)],
  });
}
