// CRLs (issue 12, item 3): the root CRL and the scope CRLs are RFC 5280-clean — PKI.js and
// OpenSSL parse them, no entry carries an empty extensions SEQUENCE (§5.1), the revoked
// intermediate carries reasonCode keyCompromise and an "unspecified" leaf revocation no reasonCode
// (§5.3.1); pki.json crl.url puts a CRL distribution point into certificates issued after it is
// set and into no earlier one; and the planner keeps the scope CRL as the state says.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as pkijs from "pkijs";
import { region } from "../lib/dsl/mod.ts";
import * as X from "../lib/x509/mod.ts";
import { x509 } from "../lib/x509/vendor.ts";
import { checkPlan } from "../lib/check/check-plan.ts";
import { compareCrl } from "../lib/check/crl-rules.ts";
import { InputError } from "../lib/errors.ts";
import { buildTree, ciEnv, cli, ok, opensslVerify, rootEnv, run, sandbox, treeHash } from "./helpers.ts";
import { DAY, HOUR, T0, after, established, planAt, step, stepsOf } from "./fixtures/pure-pki.ts";

const sb = sandbox();
test.after(() => rmSync(sb.base, { recursive: true, force: true }));
await buildTree(sb, ["global", "eu"]);
const p = (rel: string) => join(sb.dir, rel);
const read = (rel: string) => readFileSync(p(rel), "utf8");
const serialOf = (rel: string) => run("openssl", ["x509", "-noout", "-serial", "-in", p(rel)]).stdout.trim().replace(/^serial=/, "");
const derBlocks = (pem: string) => [...pem.matchAll(/-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g)].map((m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s/g, ""), "base64")));

// A compromised eu intermediate (root posture), its leaves re-issued (CI), then one leaf revoked
// with no reason given: the root CRL lists eu G1, the eu CRL lists that leaf.
const euG1Serial = serialOf("scopes/eu/G1.crt.pem");
await ok(cli(["pki", "recover-intermediate", "eu"], rootEnv(sb)));
await ok(cli(["pki", "renew", "--region", "eu"], ciEnv(sb)));
const revokedLeafSerial = serialOf("leaves/eu/checkout.crt.pem");
await ok(cli(["pki", "revoke", "--leaf", "checkout", "--region", "eu"], ciEnv(sb)));

test("PKI.js parses the root CRL and the scope CRL, and verifies their signatures", async () => {
  for (const [file, issuer] of [["crl/root.crl.pem", "root/G1.crt.pem"], ["crl/eu.crl.pem", "scopes/eu/G2.crt.pem"]] as const) {
    const blocks = derBlocks(read(file));
    assert.is(blocks.length, 1, file);
    const crl = pkijs.CertificateRevocationList.fromBER(blocks[0]!);
    const ca = pkijs.Certificate.fromBER(new Uint8Array(Buffer.from(read(issuer).replace(/-----[^-]+-----|\s/g, ""), "base64")));
    assert.ok(await crl.verify({ issuerCertificate: ca }), `${file} does not verify with ${issuer} under PKI.js`);
    assert.is(crl.revokedCertificates?.length, 1, file);
  }
});

test("OpenSSL parses both CRLs; the revoked intermediate carries reasonCode keyCompromise, the leaf revoked without a reason carries none", () => {
  const root = run("openssl", ["crl", "-noout", "-text", "-in", p("crl/root.crl.pem")]);
  assert.is(root.status, 0, root.stderr);
  assert.match(root.stdout, new RegExp(`Serial Number: ${euG1Serial}\\s+Revocation Date: [^\\n]+\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+Key Compromise`));
  const eu = run("openssl", ["crl", "-noout", "-text", "-in", p("crl/eu.crl.pem")]);
  assert.is(eu.status, 0, eu.stderr);
  assert.match(eu.stdout, /Issuer: CN = inforge mesh eu intermediate G2/);
  assert.match(eu.stdout, new RegExp(`Serial Number: ${revokedLeafSerial}\\s+Revocation Date: [^\\n]+\\n\\s+Signature Algorithm`));
  assert.not.match(eu.stdout, /CRL entry extensions/);
  for (const text of [root.stdout, eu.stdout]) {
    assert.match(text, /X509v3 Authority Key Identifier/);
    assert.match(text, /X509v3 CRL Number/);
    assert.match(text, /Next Update: /);
  }
});

test("no CRL entry has an empty extensions SEQUENCE (30 00), by the DER itself", () => {
  for (const file of ["crl/root.crl.pem", "crl/eu.crl.pem", "crl/global.crl.pem"]) {
    for (const der of derBlocks(read(file))) {
      const r = run("openssl", ["asn1parse", "-inform", "DER"], { input: Buffer.from(der) as unknown as string });
      assert.is(r.status, 0, r.stderr);
      assert.not.match(r.stdout, /l=\s*0 cons: SEQUENCE/, `${file}:\n${r.stdout}`);
      // An empty revokedCertificates list is absent too (§5.1.2.6), not an empty SEQUENCE.
    }
  }
});

test("-crl_check_all accepts the live eu leaves under the recovered intermediate and refuses the revoked one", () => {
  const args = (leaf: string) => ["-crl_check_all", "-CAfile", p("bundles/root.pem"), "-untrusted", p("scopes/eu/G2.crt.pem"), "-CRLfile", p("crl/root.crl.pem"), "-CRLfile", p("crl/eu.crl.pem"), leaf];
  assert.ok(opensslVerify(args(p("leaves/eu/payments.crt.pem"))).ok);
  assert.ok(opensslVerify(args(p("leaves/eu/checkout.crt.pem"))).ok, "the replacement verifies");
  // The revoked intermediate itself is refused through the root CRL.
  const g1 = opensslVerify(["-crl_check", "-CAfile", p("bundles/root.pem"), "-CRLfile", p("crl/root.crl.pem"), p("scopes/eu/G1.crt.pem")]);
  assert.not.ok(g1.ok);
  assert.match(g1.out, /certificate revoked/);
});

test("with crl.url set, certificates issued afterwards carry a CRL distribution point to their issuer's CRL, earlier ones do not", async () => {
  const cfg = JSON.parse(read("pki.json"));
  writeFileSync(p("pki.json"), JSON.stringify({ ...cfg, crl: { url: "http://pki.mesh.test/crl/" } }, null, 2) + "\n");
  // crl.url is trust-critical (it goes into every certificate issued): the root signs it first.
  await ok(cli(["pki", "config"], rootEnv(sb)));
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu"], ciEnv(sb)));
  await ok(cli(["pki", "rotate", "--intermediate", "eu"], rootEnv(sb)));
  const cdp = (rel: string) => run("openssl", ["x509", "-noout", "-text", "-in", p(rel)]).stdout;
  assert.match(cdp("leaves/eu/payments.crt.pem"), /X509v3 CRL Distribution Points:\s+Full Name:\s+URI:http:\/\/pki\.mesh\.test\/crl\/eu-G2\.crl/);
  assert.match(cdp("scopes/eu/G3.crt.pem"), /X509v3 CRL Distribution Points:\s+Full Name:\s+URI:http:\/\/pki\.mesh\.test\/crl\/root-G1\.crl/);
  for (const earlier of ["leaves/eu/checkout.crt.pem", "scopes/eu/G2.crt.pem", "leaves/global/auth.crt.pem", "root/G1.crt.pem"]) {
    assert.not.match(cdp(earlier), /CRL Distribution Points/, earlier);
  }
  const strict = opensslVerify(["-x509_strict", "-crl_check_all", "-CAfile", p("bundles/root.pem"), "-untrusted", p("scopes/eu/G2.crt.pem"), "-CRLfile", p("crl/root.crl.pem"), "-CRLfile", p("crl/eu.crl.pem"), p("leaves/eu/payments.crt.pem")]);
  assert.ok(strict.ok, strict.out);
  const v = await cli(["pki", "verify"], ciEnv(sb));
  assert.match(v.out, /verify: ok/, v.out);
});

test("a crl.url that is not an http(s) directory URL is refused in one sentence and nothing changes", async () => {
  const cfg = JSON.parse(read("pki.json"));
  for (const url of ["ldap://pki.mesh.test/crl/", "http://pki.mesh.test/crl", "http://pki.mesh.test/crl/?x=1/"]) {
    writeFileSync(p("pki.json"), JSON.stringify({ ...cfg, crl: { url } }, null, 2) + "\n");
    const before = treeHash(sb.dir);
    const r = await cli(["pki", "rotate", "--leaf", "payments", "--region", "eu"], ciEnv(sb));
    assert.is(r.code, 1, r.err);
    assert.match(r.err, /crl\.url is an http:\/\/ or https:\/\/ URL of a directory, ending in "\/"/);
    assert.is(r.err.trim().split("\n").length, 1, r.err);
    assert.is(treeHash(sb.dir), before);
  }
  writeFileSync(p("pki.json"), JSON.stringify(cfg, null, 2) + "\n");
});

test("parseCrl counts entries with an empty extensions SEQUENCE (what @peculiar/x509's generator writes), which PKI.js refuses", async () => {
  const key = await X.generateKeyPair();
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const ca = await X.createRoot({ key, commonName: "t", notBefore: now, notAfter: new Date(now.getTime() + DAY) });
  const legacy = await x509.X509CrlGenerator.create({
    issuer: "CN=t", thisUpdate: now, nextUpdate: new Date(now.getTime() + HOUR), entries: [{ serialNumber: "0a1b", revocationDate: now }],
    signingKey: key.privateKey, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  const pem = `-----BEGIN X509 CRL-----\n${Buffer.from(legacy.rawData).toString("base64").replace(/.{64}/g, "$&\n")}\n-----END X509 CRL-----\n`;
  assert.is(X.parseCrl(pem).emptyEntryExtensions, 1);
  assert.throws(() => pkijs.CertificateRevocationList.fromBER(new Uint8Array(legacy.rawData)));
  const clean = await X.createCrl({ issuer: { certPem: ca.pem, signer: X.keySigner(key) }, thisUpdate: now, nextUpdate: new Date(now.getTime() + HOUR), crlNumber: 1, revoked: [{ serial: "0a1b", date: now }] });
  assert.is(X.parseCrl(clean).emptyEntryExtensions, 0);
  assert.equal(X.parseCrl(clean).reasons, [null]);
});

test("verify's CRL rules: an empty entry extensions list, a wrong reason and a lapsed scope CRL are each reported", () => {
  const now = new Date("2026-12-01T00:00:00Z");
  const want = { what: "eu G1", gen: 1, cert: "scopes/eu/G1.crt.pem", serials: ["a1"], reasons: new Map([["a1", "key-compromise" as const]]) };
  const seen = { serials: ["00a1"], reasons: ["key-compromise" as const], emptyEntryExtensions: 0, thisUpdate: now, nextUpdate: new Date(now.getTime() + DAY), number: 3 };
  const codes = (f: { code: string; severity: string }[]) => f.map((x) => `${x.severity}:${x.code}`);
  assert.equal(compareCrl(want, seen, now, 3, { file: "crl/eu.crl.pem", lapsed: "warning" }), []);
  assert.equal(codes(compareCrl(want, { ...seen, emptyEntryExtensions: 1 }, now, 3)), ["error:crl.malformed"]);
  assert.equal(codes(compareCrl(want, { ...seen, reasons: [null] }, now, 3)), ["error:crl.reasons"]);
  assert.equal(codes(compareCrl(want, seen, new Date(now.getTime() + 2 * DAY), 3, { lapsed: "warning" })), ["warning:pending.crl-stale"]);
  assert.equal(codes(compareCrl(want, seen, new Date(now.getTime() + 2 * DAY), 3)), ["error:crl.stale"]);
});

// ---- pure: the planner's scope CRL ----

test("the DSL verb is a frozen intent with the reason, \"unspecified\" by default; an unknown reason is an InputError", () => {
  const i = region("eu").service("payments").leaf().revoke({ reason: "superseded" });
  assert.ok(Object.isFrozen(i));
  assert.is(i.kind, "leaf.revoke");
  assert.is((i as { reason: string }).reason, "superseded");
  assert.is((region("eu").service("payments").leaf().revoke() as { reason: string }).reason, "unspecified");
  assert.throws(() => region("eu").service("payments").leaf().revoke({ reason: "stolen" as never }), (e: unknown) => e instanceof InputError && /unknown revocation reason "stolen"/.test((e as Error).message));
});

test("the first renewal signs each scope's CRL; a renewal before 2/3 of its life does not, one after does", () => {
  const s = established();
  assert.ok(s.leaves.eu!.crl, "eu has a CRL record after its first leaves");
  assert.equal(s.leaves.eu!.crl!.gens, [1]);
  const early = planAt(region("eu").leaves().renew(), s, after(T0, 2 * DAY));
  assert.equal(stepsOf(early, "sign-scope-crl"), []);
  const due = planAt(region("eu").leaves().renew(), s, after(T0, 5 * DAY));
  const [c] = stepsOf(due, "sign-scope-crl");
  assert.ok(c, "re-signed once past 2/3 of its 7 days");
  assert.is(c!.why, "renewal point");
  assert.is(c!.identity, "ci");
  assert.is(c!.number, 2);
  assert.equal(checkPlan(due), []);
});

test("a revocation lists the leaf until a CRL issued after the leaf's notAfter has listed it", () => {
  let s = established();
  const serial = s.leaves.eu!.leaves["payments" as never]!.serial;
  const rev = planAt(region("eu").service("payments").leaf().revoke({ reason: "key-compromise" }), s, after(T0, HOUR));
  assert.equal(checkPlan(rev), []);
  const [c] = stepsOf(rev, "sign-scope-crl");
  assert.equal(c!.revoked, [{ service: "payments", gen: 1, serial, reason: "key-compromise" }]);
  s = step(region("eu").service("payments").leaf().revoke({ reason: "key-compromise" }), s, after(T0, HOUR));
  const notAfter = Date.parse(s.leaves.eu!.revoked![0]!.notAfter);
  // The CRL signed after its notAfter still lists it; the one after that drops it.
  s = step(region("eu").leaves().renew(), s, new Date(notAfter + HOUR));
  assert.is(s.leaves.eu!.revoked!.length, 1);
  assert.ok(Date.parse(s.leaves.eu!.crl!.thisUpdate) > notAfter);
  s = step(region("eu").leaves().renew(), s, new Date(notAfter + 6 * DAY));
  assert.equal(s.leaves.eu!.revoked, []);
});

test("the checker refuses a plan that revokes a leaf without re-signing its CRL, or lists the wrong leaves", () => {
  const s = established();
  const rev = planAt(region("eu").service("payments").leaf().revoke(), s, after(T0, HOUR));
  const noCrl = { ...rev, steps: rev.steps.filter((x) => x.kind !== "sign-scope-crl") };
  assert.ok(checkPlan(noCrl).some((i) => i.code === "revoked.not-on-crl"), JSON.stringify(checkPlan(noCrl)));
  const wrong = { ...rev, steps: rev.steps.map((x) => (x.kind === "sign-scope-crl" ? { ...x, revoked: [] } : x)) };
  assert.ok(checkPlan(wrong).some((i) => i.code === "revoked.not-on-crl" && /would list \[\]/.test(i.message)));
  const foreign = { ...rev, steps: rev.steps.map((x) => (x.kind === "sign-scope-crl" ? { ...x, gens: [7] } : x)) };
  assert.ok(checkPlan(foreign).some((i) => i.code === "crl.signer-not-live"));
});

test.run();
