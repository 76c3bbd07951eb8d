// `inforge deploy` and `inforge releases deploy` end to end on a temp dir: what a service loads
// is exactly the files deploy wrote, checked with node:tls (mTLS), openssl and a YAML parser;
// a re-run with nothing due touches nothing; a release that partly fails says what was and was
// not delivered, and a re-run completes it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { buildTree, ciEnv, cli, files, ok, opensslVerify, plaintextKeys, rootEnv, run, sandbox, treeHash } from "./helpers.ts";
import { mtls } from "./tls.ts";

const sb = sandbox();
await buildTree(sb);
const out = (scope: string, svc: string) => join(sb.base, "deploy", scope, svc);
const read = (p: string) => readFileSync(p, "utf8");
const pki = (rel: string) => read(join(sb.dir, rel));
const deploy = (svc: string, scope: string, extra: string[] = [], env = ciEnv(sb)) => cli(["deploy", svc, "--region", scope, "--out", out(scope, svc), ...extra], env);
/** A service exactly as deploy left it: nothing read from the pki directory. */
const side = (scope: string, svc: string) => ({ cert: read(join(out(scope, svc), "tls.crt")), key: read(join(out(scope, svc), "tls.key")), ca: read(join(out(scope, svc), "ca.crt")) });
const mtimes = (dir: string) => files(dir).map((f) => `${f}@${statSync(join(dir, f)).mtimeMs}`);

test("deploy writes tls.crt (leaf + issuing intermediate), tls.key (0600), ca.crt (the scope bundle), a bundle per trust domain it talks to and a kubernetes.io/tls Secret", async () => {
  const r = await ok(deploy("payments", "eu"));
  assert.match(r.out, /deployed eu\/payments to .*: reused the current leaf, valid until .*; wrote tls\.key, tls\.crt, ca\.crt, trust\/eu\.mesh\.test\.pem, trust\/global\.mesh\.test\.pem, secret\.yaml/);
  const d = out("eu", "payments");
  assert.equal(files(d), ["ca.crt", "secret.yaml", "tls.crt", "tls.key", "trust/eu.mesh.test.pem", "trust/global.mesh.test.pem"]);
  for (const td of ["eu", "global"]) assert.is(read(join(d, `trust/${td}.mesh.test.pem`)), pki(`bundles/trust-domains/${td}.mesh.test.pem`));
  // A global service talks to every region: it gets every trust domain's bundle.
  await ok(deploy("auth", "global"));
  assert.equal(files(out("global", "auth")).filter((f) => f.startsWith("trust/")), ["trust/eu.mesh.test.pem", "trust/global.mesh.test.pem", "trust/us.mesh.test.pem"]);
  assert.is(statSync(join(d, "tls.key")).mode & 0o777, 0o600);
  assert.is(statSync(join(d, "secret.yaml")).mode & 0o777, 0o600);
  assert.is(read(join(d, "tls.crt")), pki("leaves/eu/payments.crt.pem") + pki("scopes/eu/G1.crt.pem"));
  assert.is(read(join(d, "ca.crt")), pki("bundles/eu.pem"));
  const v = opensslVerify(["-partial_chain", "-CAfile", join(d, "ca.crt"), join(d, "tls.crt")]);
  assert.ok(v.ok, v.out);
  const keyPub = run("openssl", ["pkey", "-in", join(d, "tls.key"), "-pubout"]).stdout;
  const certPub = run("openssl", ["x509", "-in", join(d, "tls.crt"), "-noout", "-pubkey"]).stdout;
  assert.ok(keyPub.length > 0 && keyPub === certPub, "tls.key is the key of tls.crt");
  const secret = parseYaml(read(join(d, "secret.yaml")));
  assert.equal([secret.apiVersion, secret.kind, secret.type, secret.metadata.name], ["v1", "Secret", "kubernetes.io/tls", "payments-tls"]);
  for (const f of ["tls.crt", "tls.key", "ca.crt"]) assert.is(Buffer.from(secret.data[f], "base64").toString(), read(join(d, f)), f);
  assert.equal(plaintextKeys(sb.dir), []);
});

test("a real node:tls server and client that load only deployed files complete mTLS; a service from another region is refused", async () => {
  for (const [svc, scope] of [["checkout", "eu"], ["payments", "us"], ["auth", "global"]] as const) await ok(deploy(svc, scope));
  const hs = await mtls(side("eu", "payments"), side("eu", "checkout"), "payments.eu.mesh.test");
  assert.ok(hs.ok, hs.error);
  assert.is(hs.peerUri, "spiffe://eu.mesh.test/svc/checkout");
  assert.ok((await mtls(side("eu", "payments"), side("global", "auth"), "payments.eu.mesh.test")).ok, "a global service is trusted by eu");
  assert.not.ok((await mtls(side("eu", "payments"), side("us", "payments"), "payments.eu.mesh.test")).ok, "an eu server accepted a us client");
  assert.not.ok((await mtls(side("us", "payments"), side("eu", "checkout"), "payments.us.mesh.test")).ok, "a us server accepted an eu client");
});

test("re-running deploy with nothing due rewrites nothing: same bytes, same mtimes, pki directory untouched", async () => {
  const d = out("eu", "payments");
  const [before, times, pkiBefore] = [treeHash(d), mtimes(d), treeHash(sb.dir)];
  const r = await ok(deploy("payments", "eu"));
  assert.match(r.out, /every file already up to date, nothing written/);
  assert.not.match(r.out, /plan:/, "nothing due: no plan is printed");
  assert.equal([treeHash(d), mtimes(d), treeHash(sb.dir)], [before, times, pkiBefore]);
});

test("deploy mints the service's leaf when it is missing or due, and no other service's", async () => {
  writeFileSync(join(sb.regions, "eu.json"), JSON.stringify({ name: "eu", services: ["payments", "checkout", "ledger", "search"] }));
  const r = await ok(deploy("search", "eu"));
  assert.match(r.out, /eu\/search \(missing\)/);
  assert.match(r.out, /minted a new leaf \(missing\)/);
  const idx = () => JSON.parse(pki("leaves/eu/index.json")).leaves as Record<string, { serial: string }>;
  const before = idx();
  const later = new Date(Date.now() + 5 * 86_400_000).toISOString();
  const due = await ok(deploy("checkout", "eu", ["--at", later]));
  assert.match(due.out, /minted a new leaf \(due\)/);
  const now = idx();
  assert.is.not(now.checkout!.serial, before.checkout!.serial);
  for (const svc of ["payments", "ledger", "search"]) assert.is(now[svc]!.serial, before[svc]!.serial, svc);
});

test("deploy refuses an --out inside the pki directory, an undeclared service, and a run without the CI identity", async () => {
  const inside = await cli(["deploy", "payments", "--region", "eu", "--out", join(sb.dir, "deploy")], ciEnv(sb));
  assert.is(inside.code, 1);
  assert.match(inside.err, /--out ".*" is inside the pki directory .*; deploy writes a plaintext private key/);
  const unknown = await deploy("nope", "eu");
  assert.is(unknown.code, 1);
  assert.match(unknown.err, /unknown service "nope" in "eu" \(inforge deploy; known: .*\); add it to regions\/eu\.json/);
  const bare = await deploy("payments", "eu", [], sb.env());
  assert.is(bare.code, 3);
  assert.match(bare.err, /needs the CI master identity: set INFORGE_SECRETS_KEY \(CI posture\)/);
});

// ---- releases ----------------------------------------------------------------------------------

const releases = join(sb.base, "releases");
const release = (name: string, deploy: { region: string; services: string[] }[]) => {
  mkdirSync(releases, { recursive: true });
  writeFileSync(join(releases, `${name}.json`), JSON.stringify({ name, deploy }));
};
const ship = (name: string, env = ciEnv(sb, { INFORGE_RELEASES_DIR: releases })) => cli(["releases", "deploy", name, "--out", join(sb.base, "rel")], env);
const journal = () => pki("journal/pki.jsonl").trim().split("\n").length;

test("a release with a region not set up yet delivers the rest in one commit, says exactly what was not delivered, exits 1; a re-run completes it", async () => {
  writeFileSync(join(sb.regions, "ap.json"), JSON.stringify({ name: "ap", services: ["search"] }));
  writeFileSync(join(sb.regions, "us.json"), JSON.stringify({ name: "us", services: ["payments", "checkout", "ledger"] }));
  release("r1", [{ region: "us", services: ["ledger", "payments"] }, { region: "ap", services: ["search"] }, { region: "global", services: ["config"] }]);
  const j0 = journal();
  const first = await ship("r1");
  assert.is(first.code, 1, first.err);
  assert.is(journal(), j0 + 1, "every leaf the release needed was minted in one commit");
  assert.match(first.out, /region\s+minted\s+reused\s+failed\nus\s+1\s+1\s+0\nap\s+0\s+0\s+1\nglobal\s+0\s+1\s+0/);
  assert.match(first.out, /delivered \(3\): us\/ledger, us\/payments, global\/config/);
  assert.match(first.out, /not delivered \(1\):\n {2}ap\/search: scope "ap" has no active intermediate yet \(releases\/r1\.json\); run inforge pki intermediate ap first \(root posture\)/);
  assert.match(first.err, /\[1\/3\] us\/ledger minted \(missing\)/);
  assert.ok(existsSync(join(sb.base, "rel/us/ledger/tls.key")) && !existsSync(join(sb.base, "rel/ap/search")));

  await ok(cli(["pki", "intermediate", "ap"], rootEnv(sb)));
  const us = mtimes(join(sb.base, "rel/us"));
  const again = await ok(ship("r1"));
  assert.match(again.out, /us\s+0\s+2\s+0\nap\s+1\s+0\s+0\nglobal\s+0\s+1\s+0/);
  assert.match(again.out, /delivered all 4 service\(s\) of r1/);
  assert.equal(mtimes(join(sb.base, "rel/us")), us, "what was delivered is not rewritten");
  const hs = await mtls(side("eu", "payments"), { cert: read(join(sb.base, "rel/ap/search/tls.crt")), key: read(join(sb.base, "rel/ap/search/tls.key")), ca: read(join(sb.base, "rel/ap/search/ca.crt")) }, "payments.eu.mesh.test");
  assert.not.ok(hs.ok, "an ap client is not trusted by eu");
});

test("a release whose directory cannot be written reports that service, delivers the others and exits 1", async () => {
  release("r2", [{ region: "eu", services: ["payments", "ledger"] }]);
  mkdirSync(join(sb.base, "rel/eu"), { recursive: true });
  writeFileSync(join(sb.base, "rel/eu/ledger"), "a file where a directory belongs");
  const r = await ship("r2");
  assert.is(r.code, 1);
  assert.match(r.out, /eu\s+0\s+1\s+1/);
  assert.match(r.out, /not delivered \(1\):\n {2}eu\/ledger: /);
  assert.ok(existsSync(join(sb.base, "rel/eu/payments/tls.crt")));
});

test("an unknown or invalid release is refused with the file and the field", async () => {
  const missing = await ship("r9");
  assert.match(missing.err, /no release "r9" .* — did you mean "r1"\?/);
  writeFileSync(join(releases, "bad.json"), JSON.stringify({ name: "bad", deploy: [{ region: "eu", service: ["payments"] }] }));
  const bad = await ship("bad");
  assert.is(bad.code, 1);
  assert.match(bad.err, /bad\.json is invalid at deploy\.0\.services?: .*expected \{"name"/);
});

test.run();
