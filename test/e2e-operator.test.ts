// Issue 15, through the CLI with real certificates: the expired-intermediate path checked by
// openssl, and the CLI gaps an operator hit (stray arguments, flags without values, graph --json).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { acquireLock } from "../lib/store/lock.ts";
import { join } from "node:path";
import * as v from "valibot";
import { GraphReportSchema } from "../lib/model/reports.ts";
import { buildTree, ciEnv, cli, ok, opensslVerify, rootEnv, run, sandbox, treeHash } from "./helpers.ts";

const D = 86_400_000;
const iso = (t: number) => new Date(Math.floor(t / 1000) * 1000).toISOString().replace(".000Z", "Z");
const T0 = Date.now() - D;
const sb = sandbox({ global: ["auth"], eu: ["payments"] });
test.after(() => rmSync(sb.base, { recursive: true, force: true }));
await buildTree(sb, ["global", "eu"], iso(T0));
const pki = (rel: string) => join(sb.dir, rel);

test("11: pki graph --json prints inforge.graph/v1 nodes and edges, the same the Mermaid rendering draws", async () => {
  const r = await ok(cli(["pki", "graph", "--json"], sb.env()));
  const g = v.parse(GraphReportSchema, JSON.parse(r.out));
  const mermaid = (await ok(cli(["pki", "graph"], sb.env()))).out;
  assert.ok(g.nodes.some((n) => n.kind === "root" && n.gen === 1 && n.state === "active"));
  assert.equal(g.nodes.filter((n) => n.kind === "intermediate").map((n) => `${n.name} G${n.gen}`).sort(), ["eu G1", "global G1"]);
  assert.ok(g.edges.some((e) => e.kind === "signs" && e.from === "root_G1" && e.to === "eu_G1"));
  assert.ok(g.edges.some((e) => e.kind === "carries" && e.from === "bundle_eu" && e.to === "eu_G1"));
  for (const n of g.nodes) assert.ok(mermaid.includes(`  ${n.id}`), `${n.id} is in the Mermaid graph too`);
  assert.is(mermaid.split("\n").filter((l) => /-->|-\.-|==>/.test(l)).length, g.edges.length);
});

test("5: an expired intermediate is replaced at once (no prepared G2, nothing revoked); openssl accepts the new chain right away", async () => {
  const euG1 = run("openssl", ["x509", "-noout", "-enddate", "-in", pki("scopes/eu/G1.crt.pem")]).stdout;
  const expiry = Date.parse(euG1.replace(/^notAfter=/, "").trim());
  const at = expiry + 26 * D;
  const status = await ok(cli(["pki", "status", "--at", iso(at)], sb.env()));
  assert.match(status.out, /expired \S+ \(26d ago\)/);
  assert.match(status.out, /eu G1 expired 26d ago .*replace it now: inforge pki rotate --intermediate eu/);
  assert.not.match(status.out, /in -\d/);
  const rot = await ok(cli(["pki", "rotate", "--intermediate", "eu", "--at", iso(at)], rootEnv(sb)));
  assert.match(rot.out, /no overlap .*no revocation/);
  assert.not.match(rot.out, /prepared/);
  const renew = await ok(cli(["pki", "renew", "--region", "eu", "--at", iso(at + 60_000)], ciEnv(sb)));
  assert.match(renew.out, /payments/);
  const when = String(Math.floor((at + 120_000) / 1000));
  const v = opensslVerify(["-attime", when, "-CAfile", pki("root/G1.crt.pem"), "-untrusted", pki("scopes/eu/G2.crt.pem"), pki("leaves/eu/payments.crt.pem")]);
  assert.ok(v.ok, v.out);
  const bundle = readFileSync(pki("bundles/eu.pem"), "utf8");
  assert.not.ok(bundle.includes(readFileSync(pki("scopes/eu/G1.crt.pem"), "utf8").trim()), "the expired G1 left the eu bundle");
  assert.ok(bundle.includes(readFileSync(pki("scopes/eu/G2.crt.pem"), "utf8").trim()));
  const crl = run("openssl", ["crl", "-noout", "-text", "-in", pki("crl/root.crl.pem")]).stdout;
  assert.match(crl, /No Revoked Certificates/, "an expired intermediate is not revoked");
});

test("13: the lock message shows the real time the lock was taken, and a simulated --at beside it", async () => {
  const dir = join(sb.base, "lock-dir");
  mkdirSync(dir);
  const simulated = new Date("2031-06-01T00:00:00Z");
  const before = Date.now();
  const held = await acquireLock(dir, "inforge pki renew --at 2031-06-01T00:00:00Z", simulated);
  try {
    const err = await acquireLock(dir, "inforge pki renew", new Date()).then(() => null, (e: Error) => e.message);
    assert.ok(err, "a second run got the lock");
    const since = /since (\S+?),/.exec(err!)?.[1];
    assert.ok(since, err!);
    assert.ok(Math.abs(Date.parse(since!) - before) < 60_000, `"since" is the wall clock, not the simulated time: ${err}`);
    assert.match(err!, /simulating 2031-06-01T00:00:00\.000Z\)/);
  } finally {
    await held.release();
  }
});

test("7: a run names the journal its entry went to: a one-region run eu#N, a whole-directory run pki#N, in text and --json", async () => {
  const own = sandbox({ eu: ["payments"] });
  try {
    await buildTree(own, ["eu"], iso(T0));
    const one = await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu"], ciEnv(own)));
    assert.match(one.out, /\(journal entry eu#\d+\)/, one.out);
    const js = JSON.parse((await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu", "--json"], ciEnv(own)))).out);
    assert.match(js.entry, /^eu#\d+$/);
    assert.is(js.entry, `eu#${js.journal}`);
    const whole = await ok(cli(["pki", "crl"], rootEnv(own)));
    assert.match(whole.out, /\(journal entry pki#\d+\)/, whole.out);
  } finally {
    rmSync(own.base, { recursive: true, force: true });
  }
});

test("6: deploy.md §4 — declaring root-anchoring consumers is refused until pki config signs it, then verify ends clean", async () => {
  const own = sandbox({ eu: ["payments"] });
  try {
    await buildTree(own, ["eu"], iso(T0));
    const file = join(own.dir, "pki.json");
    const cfg = JSON.parse(readFileSync(file, "utf8"));
    writeFileSync(file, JSON.stringify({ ...cfg, consumers: [{ name: "daemon-fleet", anchors: "root", reloads: "restart" }] }, null, 2) + "\n");
    const refused = await cli(["pki", "renew"], ciEnv(own));
    assert.is(refused.code, 1, refused.err);
    assert.match(refused.err, /pki\.json consumers differs from the custody record the root signed/);
    await ok(cli(["pki", "config"], rootEnv(own)));
    const v = await cli(["pki", "verify"], ciEnv(own));
    assert.match(v.out, /verify: ok/, v.out);
    await ok(cli(["pki", "renew"], ciEnv(own)));
  } finally {
    rmSync(own.base, { recursive: true, force: true });
  }
});

test.run();
