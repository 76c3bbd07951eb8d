// A mesh issuer believed leaked (issue 14): `pki issuer <scope> --mesh m --recover` revokes it on
// the root CRL and replaces it at once. OpenSSL reads the CRL and refuses the old issuer; a
// workload certificate the new issuer signs verifies against the same anchors; deploy --mesh
// exports only the new one; verify and the checks hold; the tree is unchanged when refused.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, opensslVerify, rootEnv, run, sandbox, treeHash } from "./helpers.ts";

const sb = sandbox();
await buildTree(sb, ["global", "eu"]);
await ok(cli(["pki", "issuer", "eu", "--mesh", "istio"], rootEnv(sb)));
const p = (rel: string) => join(sb.dir, rel);
const out = (name: string) => join(sb.base, name);

/** Istio's part, played with openssl: a workload certificate for `uri` signed by an exported issuer. */
function workload(dir: string, uri: string): string {
  const f = (x: string) => join(dir, x);
  writeFileSync(f("ext.cnf"), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=critical,URI:${uri}\n`);
  for (const [cmd, ...args] of [
    ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f("wl.key")],
    ["openssl", "req", "-new", "-key", f("wl.key"), "-subj", "/O=workload", "-out", f("wl.csr")],
    ["openssl", "x509", "-req", "-in", f("wl.csr"), "-CA", f("ca-cert.pem"), "-CAkey", f("ca-key.pem"), "-set_serial", "7", "-days", "1", "-sha256", "-extfile", f("ext.cnf"), "-out", f("wl.pem")],
  ]) {
    const r = run(cmd!, args);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  }
  return f("wl.pem");
}

test("--recover revokes the istio issuer on the root CRL and issues a new active one; OpenSSL refuses the old, accepts the new", async () => {
  await ok(cli(["deploy", "--mesh", "istio", "--region", "eu", "--out", out("before")], ciEnv(sb)));
  const r = await ok(cli(["pki", "issuer", "eu", "--mesh", "istio", "--recover"], rootEnv(sb)));
  assert.match(r.out, /active → revoked\s+eu istio G1/);
  assert.match(r.out, /issue istio issuer\s+eu istio G2 \(active\)/);
  assert.match(r.out, /sign CRL\s+#\d+, 1 revoked/);
  assert.match(r.out, /blast radius: workload certificates signed by eu istio G1 stay valid, for peers that do not check the root CRL, until they expire/);
  const scope = JSON.parse(readFileSync(p("scopes/eu/scope.json"), "utf8"));
  assert.equal(scope.issuers.istio.map((g: { gen: number; state: string }) => [g.gen, g.state]), [[1, "revoked"], [2, "active"]]);
  assert.equal(JSON.parse(readFileSync(p("root/root.json"), "utf8")).crl.revoked.map((x: { scope: string; mesh?: string; gen: number }) => [x.scope, x.mesh, x.gen]), [["eu", "istio", 1]]);

  // The root CRL lists the old issuer: refused by OpenSSL reading it; the eu intermediate is not on it.
  const g1 = opensslVerify(["-crl_check", "-CAfile", p("bundles/root.pem"), "-CRLfile", p("crl/root.crl.pem"), p("scopes/eu/istio/G1.crt.pem")]);
  assert.not.ok(g1.ok);
  assert.match(g1.out, /certificate revoked/);
  assert.ok(opensslVerify(["-crl_check", "-CAfile", p("bundles/root.pem"), "-CRLfile", p("crl/root.crl.pem"), p("scopes/eu/G1.crt.pem")]).ok, "the eu intermediate is not revoked");

  // deploy --mesh exports the new issuer only; a workload it signs verifies, checking the root CRL.
  await ok(cli(["deploy", "--mesh", "istio", "--region", "eu", "--out", out("after")], ciEnv(sb)));
  assert.is(readFileSync(out("after/ca-cert.pem"), "utf8"), readFileSync(p("scopes/eu/istio/G2.crt.pem"), "utf8"));
  const fresh = workload(out("after"), "spiffe://eu.mesh.test/ns/default/sa/web");
  assert.ok(opensslVerify(["-CAfile", out("after/root-cert.pem"), "-untrusted", out("after/ca-cert.pem"), fresh]).ok, "a workload under G2 verifies");
  // A workload of the old issuer still chains (meshes anchor on the root): only its issuer's revocation stops it.
  const old = workload(out("before"), "spiffe://eu.mesh.test/ns/default/sa/web");
  assert.ok(opensslVerify(["-CAfile", out("before/root-cert.pem"), "-untrusted", out("before/ca-cert.pem"), old]).ok, "without CRL checks the old workload still verifies: the blast radius the plan states");

  const v = await cli(["pki", "verify"], ciEnv(sb));
  assert.is(v.code, 0, v.out + v.err);
  const st = JSON.parse((await ok(cli(["pki", "status", "--json"], sb.env()))).out);
  assert.equal(st.scopes.find((s: { scope: string }) => s.scope === "eu").issuers[0].generations.map((g: { gen: number; state: string }) => [g.gen, g.state]), [[1, "revoked"], [2, "active"]]);
});

test("--recover with no live issuer, or with --rotate, is refused in one sentence and nothing changes", async () => {
  const before = treeHash(sb.dir);
  const none = await cli(["pki", "issuer", "eu", "--mesh", "linkerd", "--recover"], rootEnv(sb));
  assert.is(none.code, 1);
  assert.match(none.err, /^inforge: scope "eu" has no active or prepared linkerd issuer to recover \(.*\); issue one with inforge pki issuer eu --mesh linkerd\n$/);
  const both = await cli(["pki", "issuer", "eu", "--mesh", "istio", "--recover", "--rotate"], rootEnv(sb));
  assert.is(both.code, 1);
  assert.match(both.err, /^inforge: inforge pki issuer takes --rotate \(planned, with overlap\) or --recover \(compromise: revoke and replace now\), not both\n$/);
  assert.is(treeHash(sb.dir), before);
});

test("the state checker flags a revoked issuer missing from the root CRL", async () => {
  const rootJson = p("root/root.json");
  const saved = readFileSync(rootJson, "utf8");
  const edited = JSON.parse(saved);
  edited.crl.revoked = [];
  writeFileSync(rootJson, JSON.stringify(edited, null, 2) + "\n");
  const v = await cli(["pki", "verify"], ciEnv(sb));
  assert.is(v.code, 1);
  assert.match(v.out + v.err, /the eu istio issuer G1 is revoked but not on the root CRL/);
  writeFileSync(rootJson, saved);
});

test.after(() => rmSync(sb.base, { recursive: true, force: true }));
test.run();
