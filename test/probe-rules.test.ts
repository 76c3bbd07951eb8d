// The pure rules behind `pki probe` (issue 18): which addresses a region file may list, when the
// last probe record lets renew promote a prepared generation, and what status calls drift.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseAddress, promotionVerdict, PROBE_RECORD_SCHEMA, type EndpointResult, type ProbeRecord } from "../lib/model/probes.ts";
import { probeDrift } from "../lib/check/probe-drift.ts";
import type { Snapshot } from "../lib/model/state.ts";

const FP2 = "2".repeat(64);
const FP1 = "1".repeat(64);
const AT = "2026-11-30T10:00:00Z";
const NOW = Date.parse(AT) + 10 * 60_000;
const H = 3_600_000;

const ep = (service: string, address: string, trust?: "accepted" | "refused" | "error"): EndpointResult => ({
  service, address, sni: `${service}.eu.mesh.test`, clientAuth: true, outcome: "tls", ms: 5,
  ...(trust ? { trust: { gen: 2, fingerprint: FP2, outcome: trust } } : {}),
});
const record = (endpoints: EndpointResult[], o: Partial<ProbeRecord> = {}): ProbeRecord => ({
  schema: PROBE_RECORD_SCHEMA, scope: "eu", at: AT, prepared: { gen: 2, fingerprint: FP2 }, endpoints, signedBy: { gen: 2, fingerprint: FP2 }, signature: "x", ...o,
});
const probes = { payments: [{ address: "p-0:8443", clientAuth: true }, { address: "p-1:8443", clientAuth: true }], checkout: [{ address: "c-0:8443" }] };
const G2 = { gen: 2, fingerprint: FP2 };

test("an address is host:port and nothing else", () => {
  assert.equal(parseAddress("payments-0.eu.svc:8443"), { host: "payments-0.eu.svc", port: 8443 });
  assert.equal(parseAddress("127.0.0.1:1"), { host: "127.0.0.1", port: 1 });
  assert.equal(parseAddress("[::1]:443"), { host: "::1", port: 443 });
  for (const bad of ["https://a:1", "a:1/", "u@a:1", "a", "a:0", "a:65536", "a:01", "A.b:1", "a..b:1", "-a:1", "999.1.1.1:1", "1.2.3:1", "[fe80::1%eth0]:1", "a :1", "a:1#x", "a:1?x", "[a]:1", ""]) {
    assert.is(parseAddress(bad), null, bad);
  }
});

test("promotion: every clientAuth endpoint must have accepted the prepared generation, in a fresh record that names its fingerprint", () => {
  const all = record([ep("payments", "p-0:8443", "accepted"), ep("payments", "p-1:8443", "accepted"), ep("checkout", "c-0:8443")]);
  assert.equal(promotionVerdict(all, G2, probes, NOW, H), { ready: true, endpoints: 2, blockers: [], at: AT });
  const one = promotionVerdict(record([ep("payments", "p-0:8443", "accepted"), ep("payments", "p-1:8443", "refused")]), G2, probes, NOW, H)!;
  assert.is(one.ready, false);
  assert.equal(one.blockers, ["payments p-1:8443: refused"]);
  assert.equal(promotionVerdict(record([ep("payments", "p-0:8443", "accepted")]), G2, probes, NOW, H)!.blockers, ["payments p-1:8443: not probed yet"]);
  // Another generation's evidence (same number, other certificate), stale or future evidence, none at all.
  assert.match(promotionVerdict(all, { gen: 2, fingerprint: FP1 }, probes, NOW, H)!.blockers[0]!, /did not test G2/);
  assert.match(promotionVerdict(all, G2, probes, NOW + 2 * H, H)!.blockers[0]!, /older than the evidence age/);
  assert.match(promotionVerdict(all, G2, probes, Date.parse(AT) - 5 * 60_000, H)!.blockers[0]!, /in the future/);
  assert.match(promotionVerdict(undefined, G2, probes, NOW, H)!.blockers[0]!, /no probe has been recorded yet/);
  // Nothing that can vote: the time rule decides.
  assert.is(promotionVerdict(all, G2, { checkout: [{ address: "c-0:8443" }] }, NOW, H), null);
  // A consumer's endpoint votes too, and is told apart from a service of the same name.
  const consumer = { service: "payments", address: "p-0:8443", consumer: true as const };
  assert.equal(promotionVerdict(all, G2, probes, NOW, H, [consumer])!.blockers, ["consumer payments p-0:8443: not probed yet"]);
});

test("drift: a leaf of a revoked or retired generation, an unknown leaf, a failing chain, a stale or expiring leaf, a dead endpoint", () => {
  const gen = (g: number, state: string, fp: string) => ({ gen: g, state, serial: "01", fingerprint: fp, notBefore: "2026-01-01T00:00:00Z", notAfter: "2027-01-01T00:00:00Z", issuer: 1, since: AT });
  const snap = {
    config: { renewAt: 2 / 3, lifetimes: { root: "3650d", intermediate: "365d", leaf: "7d" }, propagation: "24h", clockSkew: "5m", crlLifetime: "180d" },
    root: { generations: [], crl: { number: 1, revoked: [] } },
    scopes: { eu: { scope: "eu", generations: [gen(1, "retired", FP1), gen(2, "revoked", FP2), gen(3, "active", "3".repeat(64))] } },
    leaves: { eu: { scope: "eu", leaves: { ledger: { gen: 3, serial: "0c", fingerprint: "c".repeat(64), notBefore: AT, notAfter: "2026-12-07T10:00:00Z" } } } },
  } as unknown as Snapshot;
  const served = (service: string, issuer: { gen: number; fingerprint: string } | null, o: Partial<NonNullable<EndpointResult["served"]>> = {}): EndpointResult => ({
    ...ep(service, `${service}:443`), served: { fingerprint: `${service.length}`.repeat(64).slice(0, 64), serial: "0a", subject: service, notBefore: AT, notAfter: "2026-12-07T10:00:00Z", issuer: issuer && { scope: "eu", ...issuer }, current: true, verifies: true, nameMatches: true, ...o },
  });
  const rec = record([
    served("payments", { gen: 2, fingerprint: FP2 }),
    served("checkout", { gen: 1, fingerprint: FP1 }),
    served("search", null),
    served("ledger", { gen: 3, fingerprint: "3".repeat(64) }, { fingerprint: "c".repeat(64), verifies: false, verifyError: "UNABLE_TO_GET_ISSUER_CERT" }),
    served("billing", { gen: 3, fingerprint: "3".repeat(64) }, { notBefore: "2026-11-20T10:00:00Z", notAfter: "2026-11-27T10:00:00Z" }),
    { ...ep("mail", "mail:443"), outcome: "timeout", error: "no TLS handshake within 5000 ms" },
  ]);
  const f = probeDrift(snap, { eu: rec }, NOW, snap.config!);
  const by = (code: string) => f.find((x) => x.code === code);
  assert.match(by("probe.revoked-issuer")!.message, /payments at payments:443 \(eu G2, which is revoked\)/);
  assert.match(by("probe.retired-issuer")!.message, /checkout at checkout:443/);
  assert.match(by("probe.unknown-leaf")!.message, /search at search:443/);
  assert.match(by("probe.chain-fails")!.message, /ledger at ledger:443 \(UNABLE_TO_GET_ISSUER_CERT\)/);
  assert.match(by("probe.leaf-expired")!.message, /billing at billing:443/);
  assert.match(by("probe.stale-leaf")!.message, /billing/, "billing's leaf is not the one the state records");
  assert.match(by("probe.unreachable")!.message, /mail at mail:443 \(timeout/);
  assert.equal(f.filter((x) => x.severity === "critical").map((x) => x.code).sort(), ["probe.chain-fails", "probe.leaf-expired", "probe.retired-issuer", "probe.revoked-issuer", "probe.unknown-leaf"]);
});

test.run();
