// The five runbooks end to end, each on its own throwaway pki dir, walked through simulated time
// with --at and checked with real verifiers: openssl (-attime for simulated instants,
// -partial_chain against region bundles, -crl_check after a recovery) and node:tls handshakes
// for the final state, which each scenario brings to the real present.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync, copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, leafKeyPem, ok, plaintextKeys, rootEnv, run, sandbox, treeHash, type Sandbox } from "./helpers.ts";
import { mtls } from "./tls.ts";

const H = 3_600_000;
const D = 24 * H;
const iso = (t: number) => new Date(Math.floor(t / 1000) * 1000).toISOString().replace(".000Z", "Z");
const NOW = Date.now();

const read = (sb: Sandbox, rel: string) => readFileSync(join(sb.dir, rel), "utf8");
const certs = (pem: string) => pem.split("-----BEGIN CERTIFICATE-----").length - 1;
/** openssl verify at a simulated instant. */
function verifyAt(t: number, args: string[]): { ok: boolean; out: string } {
  const r = run("openssl", ["verify", "-attime", String(Math.floor(t / 1000)), ...args]);
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}
/** A service as it would be deployed: leaf + its issuing intermediate, key, and a trust bundle. */
function side(sb: Sandbox, scope: string, svc: string, bundle = scope) {
  const gen = JSON.parse(read(sb, `leaves/${scope}/index.json`)).leaves[svc].gen;
  return { cert: read(sb, `leaves/${scope}/${svc}.crt.pem`) + read(sb, `scopes/${scope}/G${gen}.crt.pem`), key: leafKeyPem(sb, scope, svc), ca: read(sb, `bundles/${bundle}.pem`) };
}
const usFiles = (rel: string) => rel.startsWith("scopes/us/") || rel.startsWith("leaves/us/") || rel === "bundles/us.pem";
const snap = (sb: Sandbox, rel: string, as: string) => {
  copyFileSync(join(sb.dir, rel), join(sb.base, as));
  return join(sb.base, as);
};

test("add a region: a new regions file, `pki intermediate`, then `pki renew --region` is the whole job", async () => {
  const sb = sandbox();
  await buildTree(sb);
  const before = treeHash(sb.dir, (r) => usFiles(r) || r.startsWith("scopes/eu/") || r.startsWith("leaves/eu/") || r === "bundles/eu.pem");
  writeFileSync(join(sb.regions, "ap.json"), JSON.stringify({ name: "ap", services: ["payments", "search"] }));
  const add = await ok(cli(["pki", "intermediate", "ap"], rootEnv(sb)));
  assert.match(add.out, /next, in CI: inforge pki renew --region ap/);
  await ok(cli(["pki", "renew", "--region", "ap"], ciEnv(sb)));
  for (const svc of ["payments", "search"]) {
    const r = verifyAt(NOW, ["-partial_chain", "-CAfile", join(sb.dir, "bundles/ap.pem"), join(sb.dir, `leaves/ap/${svc}.crt.pem`)]);
    assert.ok(r.ok, r.out);
  }
  assert.is(certs(read(sb, "bundles/ap.pem")), 2);
  assert.is(treeHash(sb.dir, (r) => usFiles(r) || r.startsWith("scopes/eu/") || r.startsWith("leaves/eu/") || r === "bundles/eu.pem"), before, "other regions' files changed");
  assert.ok((await mtls(side(sb, "ap", "payments"), side(sb, "ap", "search"), "payments.ap.mesh.test")).ok);
});

test("rotate a leaf: nothing is due early, every leaf is due past 2/3 of its life, one service can be forced", async () => {
  const T0 = NOW - 6 * D;
  const sb = sandbox();
  await buildTree(sb, ["global", "eu", "us"], iso(T0));
  const early = await ok(cli(["pki", "renew", "--at", iso(T0 + 4 * D)], ciEnv(sb)));
  assert.match(early.out, /nothing to do/);
  const due = await ok(cli(["pki", "renew", "--at", iso(T0 + 5 * D)], ciEnv(sb)));
  assert.is((due.out.match(/\(due\)/g) ?? []).length, 7, due.out);
  const serial = JSON.parse(read(sb, "leaves/eu/index.json")).leaves.payments.serial;
  const forced = await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu"], ciEnv(sb)));
  assert.match(forced.out, /eu\/payments \(forced\)/);
  assert.is.not(JSON.parse(read(sb, "leaves/eu/index.json")).leaves.payments.serial, serial);
  assert.ok((await mtls(side(sb, "eu", "payments"), side(sb, "eu", "checkout"), "payments.eu.mesh.test")).ok);
  assert.equal(plaintextKeys(sb.dir), []);
});

test("rotate an intermediate: prepared and published first, promoted by CI after the delay, retired once its leaves expire", async () => {
  const T0 = NOW - 10 * D;
  const sb = sandbox();
  await buildTree(sb, ["global", "eu", "us"], iso(T0));
  const usBefore = treeHash(sb.dir, usFiles);
  const oldLeaf = snap(sb, "leaves/eu/payments.crt.pem", "old-leaf.pem");

  const rot = await ok(cli(["pki", "rotate", "--intermediate", "eu", "--at", iso(T0 + H)], rootEnv(sb)));
  assert.match(rot.out, /issue intermediate\s+eu G2 \(prepared\)/);
  assert.match(rot.out, new RegExp(`next, in CI after ${iso(T0 + 25 * H)}: inforge pki renew --region eu`));
  assert.is(certs(read(sb, "bundles/eu.pem")), 3, "eu G1, eu G2 and global G1 during the overlap");
  const publishedBundle = snap(sb, "bundles/eu.pem", "bundle-before-promotion.pem");
  assert.ok(verifyAt(T0 + 2 * H, ["-partial_chain", "-CAfile", publishedBundle, oldLeaf]).ok, "old leaves keep verifying");

  const early = await ok(cli(["pki", "renew", "--region", "eu", "--at", iso(T0 + 2 * H)], ciEnv(sb)));
  assert.not.match(early.out, /prepared → active/);
  assert.match(early.out, /next, in CI after/);

  const promote = await ok(cli(["pki", "renew", "--region", "eu", "--at", iso(T0 + 26 * H)], ciEnv(sb)));
  assert.match(promote.out, /prepared → active\s+eu G2/);
  assert.match(promote.out, /active → retiring\s+eu G1/);
  assert.is((promote.out.match(/\(new issuer\)/g) ?? []).length, 3);
  // No outage: the new leaves verify against the bundle consumers already had, and the old
  // leaves against the bundle written now.
  for (const svc of ["payments", "checkout", "ledger"]) {
    const r = verifyAt(T0 + 26 * H, ["-partial_chain", "-CAfile", publishedBundle, join(sb.dir, `leaves/eu/${svc}.crt.pem`)]);
    assert.ok(r.ok, r.out);
  }
  assert.ok(verifyAt(T0 + 26 * H, ["-partial_chain", "-CAfile", join(sb.dir, "bundles/eu.pem"), oldLeaf]).ok);

  // The planner refuses an overlap the old generation cannot cover, unless forced (shown with --plan).
  const late = await cli(["pki", "rotate", "--intermediate", "us", "--at", iso(T0 + 362 * D)], rootEnv(sb));
  assert.is.not(late.code, 0);
  assert.match(late.err, /needs an overlap of 8d.*--force/);
  const forced = await ok(cli(["pki", "rotate", "--intermediate", "us", "--force", "--plan", "--at", iso(T0 + 362 * D)], rootEnv(sb)));
  assert.match(forced.out, /note: forced/);

  const retire = await ok(cli(["pki", "renew", "--region", "eu"], ciEnv(sb)));
  assert.match(retire.out, /retiring → retired\s+eu G1/);
  assert.is(read(sb, "bundles/eu.pem"), read(sb, "scopes/eu/G2.crt.pem") + read(sb, "scopes/global/G1.crt.pem"));
  assert.is(treeHash(sb.dir, usFiles), usBefore, "rotating eu changed a us file");
  assert.ok((await mtls(side(sb, "eu", "payments"), side(sb, "eu", "ledger"), "payments.eu.mesh.test")).ok);
});

test("rotate the root: dual-root overlap, a cross-signed root for old anchors, finish refused until nothing needs the old root", async () => {
  const T0 = NOW - 12 * D;
  const sb = sandbox();
  await buildTree(sb, ["global", "eu", "us"], iso(T0));
  const oldRoot = snap(sb, "root/G1.crt.pem", "old-root.pem");

  const rot = await ok(cli(["pki", "rotate", "--root", "--at", iso(T0 + H)], rootEnv(sb)));
  assert.match(rot.out, /create root\s+root G2/);
  assert.match(rot.out, /cross-sign root\s+root G2\s+root G1/);
  assert.is(certs(read(sb, "bundles/root.pem")), 2, "root.pem holds old and new root during the overlap");
  assert.ok(existsSync(join(sb.dir, "root/G2-by-G1.crt.pem")));
  // A consumer that still anchors only on the old root reaches the new tree through the cross-signed cert.
  const chain = join(sb.base, "chain.pem");
  writeFileSync(chain, read(sb, "scopes/eu/G2.crt.pem") + read(sb, "root/G2-by-G1.crt.pem"));
  assert.ok(verifyAt(T0 + 2 * H, ["-CAfile", oldRoot, "-untrusted", join(sb.dir, "root/G2-by-G1.crt.pem"), join(sb.dir, "scopes/eu/G2.crt.pem")]).ok);

  const early = await cli(["pki", "rotate", "--root", "--finish", "--at", iso(T0 + 2 * H)], rootEnv(sb));
  assert.is.not(early.code, 0);
  assert.match(early.err, /cannot finish while intermediates of the old root are live/);

  const promote = await ok(cli(["pki", "renew", "--at", iso(T0 + 26 * H)], ciEnv(sb)));
  assert.is((promote.out.match(/prepared → active/g) ?? []).length, 3);
  for (const [scope, svc] of [["eu", "payments"], ["us", "checkout"], ["global", "auth"]] as const) {
    const leaf = join(sb.dir, `leaves/${scope}/${svc}.crt.pem`);
    const int = join(sb.dir, `scopes/${scope}/G${scope === "global" || scope === "us" ? 2 : 2}.crt.pem`);
    assert.ok(verifyAt(T0 + 27 * H, ["-CAfile", join(sb.dir, "bundles/root.pem"), "-untrusted", int, leaf]).ok, `${scope} via root.pem`);
    writeFileSync(chain, read(sb, `scopes/${scope}/G2.crt.pem`) + read(sb, "root/G2-by-G1.crt.pem"));
    assert.ok(verifyAt(T0 + 27 * H, ["-CAfile", oldRoot, "-untrusted", chain, leaf]).ok, `${scope} via the old root and the cross cert`);
  }

  await ok(cli(["pki", "renew", "--at", iso(T0 + 10 * D)], ciEnv(sb)));
  const fin = await ok(cli(["pki", "rotate", "--root", "--finish", "--at", iso(T0 + 10 * D + H)], rootEnv(sb)));
  assert.match(fin.out, /retiring → retired\s+root G1/);
  assert.is(read(sb, "bundles/root.pem"), read(sb, "root/G2.crt.pem"));
  await ok(cli(["pki", "renew"], ciEnv(sb)));
  for (const scope of ["eu", "us"]) {
    const r = verifyAt(NOW, ["-CAfile", join(sb.dir, "bundles/root.pem"), "-untrusted", join(sb.dir, `scopes/${scope}/G2.crt.pem`), join(sb.dir, `leaves/${scope}/payments.crt.pem`)]);
    assert.ok(r.ok, r.out);
  }
  assert.ok((await mtls(side(sb, "us", "payments"), side(sb, "us", "checkout"), "payments.us.mesh.test")).ok);
});

test("recover a compromised intermediate: revoked on the root CRL, replaced at once, dropped from every bundle, leaves re-issued", async () => {
  const T0 = NOW - 2 * H;
  const sb = sandbox();
  await buildTree(sb, ["global", "eu", "us"], iso(T0));
  const usBefore = treeHash(sb.dir, usFiles);
  const oldLeaf = snap(sb, "leaves/eu/checkout.crt.pem", "old-checkout.pem");

  const rec = await ok(cli(["pki", "recover-intermediate", "eu", "--at", iso(T0 + H)], rootEnv(sb)));
  assert.match(rec.out, /active → revoked\s+eu G1/);
  assert.match(rec.out, /issue intermediate\s+eu G2 \(active\)/);
  assert.match(rec.out, /blast radius: 3 leaf\(s\) of "eu".*payments, checkout, ledger/);
  assert.match(rec.out, /write bundle\s+eu\.pem\s+\+eu G2 -eu G1/);
  assert.match(rec.out, /write bundle\s+global\.pem\s+\+eu G2 -eu G1/);
  assert.not.match(rec.out, /us\.pem/);

  const crl = join(sb.dir, "crl/root.crl.pem");
  const revoked = verifyAt(NOW, ["-crl_check", "-CAfile", join(sb.dir, "bundles/root.pem"), "-CRLfile", crl, join(sb.dir, "scopes/eu/G1.crt.pem")]);
  assert.not.ok(revoked.ok);
  assert.match(revoked.out, /certificate revoked/);
  assert.ok(verifyAt(NOW, ["-crl_check", "-CAfile", join(sb.dir, "bundles/root.pem"), "-CRLfile", crl, join(sb.dir, "scopes/eu/G2.crt.pem")]).ok);
  const g1 = read(sb, "scopes/eu/G1.crt.pem");
  for (const b of ["eu", "us", "global", "root"]) assert.not.ok(read(sb, `bundles/${b}.pem`).includes(g1), `${b}.pem still carries the revoked generation`);
  assert.not.ok(verifyAt(NOW, ["-partial_chain", "-CAfile", join(sb.dir, "bundles/eu.pem"), oldLeaf]).ok, "a leaf of the revoked generation still verifies");
  assert.is(treeHash(sb.dir, usFiles), usBefore, "recovering eu changed a us file");

  const renew = await ok(cli(["pki", "renew", "--region", "eu"], ciEnv(sb)));
  assert.is((renew.out.match(/\(issuer revoked\)/g) ?? []).length, 3);
  for (const svc of ["payments", "checkout", "ledger"]) {
    const r = verifyAt(NOW, ["-partial_chain", "-CAfile", join(sb.dir, "bundles/eu.pem"), join(sb.dir, `leaves/eu/${svc}.crt.pem`)]);
    assert.ok(r.ok, r.out);
  }
  assert.ok((await mtls(side(sb, "eu", "checkout"), side(sb, "eu", "ledger"), "checkout.eu.mesh.test")).ok);
  assert.equal(plaintextKeys(sb.dir), []);
});

test("every root-posture step refuses without the root identity, names the posture, and changes nothing", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu"]);
  writeFileSync(join(sb.regions, "ap.json"), JSON.stringify({ name: "ap", services: ["x"] }));
  const before = treeHash(sb.dir);
  for (const argv of [["pki", "intermediate", "us"], ["pki", "rotate", "--intermediate", "eu"], ["pki", "rotate", "--root"], ["pki", "recover-intermediate", "eu"]]) {
    const r = await cli(argv, ciEnv(sb));
    assert.is(r.code, 3, `${argv.join(" ")}: ${r.err}`);
    assert.match(r.err, /root posture/);
    assert.match(r.err, /INFORGE_PKI_ROOT_KEY/);
    assert.match(r.err, /Nothing was changed/);
    assert.is(treeHash(sb.dir), before, argv.join(" "));
  }
  const ci = await cli(["pki", "renew", "--at", iso(NOW + 6 * D)], rootEnv(sb));
  assert.is(ci.code, 3);
  assert.match(ci.err, /CI posture/);
  assert.is(treeHash(sb.dir), before);
});

test.run();
