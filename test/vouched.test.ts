// Issue 11 part 4: ship only what the state vouches for. An attacker who can write to the infra
// repo (but holds neither identity) edits files under pki/, sometimes rewriting the unkeyed
// journal to match. deploy and releases deploy must refuse — nothing written to the out dir —
// whether or not they mint; renew, rotate --leaf and sign-csr must refuse to issue under a
// substituted intermediate; verify must refuse a sealed key with an extra recipient stanza.
// Every refusal leaves the pki directory byte-identical. Foreign certificates are made with
// openssl, foreign sealed files with the age CLI.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, rootEnv, run, sandbox, treeHash, type CliResult } from "./helpers.ts";
import { assertOneLine, clone, errorCodes, findingsOf, rechain, verify } from "./safety-helpers.ts";

const sb = sandbox();
await buildTree(sb);
const tmp = mkdtempSync(join(sb.base, "attacker-"));
test.after(() => rmSync(sb.base, { recursive: true, force: true }));

const sh = (cmd: string, args: string[], input?: string) => {
  const r = run(cmd, args, input === undefined ? {} : { input });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};
/** The attacker's own CA (P-256, self-signed) and a CA certificate it signs with the given subject. */
let n = 0;
function attackerCa(cn = "attacker root"): { cert: string; key: string } {
  const key = join(tmp, `ca${++n}.key`);
  const cert = join(tmp, `ca${n}.crt`);
  sh("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-subj", `/CN=${cn}`, "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  return { cert, key };
}
const ciRecipient = () => sh("age-keygen", ["-y", sb.ciKey]).trim();
const fingerprint = (pemFile: string) => sh("openssl", ["x509", "-in", pemFile, "-noout", "-fingerprint", "-sha256"]).trim().replace(/^.*=/, "").replace(/:/g, "").toLowerCase();
const serial = (pemFile: string) => sh("openssl", ["x509", "-in", pemFile, "-noout", "-serial"]).trim().replace(/^serial=/, "").toLowerCase().replace(/^0+/, "");

const at = (dir: string, rel: string) => join(dir, rel);
const read = (dir: string, rel: string) => readFileSync(at(dir, rel), "utf8");
const env = (dir: string, extra: Record<string, string> = {}) => ciEnv(sb, { INFORGE_PKI_DIR: dir, ...extra });

/** A refusal: non-zero, one line naming `file`, the pki dir and every out dir byte-identical. */
async function refused(what: string, dir: string, outs: string[], run: () => Promise<CliResult>, file: RegExp, planOnStderr = false): Promise<CliResult> {
  const before = [treeHash(dir), ...outs.map((o) => treeHash(o))];
  const existed = outs.map((o) => existsSync(o));
  const r = await run();
  assert.is.not(r.code, 0, `${what}: exit 0\n${r.out}`);
  assert.ok(r.code !== 70, `${what}: a bug report\n${r.err}`);
  // sign-csr prints its plan on stderr (stdout carries the chain): the refusal is its last line.
  assertOneLine(planOnStderr ? r.err.trim().split("\n").at(-1)! : r.err, what);
  assert.match(r.err, file, `${what}: the message does not name the file: ${r.err}`);
  assert.equal([treeHash(dir), ...outs.map((o) => treeHash(o))], before, `${what}: the pki directory or an out dir changed`);
  assert.equal(outs.map((o) => existsSync(o)), existed, `${what}: an out dir was created`);
  return r;
}

const deployTo = (dir: string, out: string, svc = "payments", scope = "eu") => cli(["deploy", svc, "--region", scope, "--out", out], env(dir));
const releasesDir = join(sb.base, "releases");
mkdirSync(releasesDir);
writeFileSync(join(releasesDir, "r1.json"), JSON.stringify({ name: "r1", deploy: [{ region: "eu", services: ["payments", "checkout"] }, { region: "us", services: ["payments"] }] }));
const release = (dir: string, out: string) => cli(["releases", "deploy", "r1", "--out", out], env(dir, { INFORGE_RELEASES_DIR: releasesDir }));

test("a foreign CA appended to bundles/eu.pem (journal untouched): deploy with nothing to mint and releases deploy refuse, naming the file, out dirs untouched", async () => {
  const dir = clone(sb);
  const out = join(sb.base, "out-bundle", "payments");
  const rel = join(sb.base, "out-bundle", "release");
  await ok(deployTo(dir, out)); // a healthy deploy first: the out dir holds the right files
  const ca = attackerCa();
  writeFileSync(at(dir, "bundles/eu.pem"), read(dir, "bundles/eu.pem") + readFileSync(ca.cert, "utf8"));
  const d = await refused("deploy", dir, [out], () => deployTo(dir, out), /bundles\/eu\.pem was changed outside inforge/);
  assert.not.match(d.out, /plan:/, "nothing was due: the refusal is not the minting tamper check");
  await refused("deploy to a new out dir", dir, [join(sb.base, "out-bundle", "fresh")], () => deployTo(dir, join(sb.base, "out-bundle", "fresh")), /bundles\/eu\.pem/);
  await refused("releases deploy", dir, [rel], () => release(dir, rel), /bundles\/eu\.pem was changed outside inforge/);
  assert.ok(!read(out, "ca.crt").includes(readFileSync(ca.cert, "utf8").trim()), "the attacker's CA reached ca.crt");
});

test("the same bundle with the journal rewritten to match is still refused: it is not the bundle the state defines", async () => {
  const dir = clone(sb);
  const out = join(sb.base, "out-bundle-forged");
  writeFileSync(at(dir, "bundles/eu.pem"), read(dir, "bundles/eu.pem") + readFileSync(attackerCa().cert, "utf8"));
  rechain(dir, ["bundles/eu.pem"]);
  await refused("deploy", dir, [out], () => deployTo(dir, out), /bundles\/eu\.pem is not exactly \[eu G1, global G1\]/);
  await refused("releases deploy", dir, [out], () => release(dir, out), /bundles\/eu\.pem is not exactly/);
});

test("a swapped leaf certificate is refused by deploy and releases deploy, with and without a rewritten journal", async () => {
  const dir = clone(sb);
  const out = join(sb.base, "out-leaf");
  writeFileSync(at(dir, "leaves/eu/payments.crt.pem"), read(dir, "leaves/eu/checkout.crt.pem"));
  await refused("deploy", dir, [out], () => deployTo(dir, out), /leaves\/eu\/payments\.crt\.pem was changed outside inforge/);
  await refused("releases deploy", dir, [out], () => release(dir, out), /leaves\/eu\/payments\.crt\.pem/);
  rechain(dir, ["leaves/eu/payments.crt.pem"]);
  await refused("deploy (forged journal)", dir, [out], () => deployTo(dir, out), /leaves\/eu\/payments\.crt\.pem is not the leaf leaves\/eu\/index\.json records/);
});

test("a leaf signed by the attacker's CA, with index.json and the journal rewritten to match, is refused: not signed by its issuer", async () => {
  const dir = clone(sb);
  const out = join(sb.base, "out-forged-leaf");
  const ca = attackerCa("eu G1");
  const key = join(tmp, "leaf.key");
  const csr = join(tmp, "leaf.csr");
  const crt = join(tmp, "leaf.crt");
  sh("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=payments.eu.mesh.test"]);
  writeFileSync(join(tmp, "ext"), "subjectAltName=DNS:payments.eu.mesh.test,URI:spiffe://eu.mesh.test/svc/payments\n");
  sh("openssl", ["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", crt, "-days", "1", "-extfile", join(tmp, "ext")]);
  writeFileSync(at(dir, "leaves/eu/payments.crt.pem"), readFileSync(crt, "utf8"));
  const index = JSON.parse(read(dir, "leaves/eu/index.json"));
  index.leaves.payments.fingerprint = fingerprint(crt);
  index.leaves.payments.serial = serial(crt);
  writeFileSync(at(dir, "leaves/eu/index.json"), JSON.stringify(index, null, 2) + "\n");
  rechain(dir, ["leaves/eu/payments.crt.pem", "leaves/eu/index.json"]);
  await refused("deploy", dir, [out], () => deployTo(dir, out), /leaves\/eu\/payments\.crt\.pem is not signed by scopes\/eu\/G1\.crt\.pem/);
});

/**
 * The attacker's own intermediate for eu G1: their key sealed to the CI recipient (public), their
 * certificate, scope.json's fingerprint and the journal rewritten to match — the key matches the
 * certificate and the tamper check passes; only the chain to the root is wrong.
 */
function substituteIntermediate(dir: string): void {
  const ca = attackerCa("attacker root");
  const key = join(tmp, "int.key");
  const csr = join(tmp, "int.csr");
  const crt = join(tmp, "int.crt");
  sh("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=inforge eu G1"]);
  writeFileSync(join(tmp, "int-ext"), "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nnameConstraints=critical,permitted;DNS:eu.mesh.test\n");
  sh("openssl", ["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", crt, "-days", "365", "-extfile", join(tmp, "int-ext")]);
  const pkcs8 = sh("openssl", ["pkcs8", "-topk8", "-nocrypt", "-in", key]);
  writeFileSync(at(dir, "scopes/eu/G1.key.age"), sh("age", ["-a", "-r", ciRecipient()], pkcs8));
  writeFileSync(at(dir, "scopes/eu/G1.crt.pem"), readFileSync(crt, "utf8"));
  const scope = JSON.parse(read(dir, "scopes/eu/scope.json"));
  scope.generations[0].fingerprint = fingerprint(crt);
  scope.generations[0].serial = serial(crt);
  writeFileSync(at(dir, "scopes/eu/scope.json"), JSON.stringify(scope, null, 2) + "\n");
  rechain(dir, ["scopes/eu/G1.crt.pem", "scopes/eu/G1.key.age", "scopes/eu/scope.json"]);
}

test("a substituted intermediate (scope.json and journal rewritten) is caught by verify, and renew, rotate --leaf, sign-csr and a minting deploy issue nothing under it", async () => {
  const dir = clone(sb);
  substituteIntermediate(dir);
  const v = await verify(dir, ciEnv(sb));
  assert.ok(errorCodes(v.report).includes("chain.bad-signature"), findingsOf(v.report));
  const msg = /scopes\/eu\/G1\.crt\.pem \(scope eu, G1\) is not signed by root G1 \(root\/G1\.crt\.pem\)/;
  const later = new Date(Date.now() + 20 * 86_400_000).toISOString(); // every eu leaf is due
  await refused("renew", dir, [], () => cli(["pki", "renew", "--region", "eu", "--at", later], env(dir)), msg);
  await refused("renew (all regions)", dir, [], () => cli(["pki", "renew", "--at", later], env(dir)), msg);
  await refused("rotate --leaf", dir, [], () => cli(["pki", "rotate", "--leaf", "payments", "--region", "eu"], env(dir)), msg);
  const csrKey = join(tmp, "w.key");
  const csr = join(tmp, "w.csr");
  sh("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", csrKey, "-out", csr, "-subj", "/CN=payments.eu.mesh.test"]);
  await refused("sign-csr", dir, [], () => cli(["pki", "sign-csr", "--region", "eu", "--service", "payments", csr], env(dir)), msg, true);
  const out = join(sb.base, "out-substituted");
  await refused("deploy (mints)", dir, [out], () => cli(["deploy", "payments", "--region", "eu", "--out", out, "--at", later], env(dir)), msg);
  // Other regions are not held hostage: us renews under its own, genuine intermediate.
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "us"], env(dir)));
});

test("a sealed key with an extra recipient stanza (age CLI, two -r) is a verify error naming the file; renew and deploy refuse to open it", async () => {
  const dir = clone(sb);
  const attacker = join(tmp, "attacker.age");
  sh("age-keygen", ["-o", attacker]);
  const theirs = sh("age-keygen", ["-y", attacker]).trim();
  const reseal = (rel: string) => {
    const plain = sh("age", ["-d", "-i", sb.ciKey, at(dir, rel)]);
    writeFileSync(at(dir, rel), sh("age", ["-a", "-r", ciRecipient(), "-r", theirs], plain));
  };
  reseal("scopes/eu/G1.key.age");
  reseal("leaves/us/keys.age");
  rechain(dir, ["scopes/eu/G1.key.age", "leaves/us/keys.age"]); // only the stanza count can tell
  for (const ids of [{}, { INFORGE_SECRETS_KEY: sb.ciKey }]) {
    const v = await verify(dir, sb.env(ids));
    assert.is(v.code, 1);
    const f = v.report.findings.filter((x) => x.code === "key.recipients").map((x) => x.file).sort();
    assert.equal(f, ["leaves/us/keys.age", "scopes/eu/G1.key.age"], findingsOf(v.report));
    assert.match(findingsOf(v.report), /"scopes\/eu\/G1\.key\.age" is sealed to 2 recipient\(s\) of type X25519, X25519/);
  }
  const later = new Date(Date.now() + 20 * 86_400_000).toISOString();
  await refused("renew", dir, [], () => cli(["pki", "renew", "--region", "eu", "--at", later], env(dir)), /scopes\/eu\/G1\.key\.age" is sealed to 2 recipient/);
  const out = join(sb.base, "out-stanza");
  await refused("deploy", dir, [out], () => deployTo(dir, out, "payments", "us"), /leaves\/us\/keys\.age" is sealed to 2 recipient/);
  // The release's eu services are fine, but none of it ships: the tree was tampered with.
  await refused("releases deploy", dir, [out], () => release(dir, out), /leaves\/us\/keys\.age" is sealed to 2 recipient/);
  // The untouched tree has exactly one stanza in every sealed file.
  assert.ok((await verify(sb.dir, sb.env({ INFORGE_SECRETS_KEY: sb.ciKey, INFORGE_PKI_ROOT_KEY: sb.rootKey }))).report.ok);
});

test("root-posture signing still works through the vouched root (pki crl on an untouched copy)", async () => {
  const dir = clone(sb);
  await ok(cli(["pki", "crl"], rootEnv(sb, { INFORGE_PKI_DIR: dir })));
});

test.run();
