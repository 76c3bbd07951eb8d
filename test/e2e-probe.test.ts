// Trust probes (issue 18) against real TLS servers on 127.0.0.1 — node:tls and OpenSSL's
// s_server, each requiring a client certificate from the bundle it was loaded with — before and
// after an intermediate rotation: the probe tells them apart, renew under `promotion: "probe"`
// waits for the one that lacks the new bundle, a revoked generation's leaf shows as drift, and
// peers that refuse, do not speak TLS or say nothing are results, not crashes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { buildTree, ciEnv, cli, leafKeyPem, ok, rootEnv, sandbox, type Sandbox } from "./helpers.ts";
import { freePort, nodeServer, opensslServer, plainServer, type OpensslFiles, type ServerFiles } from "./probe-servers.ts";
import { ProbeReportSchema } from "../lib/model/reports.ts";
import { sealEntry } from "../lib/store/journal.ts";
import { createHash } from "node:crypto";
import { openPki } from "../lib/mod.ts";

const H = 3_600_000;
const D = 24 * H;
const NOW = Date.now();
const iso = (t: number) => new Date(Math.floor(t / 1000) * 1000).toISOString().replace(".000Z", "Z");
const read = (sb: Sandbox, rel: string) => readFileSync(join(sb.dir, rel), "utf8");
const gens = (sb: Sandbox, scope: string) => JSON.parse(read(sb, `scopes/${scope}/scope.json`)).generations as { gen: number; state: string }[];

/** What a service of `scope` serves now (its current leaf + issuer), and the bundle it trusts as given. */
function nodeFiles(sb: Sandbox, scope: string, svc: string, bundle: string): ServerFiles {
  const gen = JSON.parse(read(sb, `leaves/${scope}/index.json`)).leaves[svc].gen;
  return { cert: read(sb, `leaves/${scope}/${svc}.crt.pem`) + read(sb, `scopes/${scope}/G${gen}.crt.pem`), key: leafKeyPem(sb, scope, svc), ca: bundle };
}
let n = 0;
function opensslFiles(sb: Sandbox, scope: string, svc: string, bundle: string): OpensslFiles {
  const f = nodeFiles(sb, scope, svc, bundle);
  const gen = JSON.parse(read(sb, `leaves/${scope}/index.json`)).leaves[svc].gen;
  const p = (name: string, text: string) => {
    const path = join(sb.base, `${++n}-${name}`);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  return { cert: p("leaf.pem", read(sb, `leaves/${scope}/${svc}.crt.pem`)), chain: p("chain.pem", read(sb, `scopes/${scope}/G${gen}.crt.pem`)), key: p("key.pem", f.key), ca: p("ca.pem", bundle) };
}

function regionFile(sb: Sandbox, name: string, services: string[], probes: Record<string, { address: string; sni?: string; clientAuth?: boolean }[]>) {
  writeFileSync(join(sb.regions, `${name}.json`), JSON.stringify({ name, services, probes }));
}

type Report = v.InferOutput<typeof ProbeReportSchema>;
async function probe(sb: Sandbox, args: string[] = []): Promise<Report> {
  const r = await ok(cli(["pki", "probe", "--json", "--timeout", "2s", ...args], ciEnv(sb)));
  return v.parse(ProbeReportSchema, JSON.parse(r.out));
}
const endpoint = (r: Report, scope: string, service: string) => r.scopes.find((s) => s.scope === scope)!.endpoints.find((e) => e.service === service)!;

test("the probe tells servers with the new bundle from those without; renew under promotion \"probe\" waits for the last one, then promotes before the timer; a revoked generation's leaf is drift", async () => {
  const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout"], us: ["search"] });
  await buildTree(sb, ["global", "eu", "us"], iso(NOW - 2 * D));
  const oldBundle = read(sb, "bundles/eu.pem");
  const a = await nodeServer(nodeFiles(sb, "eu", "payments", oldBundle));
  const b = await opensslServer(opensslFiles(sb, "eu", "checkout", oldBundle));
  const http = await plainServer("http");
  const silent = await plainServer("silent");
  const closed = await freePort();
  try {
    regionFile(sb, "eu", ["payments", "checkout"], {
      payments: [{ address: `127.0.0.1:${a.port}`, clientAuth: true }],
      checkout: [{ address: `127.0.0.1:${b.port}`, sni: "checkout.eu.mesh.test", clientAuth: true }],
    });
    regionFile(sb, "us", ["search"], { search: [{ address: `127.0.0.1:${closed}` }, { address: `127.0.0.1:${http.port}` }, { address: `127.0.0.1:${silent.port}` }] });
    // promotion: "probe" is a signed field: pki.json alone is refused until the root signs it.
    const cfg = JSON.parse(read(sb, "pki.json"));
    writeFileSync(join(sb.dir, "pki.json"), JSON.stringify({ ...cfg, promotion: "probe", probeMaxAge: "1h" }, null, 2) + "\n");
    const unsigned = await cli(["pki", "probe"], ciEnv(sb));
    assert.is(unsigned.code, 1);
    assert.match(unsigned.err, /pki\.json (promotion|probeMaxAge) differs from the custody record the root signed/, unsigned.err);
    await ok(cli(["pki", "config"], rootEnv(sb)));

    // Before any rotation: what each serves; the dead, plain and silent peers do not stop the run.
    const first = await probe(sb);
    for (const svc of ["payments", "checkout"]) {
      const e = endpoint(first, "eu", svc);
      assert.is(e.outcome, "tls", JSON.stringify(e));
      assert.equal(e.served!.issuer, { scope: "eu", gen: 1, fingerprint: JSON.parse(read(sb, "scopes/eu/scope.json")).generations[0].fingerprint });
      assert.ok(e.served!.current && e.served!.verifies && e.served!.nameMatches, JSON.stringify(e));
      assert.is(e.trust, undefined, "no prepared generation: nothing to test");
    }
    const us = first.scopes.find((s) => s.scope === "us")!.endpoints;
    assert.equal(us.map((e) => e.outcome), ["refused", "not-tls", "timeout"]);
    assert.match(first.entry, /^pki#\d+$/);
    const status0 = await cli(["pki", "status", "--json"], ciEnv(sb));
    assert.ok(!JSON.parse(status0.out).findings.some((f: { code: string; scope?: string }) => f.code.startsWith("probe.") && f.scope === "eu"), status0.out);

    // Rotate eu: G2 prepared, in bundles/eu.pem. payments reloads the new bundle, checkout does not.
    await ok(cli(["pki", "rotate", "--intermediate", "eu", "--at", iso(NOW - H)], rootEnv(sb)));
    const newBundle = read(sb, "bundles/eu.pem");
    assert.is.not(newBundle, oldBundle);
    await a.reload(nodeFiles(sb, "eu", "payments", newBundle));
    const second = await probe(sb, ["--region", "eu"]);
    assert.match(second.entry, /^eu#\d+$/, "a one-region probe journals in its scope's journal");
    const pay = endpoint(second, "eu", "payments");
    const chk = endpoint(second, "eu", "checkout");
    assert.is(pay.trust?.gen, 2);
    assert.is(pay.trust?.outcome, "accepted", JSON.stringify(pay));
    assert.is(chk.trust?.outcome, "refused", JSON.stringify(chk));
    assert.equal(second.scopes[0]!.promotion?.ready, false);
    assert.match(second.scopes[0]!.promotion!.blockers.join(), new RegExp(`checkout 127.0.0.1:${b.port}: refused`));

    // renew refuses to promote while checkout refuses — now, and after the timer too.
    const wait = await ok(cli(["pki", "renew", "--region", "eu"], ciEnv(sb)));
    assert.not.match(wait.out, /prepared → active/);
    assert.match(wait.out, new RegExp(`eu G2 stays prepared: pki.json promotion is "probe".*checkout 127\\.0\\.0\\.1:${b.port}: refused`));
    const late = await ok(cli(["pki", "renew", "--region", "eu", "--plan", "--at", iso(NOW + 30 * H)], ciEnv(sb)));
    assert.not.match(late.out, /prepared → active/);
    assert.match(late.out, /older than the evidence age/);

    // A hostile writer flips checkout's answer and appends a well-formed journal entry: the
    // signature by eu G2 no longer verifies, so the record does not count.
    const recPath = join(sb.dir, "probes/eu.json");
    const genuine = readFileSync(recPath, "utf8");
    const forged = genuine.replace(/"outcome": "refused"/, '"outcome": "accepted"');
    assert.is.not(forged, genuine);
    writeFileSync(recPath, forged);
    const jPath = join(sb.dir, "journal/scopes/eu.jsonl");
    const last = readFileSync(jPath, "utf8").trim().split("\n").map((l) => JSON.parse(l)).pop();
    appendFileSync(jPath, JSON.stringify(sealEntry({ seq: last.seq + 1, at: last.at, command: "inforge pki probe --region eu", intents: ["probe eu"], steps: 2, files: [{ path: "probes/eu.json", sha256: createHash("sha256").update(forged).digest("hex") }], prev: last.hash, base: last.base })) + "\n");
    const fooled = await ok(cli(["pki", "renew", "--region", "eu", "--plan"], ciEnv(sb)));
    assert.not.match(fooled.out, /prepared → active/);
    assert.match(fooled.err, /probes\/eu\.json does not carry a valid signature by eu G2/);

    // checkout reloads the new bundle: the next probe shows every endpoint trusting G2, and renew
    // promotes it now, 22 hours before the propagation timer would have.
    await b.reload(opensslFiles(sb, "eu", "checkout", newBundle));
    const third = await probe(sb, ["--region", "eu"]);
    assert.is(endpoint(third, "eu", "checkout").trust?.outcome, "accepted", JSON.stringify(endpoint(third, "eu", "checkout")));
    assert.equal(third.scopes[0]!.promotion, { ready: true, blockers: [] });
    const promote = await ok(cli(["pki", "renew", "--region", "eu"], ciEnv(sb)));
    assert.match(promote.out, /prepared → active\s+eu G2/);
    assert.match(promote.out, /every probed endpoint \(2\) accepted it/);
    assert.equal(gens(sb, "eu").map((g) => g.state), ["retiring", "active"]);

    // Drift: payments loads its new G2 leaf, checkout keeps serving its G1 leaf; then eu G2 is
    // recovered (revoked). The probe after that shows payments serving a revoked generation's leaf.
    await a.reload(nodeFiles(sb, "eu", "payments", read(sb, "bundles/eu.pem")));
    await ok(cli(["pki", "recover-intermediate", "eu"], rootEnv(sb)));
    await probe(sb, ["--region", "eu"]);
    const status = await cli(["pki", "status", "--json", "--check"], ciEnv(sb));
    assert.is(status.code, 2, status.out + status.err);
    const findings = JSON.parse(status.out).findings as { code: string; scope?: string; message: string; severity: string }[];
    const revoked = findings.find((f) => f.code === "probe.revoked-issuer");
    assert.ok(revoked && revoked.severity === "critical" && revoked.scope === "eu", JSON.stringify(findings));
    assert.match(revoked!.message, new RegExp(`payments at 127\\.0\\.0\\.1:${a.port}`));
    assert.match(revoked!.message, /eu G2, which is revoked/);
    assert.ok(findings.some((f) => f.code === "probe.stale-leaf" && /checkout/.test(f.message)), JSON.stringify(findings));
    const text = await cli(["pki", "status"], ciEnv(sb));
    assert.match(text.out, /serve a leaf of a revoked generation/);
    // The library: openPki().probe() records a run; openPki().status() carries the same drift.
    const pki = await openPki({ dir: sb.dir, regions: sb.regions, env: ciEnv(sb) });
    const lib = await pki.probe({ region: "eu" });
    assert.match(lib.entry, /^eu#\d+$/);
    const st = await pki.status();
    assert.is(st.health, "critical");
    assert.ok(st.drift.some((d) => d.code === "probe.revoked-issuer"), JSON.stringify(st.drift));
  } finally {
    await Promise.all([a.close(), b.close(), http.close(), silent.close()]);
  }
});

test("root rotation: a root-anchoring consumer that declares endpoints gates every new intermediate until it trusts the new root", async () => {
  const sb = sandbox({ global: ["auth"], eu: ["payments"] });
  await buildTree(sb, ["global", "eu"], iso(NOW - 2 * D));
  // The consumer checks client certificates against bundles/root.pem (root G1 only, for now).
  const daemon = await nodeServer(nodeFiles(sb, "eu", "payments", read(sb, "bundles/root.pem")));
  try {
    const cfg = JSON.parse(read(sb, "pki.json"));
    const consumers = [{ name: "daemon-fleet", anchors: "root", reloads: "live", probes: [{ address: `127.0.0.1:${daemon.port}`, sni: "daemon.example.internal" }] }];
    writeFileSync(join(sb.dir, "pki.json"), JSON.stringify({ ...cfg, consumers }, null, 2) + "\n");
    await ok(cli(["pki", "config", "--promotion", "probe"], rootEnv(sb)));
    await ok(cli(["pki", "rotate", "--root", "--at", iso(NOW - H)], rootEnv(sb)));
    // No region file lists probes: the scopes are probed for the consumer's sake.
    const before = await probe(sb);
    assert.equal(before.scopes.map((x) => x.scope), ["eu", "global"]);
    for (const sc of before.scopes) {
      const e = sc.endpoints.find((x) => x.consumer)!;
      assert.is(e.service, "daemon-fleet");
      assert.is(e.trust?.outcome, "refused", JSON.stringify(e));
      assert.equal(sc.promotion?.ready, false);
    }
    const wait = await ok(cli(["pki", "renew"], ciEnv(sb)));
    assert.not.match(wait.out, /prepared → active/);
    assert.match(wait.out, new RegExp(`consumer daemon-fleet 127\\.0\\.0\\.1:${daemon.port}: refused`));
    // The consumer loads the new root.pem (G1 and G2): every new intermediate is promoted.
    await daemon.reload(nodeFiles(sb, "eu", "payments", read(sb, "bundles/root.pem")));
    const after = await probe(sb);
    assert.ok(after.scopes.every((x) => x.promotion?.ready), JSON.stringify(after.scopes.map((x) => x.endpoints)));
    const promote = await ok(cli(["pki", "renew"], ciEnv(sb)));
    assert.match(promote.out, /prepared → active\s+eu G2/);
    assert.match(promote.out, /prepared → active\s+global G2/);
  } finally {
    await daemon.close();
  }
});

test("probe targets in a region file are host:port and nothing else; an SNI is a DNS name; the service must be declared", async () => {
  const sb = sandbox({ global: ["auth"], eu: ["payments"] });
  await buildTree(sb, ["global", "eu"], iso(NOW - D));
  const bad: [unknown, RegExp][] = [
    [[{ address: "https://payments.eu.svc:8443" }], /probes\.payments\.0\.address: an address is host:port and nothing else/],
    [[{ address: "user@payments:8443" }], /address: an address is host:port/],
    [[{ address: "payments:8443/admin" }], /address: an address is host:port/],
    [[{ address: "payments:8443?x=1" }], /address: an address is host:port/],
    [[{ address: "payments" }], /address: an address is host:port/],
    [[{ address: "payments:0" }], /address: an address is host:port/],
    [[{ address: "payments:65536" }], /address: an address is host:port/],
    [[{ address: "fe80::1%eth0:443" }], /address: an address is host:port/],
    [[{ address: "a b:443" }], /address: an address is host:port/],
    [[{ address: "payments:8443", sni: "10.0.0.1" }], /sni is a lowercase DNS name/],
    [[{ address: "payments:8443", clientAuth: "yes" }], /probes\.payments\.0\.clientAuth/],
    [[{ address: "payments:8443", url: "x" }], /probes\.payments\.0\.url/],
    [[{ address: "payments:8443" }, { address: "payments:8443" }], /lists the probe address "payments:8443" twice for "payments"/],
  ];
  for (const [targets, want] of bad) {
    writeFileSync(join(sb.regions, "eu.json"), JSON.stringify({ name: "eu", services: ["payments"], probes: { payments: targets } }));
    const r = await cli(["pki", "probe"], ciEnv(sb));
    assert.is(r.code, 1, JSON.stringify(targets));
    assert.match(r.err, want);
    assert.ok(r.err.trim().split("\n").length === 1, r.err);
  }
  writeFileSync(join(sb.regions, "eu.json"), JSON.stringify({ name: "eu", services: ["payments"], probes: { ledger: [{ address: "ledger:443" }] } }));
  assert.match((await cli(["pki", "probe"], ciEnv(sb))).err, /lists probes for "ledger", which is not one of its services \(payments\)/);
  // Accepted forms: a DNS name, IPv4, bracketed IPv6.
  writeFileSync(join(sb.regions, "eu.json"), JSON.stringify({ name: "eu", services: ["payments"], probes: { payments: [{ address: "payments-0.eu.svc:8443" }, { address: "127.0.0.1:1" }, { address: "[::1]:1" }] } }));
  const plan = await cli(["pki", "renew", "--plan"], ciEnv(sb));
  assert.is(plan.code, 0, plan.err);
  // A spent time budget leaves endpoints "skipped", recorded like any other result.
  const spent = await (await openPki({ dir: sb.dir, regions: sb.regions, env: ciEnv(sb) })).probe({ budgetMs: 1 });
  assert.equal(spent.scopes[0]!.endpoints.map((e) => e.outcome), ["skipped", "skipped", "skipped"]);
  // pki config sets promotion and its evidence age, and signs them in the same commit.
  const bogus = await cli(["pki", "config", "--promotion", "soon"], rootEnv(sb));
  assert.is(bogus.code, 1);
  assert.match(bogus.err, /invalid --promotion "soon"; give time .* or probe/);
  const set = await ok(cli(["pki", "config", "--promotion", "probe", "--probe-max-age", "2h"], rootEnv(sb)));
  assert.match(set.out, /promotion\s+\(absent\)\s+"probe"/);
  const cfg = JSON.parse(readFileSync(join(sb.dir, "pki.json"), "utf8"));
  assert.equal([cfg.promotion, cfg.probeMaxAge], ["probe", "2h"]);
  assert.equal(JSON.parse(readFileSync(join(sb.dir, "custody.json"), "utf8")).config.promotion, "probe");
  await ok(cli(["pki", "renew", "--plan"], ciEnv(sb)));
  // A probe talks to running services: a simulated clock is refused.
  const sim = await cli(["pki", "probe", "--at", iso(NOW + D)], ciEnv(sb));
  assert.is(sim.code, 1);
  assert.match(sim.err, /runs at the real time; drop --at/);
  // Without the CI identity the probe is refused before anything is connected to.
  const noCi = await cli(["pki", "probe"], sb.env());
  assert.is(noCi.code, 3);
  assert.match(noCi.err, /needs the CI master identity: set INFORGE_SECRETS_KEY/);
});

test.run();
