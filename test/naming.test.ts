// Naming templates (issue 14): leaves carry exactly the templated names, the intermediate's DNS
// fence follows the templates, colliding templates are refused, and a template change on an
// existing tree plans what it must — checked with openssl on the certificates made.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ciEnv, cli, ok, opensslVerify, rootEnv, run, sandbox, treeHash, type Sandbox } from "./helpers.ts";
import { leafNames, scopeDnsConstraints, namingCollision, templateProblems } from "../lib/model/naming.ts";

// In the past, so that openssl (which checks against the real clock) accepts what --at made.
const T0 = Math.floor(Date.now() / 3600_000) * 3600_000 - 48 * 3600_000;
const at = (h: number) => new Date(T0 + h * 3600_000).toISOString().replace(".000Z", "Z");
const ISTIO = {
  namespace: "shop",
  spiffePath: "/ns/{namespace}/sa/{serviceAccount}",
  dns: ["{service}.{namespace}.svc.{scope}.cluster.local"],
  services: { ledger: { namespace: "finance", serviceAccount: "ledger-sa", dns: ["ledger.{scope}.example.com"] } },
};
const region = (sb: Sandbox, name: string, services: string[], naming?: unknown) =>
  writeFileSync(join(sb.regions, `${name}.json`), JSON.stringify({ name, services, ...(naming ? { naming } : {}) }));
const sans = (file: string) => {
  const r = run("openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", file]);
  return r.stdout.split("\n").slice(1).join("").split(",").map((s) => s.trim().replace(/^DNS:/, "").replace(/^URI:/, "")).filter(Boolean);
};
const constraints = (file: string) => run("openssl", ["x509", "-noout", "-ext", "nameConstraints", "-in", file]).stdout;

test("without templates a leaf carries today's names, and the fence is <scope>.<domain>", () => {
  assert.equal(leafNames("eu", "payments", "mesh.test"), { commonName: "payments.eu.mesh.test", dns: ["payments.eu.mesh.test"], uris: ["spiffe://eu.mesh.test/svc/payments"] });
  assert.equal(scopeDnsConstraints("eu", "mesh.test"), ["eu.mesh.test"]);
});

test("templates give Istio-style SPIFFE IDs, per-service namespaces and the literal suffixes as the fence", () => {
  assert.equal(leafNames("eu", "ledger", "mesh.test", ISTIO), {
    commonName: "ledger.eu.mesh.test",
    dns: ["ledger.eu.mesh.test", "ledger.finance.svc.eu.cluster.local", "ledger.eu.example.com"],
    uris: ["spiffe://eu.mesh.test/ns/finance/sa/ledger-sa"],
  });
  assert.equal(scopeDnsConstraints("eu", "mesh.test", ISTIO), ["eu.mesh.test", "svc.eu.cluster.local", "ledger.eu.example.com"]);
});

test("a template shared by two regions collides and the sentence names the names and the fix", () => {
  const shared = { dns: ["{service}.{namespace}.svc.cluster.local"] };
  const why = namingCollision({ eu: { naming: shared }, us: { naming: shared } }, "mesh.test", "regions");
  assert.match(why ?? "", /regions\/eu\.json and regions\/us\.json could both issue names under "svc\.cluster\.local"/);
  assert.match(why ?? "", /per-region cluster domain: "\{service\}\.\{namespace\}\.svc\.\{scope\}\.cluster\.local"/);
  assert.is(namingCollision({ eu: { naming: ISTIO }, us: { naming: ISTIO } }, "mesh.test", "regions"), null);
  // A template reaching into another scope's own names collides as well.
  assert.match(namingCollision({ eu: { naming: { dns: ["{service}.us.mesh.test"] } }, us: {} }, "mesh.test", "r") ?? "", /"us\.mesh\.test"/);
});

test("colliding templates are refused by the CLI in one sentence and nothing is written", async () => {
  const sb = sandbox({ global: ["auth"], eu: ["web"], us: ["web"] });
  await ok(cli(["pki", "init", "--domain", "mesh.test", "--identity-out", sb.rootKey, "--at", at(0)], ciEnv(sb)));
  const before = treeHash(sb.dir);
  for (const s of ["eu", "us"]) region(sb, s, ["web"], { dns: ["{service}.{namespace}.svc.cluster.local"] });
  const r = await cli(["pki", "intermediate", "eu", "--at", at(0)], rootEnv(sb));
  assert.is(r.code, 1, r.err);
  assert.is(r.err.trim().split("\n").length, 1, r.err);
  assert.match(r.err, /could both issue names under "svc\.cluster\.local".*make the names region-distinct/);
  assert.is(treeHash(sb.dir), before);
});

test("a template giving two services of one scope the same name is refused: one leaf cannot present itself as another", async () => {
  // Region files are not root-signed: without this, an edit could hand checkout the name (or the
  // SPIFFE ID) of payments, inside the scope's own fence, in CI posture.
  const steal = templateProblems("eu", ["payments", "checkout"], "mesh.test", { services: { checkout: { dns: ["payments.eu.mesh.test"] } } });
  assert.match(steal[0] ?? "", /the services "payments" and "checkout" would both carry the name "payments\.eu\.mesh\.test"/);
  const sharedId = templateProblems("eu", ["payments", "checkout"], "mesh.test", { spiffePath: "/ns/{namespace}/sa/{serviceAccount}", serviceAccount: "shared" });
  assert.match(sharedId[0] ?? "", /would both carry the name "spiffe:\/\/eu\.mesh\.test\/ns\/default\/sa\/shared".*distinct serviceAccount values/);
  assert.equal(templateProblems("eu", ["payments", "checkout", "ledger"], "mesh.test", ISTIO), [], "per-service templates are fine");

  const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout"] });
  await ok(cli(["pki", "init", "--domain", "mesh.test", "--identity-out", sb.rootKey, "--at", at(0)], ciEnv(sb)));
  await ok(cli(["pki", "intermediate", "eu", "--at", at(0)], rootEnv(sb)));
  await ok(cli(["pki", "renew", "--at", at(0)], ciEnv(sb)));
  const before = treeHash(sb.dir);
  region(sb, "eu", ["payments", "checkout"], { services: { checkout: { spiffePath: "/svc/payments" } } });
  const r = await cli(["pki", "renew", "--at", at(1)], ciEnv(sb));
  assert.is(r.code, 1, r.out);
  assert.match(r.err, /^inforge: .*eu\.json: the services "payments" and "checkout" would both carry the name "spiffe:\/\/eu\.mesh\.test\/svc\/payments"/);
  assert.is(r.err.trim().split("\n").length, 1, r.err);
  assert.is(treeHash(sb.dir), before);
});

test("a tree built with templates: leaves carry exactly the templated names, inside the intermediate's fence (openssl)", async () => {
  const sb = sandbox({ global: ["auth"] });
  region(sb, "eu", ["web", "ledger"], ISTIO);
  await ok(cli(["pki", "init", "--domain", "mesh.test", "--identity-out", sb.rootKey, "--at", at(0)], ciEnv(sb)));
  await ok(cli(["pki", "intermediate", "global", "--at", at(0)], rootEnv(sb)));
  // The root operator who signs the widened fence sees it: region files are not root-signed.
  const added = await ok(cli(["pki", "intermediate", "eu", "--at", at(0)], rootEnv(sb)));
  assert.match(added.out, /eu G1 permits the DNS names the naming templates of regions\/eu\.json add \("svc\.eu\.cluster\.local", "ledger\.eu\.example\.com"\)/);
  await ok(cli(["pki", "renew", "--at", at(0)], ciEnv(sb)));
  const p = (rel: string) => join(sb.dir, rel);
  assert.equal(sans(p("leaves/eu/web.crt.pem")), ["web.eu.mesh.test", "web.shop.svc.eu.cluster.local", "spiffe://eu.mesh.test/ns/shop/sa/web"]);
  assert.equal(sans(p("leaves/eu/ledger.crt.pem")), ["ledger.eu.mesh.test", "ledger.finance.svc.eu.cluster.local", "ledger.eu.example.com", "spiffe://eu.mesh.test/ns/finance/sa/ledger-sa"]);
  assert.equal(sans(p("leaves/global/auth.crt.pem")), ["auth.global.mesh.test", "spiffe://global.mesh.test/svc/auth"]);
  const nc = constraints(p("scopes/eu/G1.crt.pem"));
  for (const n of ["DNS:eu.mesh.test", "DNS:svc.eu.cluster.local", "DNS:ledger.eu.example.com"]) assert.ok(nc.includes(n), nc);
  assert.not.ok(constraints(p("scopes/global/G1.crt.pem")).includes("cluster.local"));
  for (const svc of ["web", "ledger"]) {
    const r = opensslVerify(["-CAfile", p("bundles/root.pem"), "-untrusted", p("scopes/eu/G1.crt.pem"), p(`leaves/eu/${svc}.crt.pem`)]);
    assert.ok(r.ok, r.out);
  }
  const idx = JSON.parse(readFileSync(p("leaves/eu/index.json"), "utf8"));
  assert.equal(idx.leaves.web.names, ["web.eu.mesh.test", "web.shop.svc.eu.cluster.local", "spiffe://eu.mesh.test/ns/shop/sa/web"]);
  assert.equal(JSON.parse(readFileSync(p("leaves/global/index.json"), "utf8")).leaves.auth.names, undefined, "default names are not recorded");
  const verify = await cli(["pki", "verify", "--at", at(1)], ciEnv(sb));
  assert.is(verify.code, 0, verify.out + verify.err);
  // deploy hands out exactly these names, and its Secret names the templated SPIFFE ID.
  const out = join(sb.base, "deploy-web");
  await ok(cli(["deploy", "web", "--region", "eu", "--out", out, "--at", at(1)], ciEnv(sb)));
  assert.equal(sans(join(out, "tls.crt")), sans(p("leaves/eu/web.crt.pem")));
  assert.match(readFileSync(join(out, "secret.yaml"), "utf8"), /inforge\.dev\/spiffe-id: "spiffe:\/\/eu\.mesh\.test\/ns\/shop\/sa\/web"/);
});

test("a template added to an existing tree: SPIFFE paths change at once, new DNS names wait for a rotation the plan names", async () => {
  const sb = sandbox({ global: ["auth"], eu: ["web"], us: ["web"] });
  await ok(cli(["pki", "init", "--domain", "mesh.test", "--identity-out", sb.rootKey, "--at", at(0)], ciEnv(sb)));
  for (const s of ["global", "eu", "us"]) await ok(cli(["pki", "intermediate", s, "--at", at(0)], rootEnv(sb)));
  await ok(cli(["pki", "renew", "--at", at(0)], ciEnv(sb)));
  const p = (rel: string) => join(sb.dir, rel);
  const usBefore = treeHash(sb.dir, (rel) => rel.startsWith("leaves/us/") || rel.startsWith("scopes/us/"));
  region(sb, "eu", ["web"], { spiffePath: "/ns/{namespace}/sa/{serviceAccount}", dns: ["{service}.{namespace}.svc.{scope}.cluster.local"] });

  const planned = await ok(cli(["pki", "renew", "--plan", "--at", at(1)], ciEnv(sb)));
  assert.match(planned.out, /names changed/);
  assert.match(planned.out, /eu G1 does not permit \("web\.default\.svc\.eu\.cluster\.local"\)/);
  assert.match(planned.out, /inforge pki rotate --intermediate eu/);
  await ok(cli(["pki", "renew", "--at", at(1)], ciEnv(sb)));
  assert.equal(sans(p("leaves/eu/web.crt.pem")), ["web.eu.mesh.test", "spiffe://eu.mesh.test/ns/default/sa/web"]);
  assert.is(treeHash(sb.dir, (rel) => rel.startsWith("leaves/us/") || rel.startsWith("scopes/us/")), usBefore, "us is untouched");

  const rot = await ok(cli(["pki", "rotate", "--intermediate", "eu", "--at", at(2)], rootEnv(sb)));
  assert.match(rot.out, /eu G2 permits the DNS names the naming templates of regions\/eu\.json add \("svc\.eu\.cluster\.local"\), which G1 does not/);
  assert.ok(constraints(p("scopes/eu/G2.crt.pem")).includes("DNS:svc.eu.cluster.local"));
  await ok(cli(["pki", "renew", "--at", at(30)], ciEnv(sb)));
  assert.equal(sans(p("leaves/eu/web.crt.pem")), ["web.eu.mesh.test", "web.default.svc.eu.cluster.local", "spiffe://eu.mesh.test/ns/default/sa/web"]);
  const r = opensslVerify(["-CAfile", p("bundles/root.pem"), "-untrusted", p("scopes/eu/G2.crt.pem"), p("leaves/eu/web.crt.pem")]);
  assert.ok(r.ok, r.out);
  const verify = await cli(["pki", "verify", "--at", at(31)], ciEnv(sb));
  assert.is(verify.code, 0, verify.out + verify.err);
});

test.run();
