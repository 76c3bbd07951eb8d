// Mesh issuers end to end (issue 14): `pki issuer` → `deploy --mesh` → the test plays each mesh.
// With openssl it signs a workload certificate under the exported issuer with that mesh's naming,
// then OpenSSL and a second stack (NSS vfychain for Istio's URI fence, GnuTLS certtool for the DNS
// fences of Linkerd and cert-manager) verify it against the exported trust anchors and against
// bundles/root.pem; names outside the mesh's naming in that scope are refused by both. Then a
// node:tls handshake between two regions' Istio workloads, and an issuer rotation with --at.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import * as v from "valibot";
import { DeployMeshReportSchema, StatusReportSchema } from "../lib/model/reports.ts";
import { buildTree, ciEnv, cli, ok, rootEnv, run, sandbox, tempDir, treeHash } from "./helpers.ts";
import { assertDenoInstalled, denoHandshake } from "./deno.ts";

assertDenoInstalled();

const sb = sandbox({ global: ["auth"], us: ["api"] });
// eu's cert-manager Certificates use Kubernetes service names under a per-region cluster domain.
writeFileSync(join(sb.regions, "eu.json"), JSON.stringify({ name: "eu", services: ["web"], naming: { namespace: "shop", dns: ["{service}.{namespace}.svc.{scope}.cluster.local"] } }));
await buildTree(sb);
for (const [scope, mesh] of [["eu", "istio"], ["us", "istio"], ["eu", "linkerd"], ["eu", "cert-manager"]]) {
  await ok(cli(["pki", "issuer", scope!, "--mesh", mesh!], rootEnv(sb)));
}
const outs = tempDir("inforge-mesh-out-");
const exported = async (scope: string, mesh: string, env = ciEnv(sb), at: string[] = []) => {
  const dir = join(outs, `${scope}-${mesh}`);
  await ok(cli(["deploy", "--mesh", mesh, "--region", scope, "--out", dir, ...at], env));
  return dir;
};
const dirs = {
  euIstio: await exported("eu", "istio"),
  usIstio: await exported("us", "istio"),
  linkerd: await exported("eu", "linkerd"),
  certManager: await exported("eu", "cert-manager"),
};
const pki = (rel: string) => join(sb.dir, rel);
const read = (f: string) => readFileSync(f, "utf8");

let n = 0;
/** The mesh's part, played with openssl: a P-256 workload key and a certificate for `sans` signed by the exported issuer. */
function workload(caCert: string, caKey: string, sans: string[]): { cert: string; key: string } {
  const dir = join(outs, `wl-${n++}`);
  mkdirSync(dir);
  const f = (x: string) => join(dir, x);
  writeFileSync(f("ext.cnf"), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=critical,${sans.join(",")}\n`);
  for (const [cmd, ...args] of [
    ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f("key.pem")],
    ["openssl", "req", "-new", "-key", f("key.pem"), "-subj", "/O=workload", "-out", f("csr.pem")],
    ["openssl", "x509", "-req", "-in", f("csr.pem"), "-CA", caCert, "-CAkey", caKey, "-set_serial", String(1000 + n), "-days", "1", "-sha256", "-extfile", f("ext.cnf"), "-out", f("cert.pem")],
  ]) {
    const r = run(cmd!, args);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  }
  return { cert: f("cert.pem"), key: f("key.pem") };
}

const openssl = (anchors: string, chain: string, leaf: string) => {
  const r = run("openssl", ["verify", "-CAfile", anchors, "-untrusted", chain, leaf]);
  return { ok: r.status === 0, out: r.stdout + r.stderr };
};
const certtool = (anchors: string, chain: string, leaf: string) => {
  const file = join(outs, `gnutls-${n++}.pem`);
  writeFileSync(file, read(leaf) + read(chain));
  const r = run("certtool", ["--verify", "--load-ca-certificate", anchors, "--infile", file]);
  return { ok: r.status === 0 && /Chain verification output: Verified/.test(r.stdout), out: r.stdout.slice(-500) + r.stderr };
};
/** NSS: a fresh database trusting the anchors (CT,C,C), the issuer imported untrusted, vfychain through PKIX. */
const nss = (anchors: string, issuer: string, leaf: string) => {
  const db = join(outs, `nss-${n++}`);
  mkdirSync(db);
  const pems = read(anchors).split(/(?=-----BEGIN CERTIFICATE-----)/).filter((p) => p.includes("BEGIN"));
  const steps: string[][] = [["certutil", "-N", "-d", `sql:${db}`, "--empty-password"]];
  pems.forEach((p, i) => {
    const f = join(db, `anchor-${i}.pem`);
    writeFileSync(f, p);
    steps.push(["certutil", "-A", "-d", `sql:${db}`, "-n", `anchor-${i}`, "-t", "CT,C,C", "-a", "-i", f]);
  });
  steps.push(["certutil", "-A", "-d", `sql:${db}`, "-n", "issuer", "-t", ",,", "-a", "-i", issuer]);
  for (const [cmd, ...args] of steps) {
    const r = run(cmd!, args);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  }
  const r = run("vfychain", ["-d", `sql:${db}`, "-pp", "-u", "1", "-a", leaf]);
  return { ok: r.status === 0, out: r.stdout + r.stderr };
};

test("each mesh gets exactly the files its project documents, keys 0600, anchors = bundles/root.pem", () => {
  const ls = (d: string) => run("ls", [d]).stdout.trim().split("\n");
  assert.equal(ls(dirs.euIstio), ["ca-cert.pem", "ca-key.pem", "cacerts.yaml", "cert-chain.pem", "root-cert.pem"]);
  assert.equal(ls(dirs.linkerd), ["ca.crt", "linkerd-identity.yaml", "tls.crt", "tls.key"]);
  assert.equal(ls(dirs.certManager), ["ca.crt", "cert-manager.yaml", "tls.crt", "tls.key"]);
  assert.is(read(join(dirs.euIstio, "root-cert.pem")), read(pki("bundles/root.pem")));
  assert.is(read(join(dirs.euIstio, "ca-cert.pem")), read(pki("scopes/eu/istio/G1.crt.pem")));
  assert.is(read(join(dirs.euIstio, "cert-chain.pem")), read(pki("scopes/eu/istio/G1.crt.pem")) + read(pki("root/G1.crt.pem")));
  assert.is(read(join(dirs.linkerd, "ca.crt")), read(pki("bundles/root.pem")));
  for (const f of [join(dirs.euIstio, "ca-key.pem"), join(dirs.linkerd, "tls.key"), join(dirs.certManager, "tls.key"), join(dirs.euIstio, "cacerts.yaml")]) {
    assert.is(run("stat", ["-c", "%a", f]).stdout.trim(), "600", f);
  }
  // The key is the issuer's (openssl compares the public halves).
  const pub = (args: string[]) => run("openssl", args).stdout;
  assert.is(pub(["pkey", "-in", join(dirs.linkerd, "tls.key"), "-pubout"]), pub(["x509", "-in", join(dirs.linkerd, "tls.crt"), "-noout", "-pubkey"]));
  // Manifests name what the projects read.
  const y = (d: string, f: string) => read(join(d, f));
  assert.match(y(dirs.euIstio, "cacerts.yaml"), /kind: Secret\n[^]*name: cacerts\n\s+namespace: istio-system\n[^]*\n\s+ca-cert\.pem: [^]*ca-key\.pem: [^]*cert-chain\.pem: [^]*root-cert\.pem: /);
  assert.match(y(dirs.linkerd, "linkerd-identity.yaml"), /type: kubernetes\.io\/tls\nmetadata:\n\s+name: linkerd-identity-issuer\n\s+namespace: linkerd\n[^]*---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n\s+name: linkerd-identity-trust-roots\n\s+namespace: linkerd[^]*ca-bundle\.crt: \|/);
  assert.match(y(dirs.certManager, "cert-manager.yaml"), /name: inforge-eu-ca\n\s+namespace: cert-manager[^]*kind: ClusterIssuer\n[^]*spec:\n\s+ca:\n\s+secretName: inforge-eu-ca\n/);
});

test("the issuers are CAs signed by the root, pathLen 0, keys sealed to CI alone, fenced to each mesh's naming", () => {
  const text = (rel: string) => run("openssl", ["x509", "-noout", "-text", "-in", pki(rel)]).stdout;
  for (const mesh of ["istio", "linkerd", "cert-manager"]) {
    const t = text(`scopes/eu/${mesh}/G1.crt.pem`);
    assert.match(t, /CA:TRUE, pathlen:0/);
    assert.ok(run("openssl", ["verify", "-CAfile", pki("bundles/root.pem"), pki(`scopes/eu/${mesh}/G1.crt.pem`)]).status === 0);
    const r = run("age", ["-d", "-i", sb.ciKey, pki(`scopes/eu/${mesh}/G1.key.age`)]);
    assert.is(r.status, 0, r.stderr);
    assert.not.ok(read(pki(`scopes/eu/${mesh}/G1.key.age`)).includes("PRIVATE KEY"));
  }
  assert.match(text("scopes/eu/istio/G1.crt.pem"), /Permitted:\s+DNS:istiod\.istio-system\.svc\s+URI:eu\.mesh\.test/);
  assert.match(text("scopes/eu/linkerd/G1.crt.pem"), /Subject: CN = identity\.linkerd\.eu\.mesh\.test[^]*Permitted:\s+DNS:identity\.linkerd\.eu\.mesh\.test\s+Excluded:/);
  assert.not.match(text("scopes/eu/linkerd/G1.crt.pem"), /URI:/, "no URI constraint: Linkerd's proxy verifies with rustls");
  assert.match(text("scopes/eu/cert-manager/G1.crt.pem"), /Permitted:\s+DNS:eu\.mesh\.test\s+DNS:svc\.eu\.cluster\.local/);
});

test("istio: a workload spiffe://eu/ns/default/sa/web verifies on OpenSSL and NSS against root-cert.pem and bundles/root.pem", () => {
  const d = dirs.euIstio;
  const w = workload(join(d, "ca-cert.pem"), join(d, "ca-key.pem"), ["URI:spiffe://eu.mesh.test/ns/default/sa/web"]);
  for (const anchors of [join(d, "root-cert.pem"), pki("bundles/root.pem")]) {
    const o = openssl(anchors, join(d, "cert-chain.pem"), w.cert);
    assert.ok(o.ok, o.out);
    const s = nss(anchors, join(d, "ca-cert.pem"), w.cert);
    assert.ok(s.ok, s.out);
  }
});

test("istio: another region's trust domain and another mesh's names are refused by OpenSSL and NSS", () => {
  const d = dirs.euIstio;
  for (const san of ["URI:spiffe://us.mesh.test/ns/default/sa/web", "DNS:web.shop.svc.eu.cluster.local", "DNS:web.default.serviceaccount.identity.linkerd.eu.mesh.test"]) {
    const w = workload(join(d, "ca-cert.pem"), join(d, "ca-key.pem"), [san]);
    const o = openssl(join(d, "root-cert.pem"), join(d, "cert-chain.pem"), w.cert);
    assert.not.ok(o.ok, `openssl accepted ${san}`);
    assert.match(o.out, /permitted subtree violation|name constraints/i);
    assert.not.ok(nss(join(d, "root-cert.pem"), join(d, "ca-cert.pem"), w.cert).ok, `NSS accepted ${san}`);
  }
});

test("linkerd: a proxy identity web.default.serviceaccount.identity.linkerd.<td> verifies on OpenSSL and GnuTLS; other names are refused by both", () => {
  const d = dirs.linkerd;
  const good = workload(join(d, "tls.crt"), join(d, "tls.key"), ["DNS:web.default.serviceaccount.identity.linkerd.eu.mesh.test", "URI:spiffe://eu.mesh.test/ns/default/sa/web"]);
  for (const anchors of [join(d, "ca.crt"), pki("bundles/root.pem")]) {
    assert.ok(openssl(anchors, join(d, "tls.crt"), good.cert).ok, openssl(anchors, join(d, "tls.crt"), good.cert).out);
    const g = certtool(anchors, join(d, "tls.crt"), good.cert);
    assert.ok(g.ok, g.out);
  }
  for (const san of ["DNS:web.default.serviceaccount.identity.linkerd.us.mesh.test", "DNS:web.shop.svc.eu.cluster.local", "DNS:web.eu.mesh.test"]) {
    const w = workload(join(d, "tls.crt"), join(d, "tls.key"), [san]);
    assert.not.ok(openssl(join(d, "ca.crt"), join(d, "tls.crt"), w.cert).ok, `openssl accepted ${san}`);
    assert.not.ok(certtool(join(d, "ca.crt"), join(d, "tls.crt"), w.cert).ok, `GnuTLS accepted ${san}`);
  }
});

test("cert-manager: a Certificate with the scope's templated DNS names verifies on OpenSSL and GnuTLS; other regions' names are refused by both", () => {
  const d = dirs.certManager;
  const good = workload(join(d, "tls.crt"), join(d, "tls.key"), ["DNS:web.shop.svc.eu.cluster.local", "DNS:web.eu.mesh.test"]);
  for (const anchors of [join(d, "ca.crt"), pki("bundles/root.pem")]) {
    assert.ok(openssl(anchors, join(d, "tls.crt"), good.cert).ok, openssl(anchors, join(d, "tls.crt"), good.cert).out);
    const g = certtool(anchors, join(d, "tls.crt"), good.cert);
    assert.ok(g.ok, g.out);
  }
  for (const san of ["DNS:web.shop.svc.us.cluster.local", "DNS:api.us.mesh.test", "DNS:web.shop.svc.cluster.local"]) {
    const w = workload(join(d, "tls.crt"), join(d, "tls.key"), [san]);
    assert.not.ok(openssl(join(d, "ca.crt"), join(d, "tls.crt"), w.cert).ok, `openssl accepted ${san}`);
    assert.not.ok(certtool(join(d, "ca.crt"), join(d, "tls.crt"), w.cert).ok, `GnuTLS accepted ${san}`);
  }
});

test("rustls (Deno) as Linkerd's proxy: accepts the eu identity under the linkerd issuer, refuses a us identity; through the istio issuer it accepts istiod's DNS-only certificate and refuses a SPIFFE ID (URI constraint)", async () => {
  const served = (d: string, crt: string, key: string, sans: string[]) => {
    const w = workload(join(d, crt), join(d, key), sans);
    return { cert: read(w.cert) + read(join(d, crt)), key: read(w.key) };
  };
  const id = "web.default.serviceaccount.identity.linkerd.eu.mesh.test";
  const good = await denoHandshake(served(dirs.linkerd, "tls.crt", "tls.key", [`DNS:${id}`, "URI:spiffe://eu.mesh.test/ns/default/sa/web"]), id, join(dirs.linkerd, "ca.crt"));
  assert.ok(good.ok, good.error);
  const usId = "web.default.serviceaccount.identity.linkerd.us.mesh.test";
  const bad = await denoHandshake(served(dirs.linkerd, "tls.crt", "tls.key", [`DNS:${usId}`]), usId, join(dirs.linkerd, "ca.crt"));
  assert.not.ok(bad.ok, "rustls accepted another region's identity");
  assert.match(bad.error!, /NameConstraintViolation/);
  // Through the istio issuer (URI constraint): istiod's serving certificate (DNS only) passes rustls,
  // a certificate that also carries a SPIFFE ID — what Istio ambient's ztunnel presents — does not.
  const istiod = await denoHandshake(served(dirs.euIstio, "ca-cert.pem", "ca-key.pem", ["DNS:istiod.istio-system.svc"]), "istiod.istio-system.svc", join(dirs.euIstio, "root-cert.pem"));
  assert.ok(istiod.ok, istiod.error);
  const withId = await denoHandshake(served(dirs.euIstio, "ca-cert.pem", "ca-key.pem", ["DNS:istiod.istio-system.svc", "URI:spiffe://eu.mesh.test/ns/istio-system/sa/istiod"]), "istiod.istio-system.svc", join(dirs.euIstio, "root-cert.pem"));
  assert.not.ok(withId.ok, "rustls now accepts a URI SAN under a URI constraint: update docs/meshes.md (ztunnel)");
  assert.match(withId.error!, /NameConstraintViolation/);
});

test("a node:tls handshake between eu and us Istio workloads, trusting root-cert.pem: each side sees the peer's SPIFFE ID", async () => {
  const side = (d: string, id: string) => {
    const w = workload(join(d, "ca-cert.pem"), join(d, "ca-key.pem"), [`URI:${id}`]);
    // What Envoy sends: the workload certificate, then the chain istiod hands out with it.
    return { cert: read(w.cert) + read(join(d, "ca-cert.pem")), key: read(w.key), ca: read(join(d, "root-cert.pem")) };
  };
  const euId = "spiffe://eu.mesh.test/ns/default/sa/web";
  const usId = "spiffe://us.mesh.test/ns/default/sa/api";
  const eu = side(dirs.euIstio, euId);
  const us = side(dirs.usIstio, usId);
  const uri = (c: tls.PeerCertificate) => /URI:([^,\s]+)/.exec(c.subjectaltname ?? "")?.[1];
  let serverSaw: string | undefined;
  const srv = tls.createServer({ key: us.key, cert: us.cert, ca: us.ca, requestCert: true, rejectUnauthorized: true }, (s) => {
    serverSaw = uri(s.getPeerCertificate());
    s.end("hello");
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  try {
    const clientSaw = await new Promise<string | undefined>((resolve, reject) => {
      // Istio authorizes by SPIFFE ID, not host name: the identity is compared below.
      const c = tls.connect({ host: "127.0.0.1", port: (srv.address() as AddressInfo).port, key: eu.key, cert: eu.cert, ca: eu.ca, checkServerIdentity: () => undefined }, () => {
        const id = uri(c.getPeerCertificate());
        c.on("data", () => resolve(id));
      });
      c.on("error", reject);
    });
    assert.is(clientSaw, usId);
    assert.is(serverSaw, euId);
  } finally {
    srv.close();
  }
});

test("status --json lists the issuers and deploy --mesh --json reports the generation, both valid against their schemas", async () => {
  const st = v.parse(StatusReportSchema, JSON.parse((await ok(cli(["pki", "status", "--json"], ciEnv(sb)))).out));
  const eu = st.scopes.find((x) => x.scope === "eu")!;
  assert.equal(eu.issuers?.map((i) => `${i.mesh} G${i.generations[0]!.gen} ${i.generations[0]!.state}`), ["istio G1 active", "linkerd G1 active", "cert-manager G1 active"]);
  assert.is(st.scopes.find((x) => x.scope === "global")!.issuers, undefined);
  const d = v.parse(DeployMeshReportSchema, JSON.parse((await ok(cli(["deploy", "--mesh", "istio", "--region", "eu", "--out", dirs.euIstio, "--json"], ciEnv(sb)))).out));
  assert.equal([d.mesh, d.gen, d.changed], ["istio", 1, []]);
});

test("deploy --mesh refuses a swapped issuer certificate and writes nothing", async () => {
  const sb2 = sandbox({ global: ["auth"], eu: ["web"] });
  await buildTree(sb2, ["global", "eu"]);
  await ok(cli(["pki", "issuer", "eu", "--mesh", "istio"], rootEnv(sb2)));
  const none = await cli(["deploy", "--mesh", "linkerd", "--region", "eu", "--out", join(outs, "none")], ciEnv(sb2));
  assert.is(none.code, 1);
  assert.match(none.err, /scope "eu" has no active linkerd issuer; issue one with inforge pki issuer eu --mesh linkerd/);
  // The plaintext key never lands in the pki directory (deploy's rules, lib/cli/out-dir.ts).
  const inside = await cli(["deploy", "--mesh", "istio", "--region", "eu", "--out", join(sb2.dir, "istio")], ciEnv(sb2));
  assert.is(inside.code, 1);
  assert.match(inside.err, /is inside the pki directory/);
  // A hostile repo writer puts the eu intermediate where the istio issuer was (it chains to the root too).
  writeFileSync(join(sb2.dir, "scopes/eu/istio/G1.crt.pem"), read(join(sb2.dir, "scopes/eu/G1.crt.pem")));
  const out = join(outs, "swapped");
  const r = await cli(["deploy", "--mesh", "istio", "--region", "eu", "--out", out], ciEnv(sb2));
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /scopes\/eu\/istio\/G1\.crt\.pem was changed outside inforge/);
  assert.is(run("ls", [outs]).stdout.includes("swapped"), false);
  const v = await cli(["pki", "verify"], ciEnv(sb2));
  assert.is(v.code, 1);
  assert.match(v.out + v.err, /scopes\/eu\/istio\/G1\.crt\.pem/);
  // The tamper check stops every run that would apply something (here: leaves past their renewal point).
  const renew = await cli(["pki", "renew", "--at", new Date(Date.now() + 6 * 86_400_000).toISOString()], ciEnv(sb2));
  assert.is(renew.code, 1);
  assert.match(renew.err, /scopes\/eu\/istio\/G1\.crt\.pem was changed outside inforge/);
});

test("issuer rotation through its overlap with --at: exported files at each stage", async () => {
  const H = 3600_000;
  const T0 = Math.floor(Date.now() / H) * H - 72 * H; // in the past: openssl checks the real clock
  const at = (h: number) => ["--at", new Date(T0 + h * H).toISOString().replace(".000Z", "Z")];
  const s = sandbox({ global: ["auth"], eu: ["web"] });
  await buildTree(s, ["global", "eu"], at(0)[1]);
  await ok(cli(["pki", "issuer", "eu", "--mesh", "istio", ...at(0)], rootEnv(s)));
  const out = join(outs, "rot");
  const p = (rel: string) => join(s.dir, rel);
  const exp = (h: number) => ok(cli(["deploy", "--mesh", "istio", "--region", "eu", "--out", out, ...at(h)], ciEnv(s)));
  await exp(0);
  const w1 = workload(join(out, "ca-cert.pem"), join(out, "ca-key.pem"), ["URI:spiffe://eu.mesh.test/ns/default/sa/web"]);
  const chain1 = join(outs, "chain-g1.pem");
  writeFileSync(chain1, read(join(out, "cert-chain.pem")));

  // Stage 1: G2 prepared. Nothing changes for the mesh yet: G1 is still what is exported.
  const rot = await ok(cli(["pki", "issuer", "eu", "--mesh", "istio", "--rotate", ...at(1)], rootEnv(s)));
  assert.match(rot.out, /issue istio issuer\s+eu istio G2 \(prepared\)/);
  assert.match(rot.out, /inforge pki renew --region eu \(promotes the eu istio issuer G2\)/);
  const before = treeHash(out);
  await exp(2);
  assert.is(treeHash(out), before, "a prepared issuer changes no exported byte");
  const early = await ok(cli(["pki", "renew", "--region", "eu", "--plan", ...at(2)], ciEnv(s)));
  assert.match(early.out, /in CI after .*promotes the eu istio issuer G2/);

  // Stage 2: after the propagation delay CI promotes G2; the export switches to it; G1's workloads still verify.
  const promote = await ok(cli(["pki", "renew", "--region", "eu", ...at(26)], ciEnv(s)));
  assert.match(promote.out, /prepared → active\s+eu istio G2/);
  assert.match(promote.out, /active → retiring\s+eu istio G1/);
  await exp(26);
  assert.is(read(join(out, "ca-cert.pem")), read(p("scopes/eu/istio/G2.crt.pem")));
  assert.is(read(join(out, "root-cert.pem")), read(p("bundles/root.pem")));
  const w2 = workload(join(out, "ca-cert.pem"), join(out, "ca-key.pem"), ["URI:spiffe://eu.mesh.test/ns/default/sa/web"]);
  assert.ok(openssl(join(out, "root-cert.pem"), join(out, "cert-chain.pem"), w2.cert).ok);
  assert.ok(openssl(join(out, "root-cert.pem"), chain1, w1.cert).ok, "a workload of the retiring G1 still verifies against the exported anchors");
  const status = await ok(cli(["pki", "status", ...at(26)], ciEnv(s)));
  assert.match(status.out, /istio issuer G1 retiring/);
  assert.match(status.out, /istio issuer G2 active/);
  const scope = JSON.parse(read(p("scopes/eu/scope.json")));
  assert.equal(scope.issuers.istio.map((g: { state: string }) => g.state), ["retiring", "active"]);

  // Stage 3: once G1's workload certificates can have expired (leaf life + skew), CI retires it.
  const retire = await ok(cli(["pki", "renew", "--at", scope.issuers.istio[0].retireAfter], ciEnv(s)));
  assert.match(retire.out, /retiring → retired\s+eu istio G1/);
  assert.equal(JSON.parse(read(p("scopes/eu/scope.json"))).issuers.istio.map((g: { state: string }) => g.state), ["retired", "active"]);
  const v = await cli(["pki", "verify", "--at", scope.issuers.istio[0].retireAfter], ciEnv(s));
  assert.is(v.code, 0, v.out + v.err);
});

test("a root rotation moves the mesh issuers under the new root; during the overlap the anchors hold both roots and the chain the cross certificate", async () => {
  const H = 3600_000;
  const T0 = Math.floor(Date.now() / H) * H - 72 * H;
  const at = (h: number) => ["--at", new Date(T0 + h * H).toISOString().replace(".000Z", "Z")];
  const s = sandbox({ global: ["auth"], eu: ["web"] });
  await buildTree(s, ["global", "eu"], at(0)[1]);
  await ok(cli(["pki", "issuer", "eu", "--mesh", "linkerd", ...at(0)], rootEnv(s)));
  const rr = await ok(cli(["pki", "rotate", "--root", ...at(1)], rootEnv(s)));
  assert.match(rr.out, /issue linkerd issuer\s+eu linkerd G2 \(prepared\)/);
  await ok(cli(["pki", "renew", ...at(26)], ciEnv(s)));
  const out = join(outs, "root-overlap");
  await ok(cli(["deploy", "--mesh", "linkerd", "--region", "eu", "--out", out, ...at(26)], ciEnv(s)));
  const p = (rel: string) => join(s.dir, rel);
  assert.is(read(join(out, "ca.crt")), read(p("root/G1.crt.pem")) + read(p("root/G2.crt.pem")));
  assert.is(read(join(out, "tls.crt")), read(p("scopes/eu/linkerd/G2.crt.pem")) + read(p("root/G2-by-G1.crt.pem")));
  const w = workload(join(out, "tls.crt"), join(out, "tls.key"), ["DNS:web.default.serviceaccount.identity.linkerd.eu.mesh.test"]);
  // A proxy still anchored on the old root alone verifies through the cross certificate.
  assert.ok(openssl(p("root/G1.crt.pem"), join(out, "tls.crt"), w.cert).ok, openssl(p("root/G1.crt.pem"), join(out, "tls.crt"), w.cert).out);
  assert.ok(openssl(p("root/G2.crt.pem"), join(out, "tls.crt"), w.cert).ok);
  // The overlap cannot finish while the old root's issuer is live.
  const fin = await cli(["pki", "rotate", "--root", "--finish", ...at(27)], rootEnv(s));
  assert.is(fin.code, 1);
  assert.match(fin.err, /eu linkerd issuer G1 \(retiring\)/);
});

test.run();
