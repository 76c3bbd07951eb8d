import { timing } from "../model/config.ts";
import * as P from "../model/paths.ts";
import { generationsOf } from "../model/state.ts";
import { activeRoot, configOf, iso, ms, type Draft } from "./draft.ts";

/** The root-signed CRL: re-signed by every root-posture run that changes revocations or roots. */
export function signCrl(d: Draft, origin: string) {
  const t = timing(configOf(d, origin));
  const r = activeRoot(d, origin);
  // Every root that is still trusted somewhere signs a CRL: the live ones, and a retired root
  // that signed a revoked intermediate, until it expires — otherwise a consumer that still
  // anchors on it would find no CRL for that revocation once the root overlap is finished.
  const revokedBy = new Set(d.root.crl.revoked.map((r) => generationsOf(d.scopes[r.scope], r.mesh).find((g) => g.gen === r.gen)?.issuer));
  const live = d.root.generations.filter(
    (g) => g.state === "active" || g.state === "retiring" || (g.state === "retired" && revokedBy.has(g.gen) && ms(g.notAfter) > d.now),
  );
  d.root.crl.number += 1;
  d.root.crl.thisUpdate = iso(d.now);
  d.steps.push({
    kind: "sign-crl", origin, identity: live.every((g) => d.fresh.has(`root/G${g.gen}`)) ? null : "root", rootGens: live.map((g) => g.gen), number: d.root.crl.number,
    thisUpdate: iso(d.now), nextUpdate: iso(Math.min(d.now + t.crlLifetime, ms(r.notAfter))),
    revoked: d.root.crl.revoked.map((x) => ({ scope: x.scope, gen: x.gen, ...(x.mesh ? { mesh: x.mesh } : {}) })),
    writes: [P.CRL],
  });
}
