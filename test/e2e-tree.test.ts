// End to end on a temp dir: init → global, eu, us → renew, checked with real verifiers
// (openssl, node:tls, the age CLI), plus postures, isolation and --plan.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, files, leafKeyPem, ok, opensslVerify, plaintextKeys, rootEnv, run, sandbox, treeHash, ROOT } from "./helpers.ts";
import { mtls } from "./tls.ts";
import { STARTS_PKCS8 } from "./fixtures/pem.ts";

const sb = sandbox();
await buildTree(sb);
const p = (rel: string) => join(sb.dir, rel);
const read = (rel: string) => readFileSync(p(rel), "utf8");
const openKey = (rel: string) => {
  const r = run("age", ["-d", "-i", sb.ciKey, p(rel)]);
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
};
const side = (scope: string, svc: string, bundle = scope) => ({
  cert: read(`leaves/${scope}/${svc}.crt.pem`) + read(`scopes/${scope}/G1.crt.pem`),
  key: leafKeyPem(sb, scope, svc),
  ca: read(`bundles/${bundle}.pem`),
});

test("the tree has a root, three scopes, their bundles and a leaf per declared service", () => {
  const f = files(sb.dir);
  for (const want of ["pki.json", "root/G1.crt.pem", "root/G1.key.age", "bundles/root.pem", "bundles/eu.pem", "bundles/us.pem", "bundles/global.pem", "crl/root.crl.pem", "scopes/eu/G1.key.age", "leaves/eu/payments.crt.pem", "leaves/eu/keys.age", "leaves/us/checkout.crt.pem", "leaves/global/auth.crt.pem"]) {
    assert.ok(f.includes(want), `missing ${want}`);
  }
});

test("openssl accepts every eu leaf against bundles/eu.pem alone and rejects every us leaf", () => {
  for (const svc of ["payments", "checkout", "ledger"]) {
    const r = opensslVerify(["-partial_chain", "-CAfile", p("bundles/eu.pem"), p(`leaves/eu/${svc}.crt.pem`)]);
    assert.ok(r.ok, r.out);
  }
  for (const svc of ["payments", "checkout"]) {
    const r = opensslVerify(["-partial_chain", "-CAfile", p("bundles/eu.pem"), p(`leaves/us/${svc}.crt.pem`)]);
    assert.not.ok(r.ok, `a us leaf verified against the eu bundle: ${r.out}`);
  }
});

test("region bundles hold exactly their own and global's intermediate; global's holds all; root.pem only the root", () => {
  const count = (rel: string) => read(rel).split("BEGIN CERTIFICATE").length - 1;
  assert.is(read("bundles/eu.pem"), read("scopes/eu/G1.crt.pem") + read("scopes/global/G1.crt.pem"));
  assert.is(read("bundles/us.pem"), read("scopes/us/G1.crt.pem") + read("scopes/global/G1.crt.pem"));
  assert.is(count("bundles/global.pem"), 3);
  assert.is(read("bundles/root.pem"), read("root/G1.crt.pem"));
  assert.not.ok(read("bundles/eu.pem").includes(read("root/G1.crt.pem").split("\n")[1]!), "the root must not be in a mesh bundle");
});

test("openssl accepts each leaf against root.pem with its intermediate as untrusted", () => {
  for (const [scope, svc] of [["eu", "payments"], ["us", "checkout"], ["global", "auth"]]) {
    const r = opensslVerify(["-CAfile", p("bundles/root.pem"), "-untrusted", p(`scopes/${scope}/G1.crt.pem`), p(`leaves/${scope}/${svc}.crt.pem`)]);
    assert.ok(r.ok, r.out);
  }
});

test("a us DNS name forged under the eu intermediate is rejected by openssl for its name constraints", () => {
  const key = join(sb.base, "eu-int.key");
  writeFileSync(key, openKey("scopes/eu/G1.key.age"), { mode: 0o600 });
  const forged = (san: string, out: string) => {
    const csr = run("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(sb.base, "forged.key"), "-subj", "/CN=forged", "-out", join(sb.base, "forged.csr")]);
    assert.is(csr.status, 0, csr.stderr);
    writeFileSync(join(sb.base, "ext.cnf"), `subjectAltName=${san}\nbasicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`);
    const x = run("openssl", ["x509", "-req", "-in", join(sb.base, "forged.csr"), "-CA", p("scopes/eu/G1.crt.pem"), "-CAkey", key, "-CAcreateserial", "-days", "1", "-extfile", join(sb.base, "ext.cnf"), "-out", out]);
    assert.is(x.status, 0, x.stderr);
    return out;
  };
  // A control: the same forgery with an eu name passes, so the rejection below is the constraint's doing.
  const good = forged("DNS:evil.eu.mesh.test,URI:spiffe://eu.mesh.test/svc/evil", join(sb.base, "good.pem"));
  assert.ok(opensslVerify(["-CAfile", p("bundles/root.pem"), "-untrusted", p("scopes/eu/G1.crt.pem"), good]).ok);
  // SPIFFE IDs are fenced by the per-trust-domain bundles, not by constraints (default mode dns): test/interop-matrix.test.ts.
  for (const san of ["DNS:payments.us.mesh.test", "DNS:payments.eu.mesh.test,DNS:payments.us.mesh.test"]) {
    const bad = forged(san, join(sb.base, "bad.pem"));
    const r = opensslVerify(["-CAfile", p("bundles/root.pem"), "-untrusted", p("scopes/eu/G1.crt.pem"), bad]);
    assert.not.ok(r.ok, `forged ${san} verified`);
    assert.match(r.out, /subtree violation|name constraint/i);
  }
});

test("two eu services complete an mTLS handshake trusting only bundles/eu.pem; a us client is refused", async () => {
  const server = side("eu", "payments");
  const good = await mtls(server, side("eu", "checkout"), "payments.eu.mesh.test");
  assert.ok(good.ok, good.error);
  assert.is(good.peerUri, "spiffe://eu.mesh.test/svc/checkout");
  const us = side("us", "payments");
  const bad = await mtls(server, { ...us, ca: read("bundles/us.pem") }, "payments.eu.mesh.test");
  assert.not.ok(bad.ok, "a us client was accepted by an eu server");
});

test("a global service trusts every region; a region trusts global", async () => {
  assert.ok((await mtls(side("global", "auth", "global"), side("us", "checkout"), "auth.global.mesh.test")).ok);
  assert.ok((await mtls(side("eu", "ledger"), side("global", "config", "global"), "ledger.eu.mesh.test")).ok);
});

test("the age CLI opens a sealed intermediate key with the CI identity file, and nothing is plaintext", () => {
  assert.match(openKey("scopes/eu/G1.key.age"), STARTS_PKCS8);
  const wrong = run("age", ["-d", "-i", sb.rootKey, p("scopes/eu/G1.key.age")]);
  assert.is.not(wrong.status, 0, "the root identity must not open an intermediate key");
  const root = run("age", ["-d", "-i", sb.rootKey, p("root/G1.key.age")]);
  assert.is(root.status, 0, root.stderr);
  assert.equal(plaintextKeys(sb.dir), []);
});

test("renewing one region leaves every other region's files byte-identical", async () => {
  const notEu = (rel: string) => !rel.includes("/eu/") && rel !== "bundles/eu.pem" && !rel.startsWith("journal/");
  const before = treeHash(sb.dir, notEu);
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu"], ciEnv(sb)));
  assert.is(treeHash(sb.dir, notEu), before);
  assert.ok(opensslVerify(["-partial_chain", "-CAfile", p("bundles/eu.pem"), p("leaves/eu/payments.crt.pem")]).ok);
});

test("a renew with nothing due plans nothing and writes nothing", async () => {
  const before = treeHash(sb.dir);
  const r = await ok(cli(["pki", "renew"], ciEnv(sb)));
  assert.match(r.out, /nothing to do/);
  assert.is(treeHash(sb.dir), before);
});

test("--plan prints the plan and changes nothing", async () => {
  writeFileSync(join(sb.regions, "ap.json"), JSON.stringify({ name: "ap", services: ["payments"] }));
  const before = treeHash(sb.dir);
  const r = await ok(cli(["pki", "intermediate", "ap", "--plan"], rootEnv(sb)));
  assert.match(r.out, /issue intermediate\s+ap G1 \(active\)/);
  assert.match(r.out, /nothing was changed/);
  assert.is(treeHash(sb.dir), before);
});

test("a root step without the root identity is refused, names the posture, and changes nothing", async () => {
  const before = treeHash(sb.dir);
  const r = await cli(["pki", "intermediate", "ap"], ciEnv(sb));
  assert.is.not(r.code, 0);
  assert.match(r.err, /root posture/);
  assert.match(r.err, /INFORGE_PKI_ROOT_KEY/);
  assert.is(treeHash(sb.dir), before);
});

test("with CI set and the root identity present, every command refuses to run", async () => {
  const before = treeHash(sb.dir);
  for (const argv of [["pki", "renew"], ["pki", "status"], ["tasks"], ["pki", "intermediate", "ap"]]) {
    const r = await cli(argv, sb.env({ CI: "true", INFORGE_PKI_ROOT_KEY: sb.rootKey, INFORGE_SECRETS_KEY: sb.ciKey }));
    assert.is.not(r.code, 0, argv.join(" "));
    assert.match(r.err, /must never reach CI/);
  }
  assert.is(treeHash(sb.dir), before);
});

test("the bin entry, a task run directly with tsx, and an operator's own task all work", () => {
  const env = { ...ciEnv(sb), PATH: process.env.PATH };
  const bin = run(process.execPath, [join(ROOT, "bin/inforge.js"), "pki", "status"], { env: env as NodeJS.ProcessEnv });
  assert.is(bin.status, 0, bin.stderr);
  assert.match(bin.stdout, /eu\s+3 leaves/);
  const direct = run(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "tasks/rotate-leaf.ts"), "--region", "us", "--service", "checkout"], { env: env as NodeJS.ProcessEnv });
  assert.is(direct.status, 0, direct.stderr);
  assert.match(direct.stdout, /issue leaf\s+us\/checkout \(forced\)/);
  const own = join(sb.base, "tasks");
  mkdirSync(own);
  writeFileSync(join(sb.base, "package.json"), JSON.stringify({ type: "module" })); // an operator's infra repo is ESM
  writeFileSync(join(own, "renew-us.ts"), `import { region, task, v } from "${join(ROOT, "lib/mod.ts")}";\nexport default task({ summary: "renew us only", args: v.strictObject({}), run: () => region("us").leaves().renew() });\n`);
  const listed = run(process.execPath, [join(ROOT, "bin/inforge.js"), "tasks"], { env: { ...env, INFORGE_TASKS_DIR: own } as NodeJS.ProcessEnv, cwd: sb.base });
  assert.match(listed.stdout, /renew-us\s+renew us only\s+\(\.\/tasks\)/);
  assert.match(listed.stdout, /rotate-intermediate/);
  const ran = run(process.execPath, [join(ROOT, "bin/inforge.js"), "run", "renew-us"], { env: { ...env, INFORGE_TASKS_DIR: own } as NodeJS.ProcessEnv, cwd: sb.base });
  assert.is(ran.status, 0, ran.stderr);
  assert.match(ran.stdout, /renew-us/);
});

test.run();
