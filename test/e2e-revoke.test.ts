// Leaf revocation end to end (issue 12, item 3): `pki revoke --leaf` lists the leaf on its
// scope's CRL and replaces it, and real verifiers read the result — OpenSSL with -crl_check_all
// (a CRL for every CA in the chain: root CRL + scope CRL), GnuTLS certtool --load-crl and NSS
// vfychain/crlutil — and reject the revoked leaf while accepting the replacement and every
// other live leaf.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { buildTree, ciEnv, cli, ok, opensslVerify, rootEnv, run, sandbox, treeHash } from "./helpers.ts";

const sb = sandbox();
test.after(() => rmSync(sb.base, { recursive: true, force: true }));
await buildTree(sb, ["global", "eu", "us"]);

const p = (rel: string) => join(sb.dir, rel);
const read = (rel: string) => readFileSync(p(rel), "utf8");
const tmp = (name: string, text: string) => {
  const f = join(sb.base, name);
  writeFileSync(f, text);
  return f;
};
/** openssl verify with revocation checked for every certificate of the chain. */
const crlCheckAll = (leaf: string, scope = "eu", gen = 1) =>
  opensslVerify(["-crl_check_all", "-CAfile", p("bundles/root.pem"), "-untrusted", p(`scopes/${scope}/G${gen}.crt.pem`), "-CRLfile", p("crl/root.crl.pem"), "-CRLfile", p(`crl/${scope}.crl.pem`), leaf]);
/** GnuTLS: the chain (leaf, intermediate) against the root, with both CRLs loaded. */
const certtool = (leafPem: string, scope = "eu", gen = 1) => {
  const chain = tmp("chain.pem", leafPem + read(`scopes/${scope}/G${gen}.crt.pem`));
  const crls = tmp("crls.pem", read("crl/root.crl.pem") + read(`crl/${scope}.crl.pem`));
  const r = run("certtool", ["--verify", "--load-ca-certificate", p("bundles/root.pem"), "--load-crl", crls, "--infile", chain]);
  return { ok: r.status === 0, out: r.stdout + r.stderr };
};

/**
 * NSS (libnss3-tools): a fresh certificate database with the root trusted (CT,C,C), the
 * intermediate, and both CRLs imported (crlutil reads DER); vfychain through the PKIX API with
 * CRL checking required for the leaf and the chain (failIfNoInfo: no CRL is a failure too).
 */
let nssDb = 0;
function nss(leafPem: string, scope = "eu", gen = 1): { ok: boolean; out: string } {
  const db = join(sb.base, `nss-${nssDb++}`);
  mkdirSync(db);
  const steps: string[][] = [
    ["certutil", "-N", "-d", `sql:${db}`, "--empty-password"],
    ["certutil", "-A", "-d", `sql:${db}`, "-n", "root", "-t", "CT,C,C", "-a", "-i", p("root/G1.crt.pem")],
    ["certutil", "-A", "-d", `sql:${db}`, "-n", "intermediate", "-t", ",,", "-a", "-i", p(`scopes/${scope}/G${gen}.crt.pem`)],
  ];
  for (const [name, file] of [["root", "crl/root.crl.pem"], [scope, `crl/${scope}.crl.pem`]] as const) {
    const der = join(sb.base, `${name}-${nssDb}.crl`);
    steps.push(["openssl", "crl", "-in", p(file), "-outform", "DER", "-out", der], ["crlutil", "-I", "-d", `sql:${db}`, "-i", der]);
  }
  for (const [cmd, ...args] of steps) {
    const r = run(cmd!, args);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  }
  const r = run("vfychain", ["-d", `sql:${db}`, "-pp", "-u", "1", "-g", "leaf", "-m", "crl", "-s", "failIfNoInfo", "-g", "chain", "-m", "crl", "-s", "failIfNoInfo", "-a", tmp("nss-leaf.pem", leafPem)]);
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

let oldLeaf = "";

test("every scope that has leaves gets a CRL of its own, signed by its intermediate, and -crl_check_all accepts every live leaf", () => {
  for (const scope of ["global", "eu", "us"]) {
    const text = run("openssl", ["crl", "-noout", "-text", "-in", p(`crl/${scope}.crl.pem`)]);
    assert.is(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`Issuer: CN = inforge mesh ${scope} intermediate G1`));
    assert.match(text.stdout, /No Revoked Certificates/);
    const sig = run("openssl", ["crl", "-noout", "-in", p(`crl/${scope}.crl.pem`), "-CAfile", p(`scopes/${scope}/G1.crt.pem`)]);
    assert.match(sig.stdout + sig.stderr, /verify OK/);
    const services = Object.keys(JSON.parse(read(`leaves/${scope}/index.json`)).leaves);
    assert.ok(services.length, scope);
    for (const svc of services) {
      const v = crlCheckAll(p(`leaves/${scope}/${svc}.crt.pem`), scope);
      assert.ok(v.ok, `${scope}/${svc}: ${v.out}`);
    }
  }
  assert.ok(certtool(read("leaves/eu/payments.crt.pem")).ok, certtool(read("leaves/eu/payments.crt.pem")).out);
  assert.ok(nss(read("leaves/eu/payments.crt.pem")).ok, nss(read("leaves/eu/payments.crt.pem")).out);
});

test("revoke --leaf with a bad service, a bad region or a bad reason: one sentence, state byte-identical", async () => {
  const before = treeHash(sb.dir);
  const cases: [string[], RegExp][] = [
    [["--leaf", "paymnts", "--region", "eu"], /^inforge: unknown service "paymnts" in "eu" \(.*known: .*payments.*\); add it to regions\/eu\.json\n$/],
    [["--leaf", "payments", "--region", "eux"], /^inforge: unknown region "eux" .*; add regions\/eux\.json\n$/],
    [["--leaf", "payments", "--region", "EU"], /^inforge: invalid region name "EU": .*\n$/],
    [["--leaf", "payments", "--region", "eu", "--reason", "stolen"], /^inforge: .*--reason: use --reason .*key-compromise.*\(got "stolen"\)\n$/],
    [["--leaf", "payments"], /^inforge: inforge pki revoke needs --leaf <service> --region <region>.*\n$/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(["pki", "revoke", ...args], ciEnv(sb));
    assert.is(r.code, 1, `${args.join(" ")}: ${r.err}`);
    assert.match(r.err, re);
    assert.is(r.err.trim().split("\n").length, 1, r.err);
  }
  assert.is(treeHash(sb.dir), before);
});

test("revoke --leaf in root posture only (no CI identity) is refused naming INFORGE_SECRETS_KEY, and changes nothing", async () => {
  const before = treeHash(sb.dir);
  const r = await cli(["pki", "revoke", "--leaf", "payments", "--region", "eu"], rootEnv(sb));
  assert.is(r.code, 3, r.err);
  assert.match(r.err, /INFORGE_SECRETS_KEY is not set/);
  assert.is(treeHash(sb.dir), before);
});

test("the plan of revoke --leaf shows the revocation, the replacement, and who must reload which file", async () => {
  const r = await ok(cli(["pki", "revoke", "--leaf", "payments", "--region", "eu", "--reason", "key-compromise", "--plan"], ciEnv(sb)));
  assert.match(r.out, /issue leaf\s+eu\/payments \(replaces revoked\)/);
  assert.match(r.out, /sign scope CRL\s+eu #2, 1 revoked \(payments revoked \(key-compromise\)\)/);
  assert.match(r.out, /inforge deploy payments --region eu — payments must reload tls\.crt and tls\.key/);
  assert.match(r.out, /publish crl\/eu\.crl\.pem to every consumer that checks revocation/);
});

test("after revoke --leaf: openssl -crl_check_all rejects the old leaf (certificate revoked) and accepts the replacement; GnuTLS and NSS agree", async () => {
  oldLeaf = read("leaves/eu/payments.crt.pem");
  const usBefore = treeHash(sb.dir, (f) => /(^|\/)us[./]/.test(f));
  await ok(cli(["pki", "revoke", "--leaf", "payments", "--region", "eu", "--reason", "key-compromise"], ciEnv(sb)));
  const old = crlCheckAll(tmp("old.pem", oldLeaf));
  assert.not.ok(old.ok, "the revoked leaf still verifies");
  assert.match(old.out, /certificate revoked/);
  const fresh = read("leaves/eu/payments.crt.pem");
  assert.is.not(fresh, oldLeaf);
  assert.ok(crlCheckAll(p("leaves/eu/payments.crt.pem")).ok, crlCheckAll(p("leaves/eu/payments.crt.pem")).out);
  assert.ok(crlCheckAll(p("leaves/eu/checkout.crt.pem")).ok, "another eu leaf is untouched");
  // Without revocation checking the old leaf is still a valid chain: the CRL is what refuses it.
  assert.ok(opensslVerify(["-CAfile", p("bundles/root.pem"), "-untrusted", p("scopes/eu/G1.crt.pem"), tmp("old2.pem", oldLeaf)]).ok);
  const gOld = certtool(oldLeaf);
  assert.not.ok(gOld.ok, gOld.out);
  assert.match(gOld.out, /revoked/i);
  assert.ok(certtool(fresh).ok, certtool(fresh).out);
  const nOld = nss(oldLeaf);
  assert.not.ok(nOld.ok, nOld.out);
  assert.match(nOld.out, /-8180: Peer's Certificate has been revoked/);
  assert.ok(nss(fresh).ok, nss(fresh).out);
  // The eu CRL lists the old serial with reasonCode keyCompromise; no other region's file changed.
  const serial = run("openssl", ["x509", "-noout", "-serial", "-in", tmp("old3.pem", oldLeaf)]).stdout.trim().replace(/^serial=/, "");
  const text = run("openssl", ["crl", "-noout", "-text", "-in", p("crl/eu.crl.pem")]).stdout;
  assert.match(text, new RegExp(`Serial Number: ${serial}\\s+Revocation Date: [^\\n]+\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+Key Compromise`));
  assert.is(treeHash(sb.dir, (f) => /(^|\/)us[./]/.test(f)), usBefore);
  // A one-region run: it locked and journaled eu alone (its CRL is eu's own file), like rotate --leaf.
  const last = read("journal/scopes/eu.jsonl").trim().split("\n").at(-1)!;
  assert.match(JSON.parse(last).command, /^inforge pki revoke --leaf payments --region eu/);
  const v = await cli(["pki", "verify"], ciEnv(sb));
  assert.is(v.code, 0, v.out);
});

test("during an intermediate rotation the retiring generation still signs a CRL, so leaves of both generations pass -crl_check_all", async () => {
  const beforeRotation = read("leaves/eu/checkout.crt.pem");
  await ok(cli(["pki", "rotate", "--intermediate", "eu"], rootEnv(sb)));
  const later = new Date(Date.now() + 25 * 3_600_000);
  const at = later.toISOString().replace(/\.\d{3}Z$/, "Z");
  const promoted = await ok(cli(["pki", "renew", "--region", "eu", "--at", at], ciEnv(sb)));
  assert.match(promoted.out, /sign scope CRL\s+eu #\d+, 1 revoked \(issuers now G1, G2\)\s+eu G1, eu G2/);
  const crls = read("crl/eu.crl.pem").match(/BEGIN X509 CRL/g) ?? [];
  assert.is(crls.length, 2, "one CRL per live generation");
  const attime = String(Math.floor(later.getTime() / 1000));
  const check = (leaf: string, gen: number) =>
    opensslVerify(["-attime", attime, "-crl_check_all", "-CAfile", p("bundles/root.pem"), "-untrusted", p(`scopes/eu/G${gen}.crt.pem`), "-CRLfile", p("crl/root.crl.pem"), "-CRLfile", p("crl/eu.crl.pem"), leaf]);
  // A service not yet redeployed still serves its G1 leaf: accepted; the revoked G1 leaf stays refused.
  assert.ok(check(tmp("g1.pem", beforeRotation), 1).ok, check(tmp("g1.pem", beforeRotation), 1).out);
  assert.match(check(tmp("old.pem", oldLeaf), 1).out, /certificate revoked/);
  assert.ok(check(p("leaves/eu/checkout.crt.pem"), 2).ok, check(p("leaves/eu/checkout.crt.pem"), 2).out);
  const v = await cli(["pki", "verify", "--at", at], ciEnv(sb));
  assert.is(v.code, 0, v.out);
});

test.run();
