// `inforge pki sign-csr` with CSRs made by `openssl req -new`: the returned chain verifies with
// `openssl verify` against the scope bundle and completes mTLS with a deployed service; another
// region's name, a tampered signature and weak or unsupported keys are refused in one sentence.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, opensslVerify, run, sandbox } from "./helpers.ts";
import { mtls } from "./tls.ts";

const sb = sandbox();
await buildTree(sb);
const at = (name: string) => join(sb.base, name);
const read = (p: string) => readFileSync(p, "utf8");

/** `openssl req -new` with a fresh key: returns the CSR path (the key is at <name>.key). */
function csr(name: string, newkey: string[], subj: string, san?: string): string {
  const args = ["req", "-new", ...newkey, "-nodes", "-keyout", at(`${name}.key`), "-subj", subj, "-out", at(`${name}.csr`)];
  if (san) args.push("-addext", `subjectAltName=${san}`);
  const r = run("openssl", args);
  assert.is(r.status, 0, r.stderr);
  return at(`${name}.csr`);
}
const P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
const sign = (file: string, region = "eu", service = "payments", extra: string[] = []) =>
  cli(["pki", "sign-csr", "--region", region, "--service", service, file, ...extra], ciEnv(sb));

test("a P-256 CSR from openssl req -new gets a chain (leaf + intermediate) that openssl verify accepts against the scope bundle", async () => {
  const file = csr("own", P256, "/CN=payments.eu.mesh.test", "DNS:payments.eu.mesh.test,URI:spiffe://eu.mesh.test/svc/payments");
  const r = await ok(sign(file));
  writeFileSync(at("chain.pem"), r.out);
  assert.is((r.out.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
  assert.match(r.err, /issue leaf \(csr\)\s+eu\/payments for its own ECDSA P-256 key/);
  const v = opensslVerify(["-partial_chain", "-CAfile", join(sb.dir, "bundles/eu.pem"), "-untrusted", at("chain.pem"), at("chain.pem")]);
  assert.ok(v.ok, v.out);
  const rootV = opensslVerify(["-CAfile", join(sb.dir, "bundles/root.pem"), "-untrusted", at("chain.pem"), at("chain.pem")]);
  assert.ok(rootV.ok, rootV.out);
  const certPub = run("openssl", ["x509", "-in", at("chain.pem"), "-noout", "-pubkey"]).stdout;
  assert.is(certPub, run("openssl", ["pkey", "-in", at("own.key"), "-pubout"]).stdout, "the certificate is for the CSR's key");
  const text = run("openssl", ["x509", "-in", at("chain.pem"), "-noout", "-ext", "subjectAltName"]).stdout;
  assert.match(text, /DNS:payments\.eu\.mesh\.test, URI:spiffe:\/\/eu\.mesh\.test\/svc\/payments/);
  const idx = JSON.parse(read(join(sb.dir, "leaves/eu/index.json")));
  assert.is(idx.csr.payments.gen, 1);
  assert.is(read(join(sb.dir, "leaves/eu/payments.csr.crt.pem")), r.out.slice(0, r.out.indexOf("-----END CERTIFICATE-----") + 26));
});

test("the workload's own key and chain complete mTLS with a service whose files deploy wrote", async () => {
  await ok(cli(["deploy", "checkout", "--region", "eu", "--out", at("checkout")], ciEnv(sb)));
  const checkout = { cert: read(at("checkout/tls.crt")), key: read(at("checkout/tls.key")), ca: read(at("checkout/ca.crt")) };
  const own = { cert: read(at("chain.pem")), key: read(at("own.key")), ca: read(join(sb.dir, "bundles/eu.pem")) };
  const hs = await mtls(checkout, own, "checkout.eu.mesh.test");
  assert.ok(hs.ok, hs.error);
  assert.is(hs.peerUri, "spiffe://eu.mesh.test/svc/payments");
});

test("--out writes the chain to a file; a CSR with only a CN is accepted and still gets the service's two names", async () => {
  const file = csr("cn-only", P256, "/CN=ledger.eu.mesh.test");
  const r = await ok(sign(file, "eu", "ledger", ["--out", at("ledger-chain.pem")]));
  assert.is(r.out, "");
  assert.match(r.err, /wrote the chain \(leaf \+ eu G1\) to /);
  const text = run("openssl", ["x509", "-in", at("ledger-chain.pem"), "-noout", "-ext", "subjectAltName"]).stdout;
  assert.match(text, /DNS:ledger\.eu\.mesh\.test, URI:spiffe:\/\/eu\.mesh\.test\/svc\/ledger/);
});

test("a CSR for another region's name is refused, naming the name and the ones allowed", async () => {
  const file = csr("us-name", P256, "/CN=payments.us.mesh.test");
  const r = await sign(file, "eu", "payments");
  assert.is(r.code, 1);
  assert.match(r.err, /the CSR asks for the name "payments\.us\.mesh\.test", which eu\/payments may not carry \(inforge pki sign-csr\); a CSR for payments in eu may ask only for payments\.eu\.mesh\.test and spiffe:\/\/eu\.mesh\.test\/svc\/payments/);
  const ip = await sign(csr("ip", P256, "/CN=payments.eu.mesh.test", "IP:10.0.0.7"));
  assert.match(ip.err, /asks for the name "IP:10\.0\.0\.7"/);
});

test("a CSR whose signature was tampered with is refused", async () => {
  const file = csr("tamper", P256, "/CN=payments.eu.mesh.test");
  const raw = Buffer.from(read(file).replace(/-----[A-Z ]+-----/g, "").replace(/\s/g, ""), "base64");
  raw[raw.length - 1]! ^= 0x01; // the last byte of the ECDSA signature's s
  const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${raw.toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;
  writeFileSync(at("tampered.csr"), pem);
  const r = await sign(at("tampered.csr"));
  assert.is(r.code, 1);
  assert.match(r.err, /tampered\.csr: the request's signature does not verify with its own public key/);
});

test("weak keys (RSA 1024, P-192) are refused as too weak; Ed25519 and RSA 2048 as not issued for", async () => {
  const cases: [string, string[], RegExp][] = [
    ["rsa1024", ["-newkey", "rsa:1024"], /the request's key is RSA 1024, which is too weak to be certified; generate a P-256 key/],
    ["p192", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-192"], /the request's key is ECDSA P-192, which is too weak/],
    ["ed25519", ["-newkey", "ed25519"], /the request's key is Ed25519, which this mesh does not issue for \(its certificates are ECDSA P-256 throughout\)/],
    ["rsa2048", ["-newkey", "rsa:2048"], /the request's key is RSA 2048, which this mesh does not issue for/],
  ];
  for (const [name, key, re] of cases) {
    const r = await sign(csr(name, key, "/CN=payments.eu.mesh.test"));
    assert.is(r.code, 1, name);
    assert.match(r.err, re);
  }
  const notCsr = await sign(join(sb.dir, "bundles/eu.pem"));
  assert.match(notCsr.err, /is not a PEM certificate request: expected exactly one block, found 2/);
});

test.run();
