// The root key on a PKCS#11 token (issue 17), against SoftHSM2: init with the root made inside a
// fresh token, intermediates, an intermediate rotation and a recovery signed there; a root
// rotation from the token to an age key and another from an age key to a token; every chain
// checked by openssl; pkcs11-tool shows the key sensitive and never extractable; the refusals
// (wrong PIN, missing token, missing object, a key whose public key does not match) leave the
// tree byte-identical. Skipped, with a printed line, only where softhsm2 is not installed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ciEnv, cli, ok, opensslVerify, ROOT, run, sandbox, treeHash, type Sandbox } from "./helpers.ts";

const MODULE = "/usr/lib/softhsm/libsofthsm2.so";
const present = run("sh", ["-c", "command -v softhsm2-util && command -v pkcs11-tool"]).status === 0 && existsSync(MODULE);

if (!present) {
  console.log("pkcs11.test.ts: skipped — softhsm2 and opensc are not installed (apt-get install -y softhsm2 opensc)");
} else {
  const sb = sandbox({ global: ["auth"], eu: ["payments"] });
  const hsm = join(sb.base, "hsm");
  mkdirSync(join(hsm, "tokens"), { recursive: true });
  writeFileSync(join(hsm, "softhsm2.conf"), `directories.tokendir = ${join(hsm, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  // SoftHSM reads its config when the module is initialised: set before the first pkcs11: use.
  process.env.SOFTHSM2_CONF = join(hsm, "softhsm2.conf");
  const pinFile = join(hsm, "pin");
  writeFileSync(pinFile, "123456\n", { mode: 0o600 });
  const badPin = join(hsm, "bad-pin");
  writeFileSync(badPin, "654321\n", { mode: 0o600 });
  for (const label of ["inforge", "second"]) {
    const r = run("softhsm2-util", ["--init-token", "--free", "--label", label, "--pin", "123456", "--so-pin", "12345678"]);
    if (r.status !== 0) throw new Error(r.stderr);
  }
  const uri = (token: string, object: string, pin = pinFile) => `pkcs11:token=${token};object=${object}?module-path=${MODULE}&pin-source=file:${pin}`;
  const tokenEnv = (s: Sandbox, value: string) => s.env({ INFORGE_PKI_ROOT_KEY: value });
  const p = (s: Sandbox, rel: string) => join(s.dir, rel);
  const config = (s: Sandbox) => JSON.parse(readFileSync(p(s, "pki.json"), "utf8"));
  const verify = (ca: string, cert: string, extra: string[] = []) => {
    const r = opensslVerify([...extra, "-CAfile", ca, cert]);
    assert.ok(r.ok, r.out);
  };
  const oneSentence = (err: string) => {
    const lines = err.trim().split("\n");
    assert.is(lines.length, 1, err);
    assert.not.match(err, /\n\s+at /, "no stack trace");
  };
  test.after(() => rmSync(sb.base, { recursive: true, force: true }));

  test("init makes the root key inside the token and records where it lives", async () => {
    await ok(cli(["pki", "init", "--domain", "mesh.test", "--identity-out", sb.rootKey, "--root-in", uri("inforge", "root-g1")], ciEnv(sb)));
    const loc = config(sb).rootKeys.G1;
    assert.equal({ in: loc.in, token: loc.token, object: loc.object }, { in: "pkcs11", token: "inforge", object: "root-g1" });
    assert.not.ok(existsSync(p(sb, "root/G1.key.age")), "no key file: the key is on the token");
    assert.not.match(readFileSync(p(sb, "pki.json"), "utf8"), /123456|module-path|pin/, "neither the PIN nor the module is recorded");
    // The record signed by the root holds the location (custody.json signs pki.json's trust-critical fields).
    assert.equal(JSON.parse(readFileSync(p(sb, "custody.json"), "utf8")).config.rootKeys.G1, loc);
    verify(p(sb, "root/G1.crt.pem"), p(sb, "root/G1.crt.pem"));
    // The public key recorded is the certificate's.
    const spki = run("openssl", ["x509", "-in", p(sb, "root/G1.crt.pem"), "-pubkey", "-noout"]).stdout.replace(/-----[^-]+-----|\s/g, "");
    assert.is(spki, loc.publicKey);
    // status says where the root key lives, in text and JSON.
    const st = await ok(cli(["pki", "status"], ciEnv(sb)));
    assert.match(st.out, /G1 active .*— pkcs11 token inforge \(object root-g1\)/);
    const js = JSON.parse((await ok(cli(["pki", "status", "--json"], ciEnv(sb)))).out);
    assert.equal(js.roots[0].key, { in: "pkcs11", token: "inforge", object: "root-g1" });
  });

  test("pkcs11-tool: the root key is sensitive and never extractable", () => {
    const r = run("pkcs11-tool", ["--module", MODULE, "--token-label", "inforge", "--login", "--pin", "123456", "--list-objects", "--type", "privkey"], { env: process.env });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /label:\s+root-g1/);
    assert.match(r.stdout, /Access:.*\bsensitive\b.*never extractable/);
  });

  test("intermediates, a rotation and a recovery are signed through the token", async () => {
    const env = tokenEnv(sb, uri("inforge", "root-g1"));
    for (const s of ["global", "eu"]) await ok(cli(["pki", "intermediate", s], env));
    await ok(cli(["pki", "renew"], ciEnv(sb)));
    for (const s of ["global", "eu"]) verify(p(sb, "root/G1.crt.pem"), p(sb, `scopes/${s}/G1.crt.pem`));
    await ok(cli(["pki", "rotate", "--intermediate", "eu", "--force"], env));
    verify(p(sb, "root/G1.crt.pem"), p(sb, "scopes/eu/G2.crt.pem"));
    await ok(cli(["pki", "recover-intermediate", "eu"], env));
    verify(p(sb, "root/G1.crt.pem"), p(sb, "scopes/eu/G3.crt.pem"));
    // The root CRL now lists the recovered intermediate; openssl checks its signature by the token's key.
    const crl = run("openssl", ["crl", "-in", p(sb, "crl/root.crl.pem"), "-CAfile", p(sb, "root/G1.crt.pem"), "-noout", "-text"]);
    assert.match(crl.stderr + crl.stdout, /verify OK/);
    assert.match(crl.stdout, /Serial Number/);
    // verify knows the root key is on the token: no sealed root key is expected in the tree.
    const v = await cli(["pki", "verify", "--json"], ciEnv(sb));
    const report = JSON.parse(v.out);
    assert.equal(report.findings.filter((f: { severity: string }) => f.severity === "error"), [], v.out);
  });

  test("refusals: wrong PIN, missing token, missing object — one sentence, nothing written", async () => {
    const before = treeHash(sb.dir);
    // A fresh process: PKCS#11 logins are per process, and this one is logged in already.
    const wrong = run(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "lib/cli/main.ts"), "pki", "crl", "--yes"], { env: tokenEnv(sb, uri("inforge", "root-g1", badPin)) as NodeJS.ProcessEnv });
    assert.is.not(wrong.status, 0);
    assert.match(wrong.stderr, /PIN for pkcs11 token "inforge" is wrong/);
    oneSentence(wrong.stderr);
    const missing = await cli(["pki", "crl"], tokenEnv(sb, uri("nope", "root-g1")));
    assert.is.not(missing.code, 0);
    assert.match(missing.err, /lives on pkcs11 token "inforge", but INFORGE_PKI_ROOT_KEY names token "nope"/);
    oneSentence(missing.err);
    // A token that is not there at all, at init: nothing created.
    const sb2 = sandbox({ global: ["auth"] });
    try {
      const absent = await cli(["pki", "init", "--domain", "mesh.test", "--identity-out", sb2.rootKey, "--root-in", uri("absent", "root-g1")], ciEnv(sb2));
      assert.is.not(absent.code, 0);
      assert.match(absent.err, /no token labelled "absent" is present/);
      oneSentence(absent.err);
      assert.not.ok(existsSync(sb2.dir), "no pki directory left behind");
      assert.not.ok(existsSync(sb2.rootKey), "no root identity revealed");
    } finally {
      rmSync(sb2.base, { recursive: true, force: true });
    }
    // The PIN never in the URI.
    const inline = await cli(["pki", "crl"], tokenEnv(sb, `pkcs11:token=inforge;object=root-g1?module-path=${MODULE}&pin-value=123456`));
    assert.is.not(inline.code, 0);
    assert.match(inline.err, /carries the PIN/);
    assert.not.match(inline.err, /123456/);
    assert.is(treeHash(sb.dir), before);
  });

  test("rotate --root moves the root from the token to an age key", async () => {
    await ok(cli(["pki", "rotate", "--root", "--root-in", "age"], tokenEnv(sb, uri("inforge", "root-g1"))));
    assert.ok(existsSync(p(sb, "root/G2.key.age")));
    assert.is(config(sb).rootKeys.G2, undefined);
    verify(p(sb, "root/G2.crt.pem"), p(sb, "root/G2.crt.pem"));
    // The cross certificate (new root's key, signed by G1 on the token) verifies under G1.
    verify(p(sb, "root/G1.crt.pem"), p(sb, "root/G2-by-G1.crt.pem"));
    // During the overlap both roots sign the CRL: INFORGE_PKI_ROOT_KEY holds the URI and the age identity, one per line.
    await ok(cli(["pki", "crl"], tokenEnv(sb, `${uri("inforge", "root-g1")}\n${readFileSync(sb.rootKey, "utf8")}`)));
  });

  test("rotate --root moves a root from an age key to a token", async () => {
    const sb3 = sandbox({ global: ["auth"] });
    try {
      await ok(cli(["pki", "init", "--domain", "mesh.test", "--identity-out", sb3.rootKey], ciEnv(sb3)));
      const ageEnv = sb3.env({ INFORGE_PKI_ROOT_KEY: sb3.rootKey });
      await ok(cli(["pki", "intermediate", "global"], ageEnv));
      await ok(cli(["pki", "rotate", "--root", "--root-in", uri("second", "root-g2")], ageEnv));
      assert.is(config(sb3).rootKeys.G2.token, "second");
      assert.not.ok(existsSync(p(sb3, "root/G2.key.age")));
      verify(p(sb3, "root/G1.crt.pem"), p(sb3, "root/G2-by-G1.crt.pem"));
      verify(p(sb3, "root/G2.crt.pem"), p(sb3, "root/G2.crt.pem"));
      // Overlap: the CRL is signed by G1 (age) and G2 (token) in one run.
      await ok(cli(["pki", "crl"], sb3.env({ INFORGE_PKI_ROOT_KEY: `${readFileSync(sb3.rootKey, "utf8")}\n${uri("second", "root-g2")}` })));
      const g2crl = readFileSync(p(sb3, "crl/root.crl.pem"), "utf8").split(/(?=-----BEGIN X509 CRL-----)/)[1]!;
      writeFileSync(join(sb3.base, "g2.crl"), g2crl);
      const c = run("openssl", ["crl", "-in", join(sb3.base, "g2.crl"), "-CAfile", p(sb3, "root/G2.crt.pem"), "-noout"]);
      assert.match(c.stderr + c.stdout, /verify OK/);
    } finally {
      rmSync(sb3.base, { recursive: true, force: true });
    }
  });

  test("a token key that is not the root's is refused (key replaced on the token)", async () => {
    const before = treeHash(sb.dir);
    const del = (type: string) => run("pkcs11-tool", ["--module", MODULE, "--token-label", "inforge", "--login", "--pin", "123456", "--delete-object", "--type", type, "--label", "root-g1"], { env: process.env });
    assert.is(del("privkey").status, 0);
    assert.is(del("pubkey").status, 0);
    const gen = run("pkcs11-tool", ["--module", MODULE, "--token-label", "inforge", "--login", "--pin", "123456", "--keypairgen", "--key-type", "EC:prime256v1", "--label", "root-g1"], { env: process.env });
    assert.is(gen.status, 0, gen.stderr);
    const r = run(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "lib/cli/main.ts"), "pki", "crl", "--yes"], { env: tokenEnv(sb, `${uri("inforge", "root-g1")}\n${readFileSync(sb.rootKey, "utf8")}`) as NodeJS.ProcessEnv });
    assert.is.not(r.status, 0);
    assert.match(r.stderr, /is not the key of root G1/);
    oneSentence(r.stderr);
    // And a missing object: the key gone from the token.
    assert.is(del("privkey").status, 0);
    const m = run(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "lib/cli/main.ts"), "pki", "crl", "--yes"], { env: tokenEnv(sb, `${uri("inforge", "root-g1")}\n${readFileSync(sb.rootKey, "utf8")}`) as NodeJS.ProcessEnv });
    assert.is.not(m.status, 0);
    assert.match(m.stderr, /object "root-g1" has no private key/);
    oneSentence(m.stderr);
    assert.is(treeHash(sb.dir), before);
  });
}

test.run();
