// The large-fleet layout (pki.json leafFiles "shipped", README "Repository footprint"): the infra
// repo does not commit leaf certificates and key files; CI mints and ships a leaf in one job, and
// the repo keeps the index, serials and digests. From a fresh checkout — no leaf file at all —
// `pki verify` passes, `deploy` and `releases deploy` mint what they ship (checked with openssl
// and node:crypto), and a present leaf file is still held to the digest the journal recorded.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, opensslVerify, rootEnv, run, sandbox, treeHash, type Sandbox } from "./helpers.ts";
import { findingsOf, verify } from "./safety-helpers.ts";

const D = 86_400_000;
const T0 = Date.now();
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
const sb: Sandbox = sandbox({ global: ["auth"], eu: ["payments", "checkout"], us: ["payments", "search"] });
await buildTree(sb, ["global", "eu", "us"], iso(T0));
const both = ciEnv(sb, { INFORGE_PKI_ROOT_KEY: sb.rootKey });

function git(cwd: string, args: string[]): string {
  const r = run("git", args, { cwd, env: { ...process.env, GIT_AUTHOR_NAME: "ci", GIT_AUTHOR_EMAIL: "ci@example.test", GIT_COMMITTER_NAME: "ci", GIT_COMMITTER_EMAIL: "ci@example.test" } });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")} failed in ${cwd}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

// The infra repo in the shipped layout: leafFiles set in pki.json and signed by the root
// (pki config), the leaf files ignored by git.
const origin = join(sb.base, "origin.git");
const seed = join(sb.base, "seed");
git(sb.base, ["init", "--quiet", "--bare", "--initial-branch=main", origin]);
git(sb.base, ["clone", "--quiet", origin, seed]);
run("cp", ["-a", sb.dir, join(seed, "pki")]);
const cfg = JSON.parse(readFileSync(join(seed, "pki/pki.json"), "utf8"));
writeFileSync(join(seed, "pki/pki.json"), JSON.stringify({ ...cfg, leafFiles: "shipped" }, null, 2) + "\n");
// Unsigned, the layout change is refused like any other edit of pki.json; the root signs it.
const unsigned = await cli(["pki", "verify", "--dir", join(seed, "pki")], ciEnv(sb));
assert.match(unsigned.out + unsigned.err, /custody\.field.*leafFiles|pki\.json leafFiles differs from the custody record the root signed/);
await ok(cli(["pki", "config", "--dir", join(seed, "pki")], rootEnv(sb)));
writeFileSync(join(seed, ".gitignore"), "pki/leaves/*/*.crt.pem\npki/leaves/*/keys.age\n");
git(seed, ["add", "--all"]);
git(seed, ["commit", "--quiet", "-m", "pki, leaves shipped"]);
git(seed, ["push", "--quiet", "origin", "main"]);
let n = 0;
/** A fresh CI checkout: no leaf certificate, no key file. */
const checkout = () => {
  const dir = join(sb.base, `ci-${++n}`);
  git(sb.base, ["clone", "--quiet", origin, dir]);
  return dir;
};
const at = iso(T0 + D);

test("a fresh checkout holds no leaf file, and pki verify passes on it, counting the leaves it does not hold", async () => {
  const work = checkout();
  assert.not.ok(existsSync(join(work, "pki/leaves/eu/payments.crt.pem")));
  assert.not.ok(existsSync(join(work, "pki/leaves/eu/keys.age")));
  assert.ok(existsSync(join(work, "pki/leaves/eu/index.json")) && existsSync(join(work, "pki/leaves/eu/manifest.json")));
  const v = await verify(join(work, "pki"), both, at);
  assert.is(v.code, 0, findingsOf(v.report));
  assert.is(v.report.checked.shipped, 5);
  // The same checkout under the default layout is damage: every leaf file is missing.
  writeFileSync(join(work, "pki/pki.json"), JSON.stringify(cfg, null, 2) + "\n");
  const committed = await verify(join(work, "pki"), both, at);
  assert.is(committed.code, 1);
  assert.ok(committed.report.findings.some((f) => f.code === "journal.file-missing" && f.file === "leaves/eu/payments.crt.pem"), findingsOf(committed.report));
});

test("deploy from a fresh checkout mints the leaf it ships; openssl verifies it and its key matches; the commit holds no leaf file", async () => {
  const work = checkout();
  const out = join(sb.base, `out-${n}`);
  const r = await ok(cli(["deploy", "payments", "--region", "eu", "--out", out, "--dir", join(work, "pki"), "--at", at], ciEnv(sb)));
  assert.match(r.out + r.err, /minted|missing/);
  const crt = readFileSync(join(out, "tls.crt"), "utf8");
  const leaf = new X509Certificate(crt);
  assert.ok(leaf.subjectAltName?.includes("DNS:payments.eu.mesh.test"), leaf.subjectAltName);
  assert.ok(new Date(leaf.validFrom).getTime() >= T0 + D - 10 * 60_000, `not minted in this run: ${leaf.validFrom}`);
  const pub = (pem: string) => createPublicKey(createPrivateKey(pem)).export({ type: "spki", format: "der" });
  assert.ok(pub(readFileSync(join(out, "tls.key"), "utf8")).equals(leaf.publicKey.export({ type: "spki", format: "der" })), "tls.key is not the leaf's key");
  writeFileSync(join(out, "leaf.pem"), crt.slice(0, crt.indexOf("-----END CERTIFICATE-----") + 25) + "\n");
  const ossl = opensslVerify(["-partial_chain", "-attime", String(Math.floor((T0 + D) / 1000)), "-CAfile", join(out, "ca.crt"), join(out, "leaf.pem")]);
  assert.ok(ossl.ok, ossl.out);
  const v = await verify(join(work, "pki"), both, at);
  assert.is(v.code, 0, findingsOf(v.report));
  assert.is(v.report.checked.shipped, 4);
  // What the job commits: the index, the manifest, the journal and the CRL, never a leaf file.
  git(work, ["add", "--all"]);
  const staged = git(work, ["diff", "--cached", "--name-only"]).trim().split("\n");
  assert.ok(staged.includes("pki/leaves/eu/index.json") && staged.includes("pki/leaves/eu/manifest.json"), staged.join(", "));
  assert.not.ok(staged.some((p) => /\.crt\.pem$|keys\.age$/.test(p) && p.startsWith("pki/leaves/")), staged.join(", "));
  git(work, ["commit", "--quiet", "-m", "deploy eu/payments"]);
  git(work, ["push", "--quiet", "origin", "HEAD:main"]);
  // The next fresh checkout verifies too: the recorded digest of a leaf it does not hold is not checked.
  const next = checkout();
  const later = await verify(join(next, "pki"), both, at);
  assert.is(later.code, 0, findingsOf(later.report));
});

test("releases deploy from a fresh checkout mints every leaf it ships in one commit", async () => {
  const work = checkout();
  const releases = join(sb.base, `releases-${n}`);
  mkdirSync(releases);
  writeFileSync(join(releases, "r1.json"), JSON.stringify({ name: "r1", deploy: [{ region: "us", services: ["payments", "search"] }, { region: "global", services: ["auth"] }] }));
  const out = join(sb.base, `rel-${n}`);
  const r = await ok(cli(["releases", "deploy", "r1", "--out", out, "--dir", join(work, "pki"), "--at", at], ciEnv(sb, { INFORGE_RELEASES_DIR: releases })));
  assert.match(r.out, /delivered all 3 service\(s\) of r1/);
  for (const [scope, svc] of [["us", "payments"], ["us", "search"], ["global", "auth"]]) {
    const dir = join(out, scope!, svc!);
    const leaf = new X509Certificate(readFileSync(join(dir, "tls.crt")));
    assert.ok(new Date(leaf.validFrom).getTime() >= T0 + D - 10 * 60_000, `${scope}/${svc} was not minted in this run`);
    assert.ok(createPublicKey(createPrivateKey(readFileSync(join(dir, "tls.key")))).export({ type: "spki", format: "der" }).equals(leaf.publicKey.export({ type: "spki", format: "der" })));
  }
  const v = await verify(join(work, "pki"), both, at);
  assert.is(v.code, 0, findingsOf(v.report));
  // Delivered again from the same checkout: the leaves are here now, nothing is minted.
  const again = await ok(cli(["releases", "deploy", "r1", "--out", out, "--dir", join(work, "pki"), "--at", at], ciEnv(sb, { INFORGE_RELEASES_DIR: releases })));
  assert.match(again.out, /us\s+0\s+2\s+0/);
});

test("a renewal in a fresh checkout renews what is due and keeps only the keys it holds; verify passes", async () => {
  const work = checkout();
  const later = iso(T0 + 5 * D);
  await ok(cli(["pki", "renew", "--dir", join(work, "pki"), "--at", later], ciEnv(sb)));
  // Minted at T0, due at two thirds of 7 days: renewed. eu/payments was minted a day later by the deploy above: not due, not here.
  for (const s of ["eu/checkout", "us/search", "global/auth"]) assert.ok(existsSync(join(work, `pki/leaves/${s}.crt.pem`)), s);
  assert.not.ok(existsSync(join(work, "pki/leaves/eu/payments.crt.pem")));
  const keys = run("age", ["-d", "-i", sb.ciKey, join(work, "pki/leaves/eu/keys.age")]);
  assert.equal(Object.keys(JSON.parse(keys.stdout).keys), ["checkout"], "keys.age holds a key this checkout never had");
  const v = await verify(join(work, "pki"), both, later);
  assert.is(v.code, 0, findingsOf(v.report));
  assert.is(v.report.checked.shipped, 1);
});

test("in the shipped layout a present leaf file is still held to its digest: a swapped certificate stops the run, the tree unchanged", async () => {
  const work = checkout();
  const dir = join(work, "pki");
  await ok(cli(["deploy", "payments", "--region", "eu", "--out", join(sb.base, `o-${n}`), "--dir", dir, "--at", at], ciEnv(sb)));
  writeFileSync(join(dir, "leaves/eu/payments.crt.pem"), readFileSync(join(dir, "scopes/eu/G1.crt.pem")));
  const before = treeHash(dir);
  const r = await cli(["pki", "rotate", "--leaf", "checkout", "--region", "eu", "--dir", dir, "--at", at], ciEnv(sb));
  assert.is(r.code, 1, r.out);
  assert.match(r.err, /^inforge: leaves\/eu\/payments\.crt\.pem was changed outside inforge/);
  assert.is(treeHash(dir), before);
  const d = await cli(["deploy", "payments", "--region", "eu", "--out", join(sb.base, `o2-${n}`), "--dir", dir, "--at", at], ciEnv(sb));
  assert.is.not(d.code, 0);
  assert.match(d.err, /leaves\/eu\/payments\.crt\.pem was changed outside inforge/);
  const v = await verify(dir, both, at);
  assert.ok(v.report.findings.some((f) => f.code === "journal.hash-mismatch" && f.file === "leaves/eu/payments.crt.pem"), findingsOf(v.report));
});

test.run();
