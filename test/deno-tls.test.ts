// A strict second TLS stack: Deno's client (rustls, via Deno.connect + Deno.startTls), given a
// region bundle as its only CA certificates, against a node:tls server presenting a leaf with
// its chain. The leaves below are of two kinds: the tree's own (DNS + SPIFFE URI SANs), and
// DNS-only leaves signed by the tree's real intermediates with openssl, which show the trust
// path itself (intermediate as anchor, name constraints, region isolation) on the same stack.
//
// Finding: rustls-webpki (>= 0.103.12, RUSTSEC-2026-0098) refuses a URI SAN under a URI name
// constraint, which it cannot enforce, as NameConstraintViolation. A tree whose intermediates
// carry a URI constraint (the opt-in `--name-constraints dns+uri`) has every leaf refused by
// rustls-based verifiers (Deno, rustls services and proxies); the default (`dns`) leaves URIs
// unconstrained and works with them (second test).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, leafKeyPem, run, sandbox } from "./helpers.ts";
import { assertDenoInstalled, denoHandshake, leavesOf } from "./deno.ts";

assertDenoInstalled();
const sb = sandbox();
await buildTree(sb, undefined, undefined, ["--name-constraints", "dns+uri"]);
const read = (rel: string) => readFileSync(join(sb.dir, rel), "utf8");
const bundle = (name: string) => join(sb.dir, `bundles/${name}.pem`);

/** What a deployed service presents: its leaf and the intermediate that signed it, and its key. */
function served(scope: string, svc: string) {
  const gen = leavesOf(sb.dir, scope).find((l) => l.service === svc)!.gen;
  return { cert: read(`leaves/${scope}/${svc}.crt.pem`) + read(`scopes/${scope}/G${gen}.crt.pem`), key: leafKeyPem(sb, scope, svc) };
}

/** A DNS-only leaf signed by the scope's real G1 intermediate (its key opened with the age CLI). */
function forged(scope: string, dns: string) {
  const base = sb.base;
  const intKey = join(base, `${scope}-int.key`);
  const opened = run("age", ["-d", "-i", sb.ciKey, join(sb.dir, `scopes/${scope}/G1.key.age`)]);
  assert.is(opened.status, 0, opened.stderr);
  writeFileSync(intKey, opened.stdout, { mode: 0o600 });
  const key = join(base, `${dns}.key`);
  const csr = run("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", "/CN=forged", "-out", join(base, "f.csr")]);
  assert.is(csr.status, 0, csr.stderr);
  writeFileSync(join(base, "f.cnf"), `subjectAltName=DNS:${dns}\nbasicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`);
  const crt = join(base, `${dns}.crt`);
  const x = run("openssl", ["x509", "-req", "-in", join(base, "f.csr"), "-CA", join(sb.dir, `scopes/${scope}/G1.crt.pem`), "-CAkey", intKey, "-CAcreateserial", "-days", "1", "-extfile", join(base, "f.cnf"), "-out", crt]);
  assert.is(x.status, 0, x.stderr);
  return { cert: readFileSync(crt, "utf8") + read(`scopes/${scope}/G1.crt.pem`), key: readFileSync(key, "utf8") };
}

test("with URI name constraints (opt-in dns+uri), rustls refuses our leaves: it cannot enforce a URI constraint (RUSTSEC-2026-0098)", async () => {
  const text = run("openssl", ["x509", "-noout", "-ext", "nameConstraints", "-in", join(sb.dir, "scopes/eu/G1.crt.pem")]).stdout;
  assert.match(text, /URI:/);
  const r = await denoHandshake(served("eu", "payments"), "payments.eu.mesh.test", bundle("eu"));
  assert.is(r.anchors, 2, "eu.pem holds the eu and global intermediates, nothing else");
  assert.not.ok(r.ok, "rustls now accepts a URI SAN under a URI name constraint: update this test and docs/concepts.md");
  assert.match(r.error!, /NameConstraintViolation/);
});

test("a mesh initialised with the default (dns constraints): Deno completes a handshake with an eu service's own leaf and refuses a us service's", async () => {
  const dns = sandbox();
  await buildTree(dns, ["global", "eu", "us"]);
  const text = run("openssl", ["x509", "-noout", "-ext", "nameConstraints", "-in", join(dns.dir, "scopes/eu/G1.crt.pem")]).stdout;
  assert.match(text, /DNS:eu\.mesh\.test/);
  assert.not.match(text, /URI:/);
  const own = (scope: string, svc: string) => ({
    cert: readFileSync(join(dns.dir, `leaves/${scope}/${svc}.crt.pem`), "utf8") + readFileSync(join(dns.dir, `scopes/${scope}/G1.crt.pem`), "utf8"),
    key: leafKeyPem(dns, scope, svc),
  });
  const euBundle = join(dns.dir, "bundles/eu.pem");
  const r = await denoHandshake(own("eu", "payments"), "payments.eu.mesh.test", euBundle);
  assert.ok(r.ok, r.error);
  assert.is(r.greeting, "hello from node");
  const us = await denoHandshake(own("us", "payments"), "payments.us.mesh.test", euBundle);
  assert.not.ok(us.ok, "an eu client accepted a us service's leaf");
});

test("Deno's TLS client trusting only bundles/eu.pem completes a handshake with a server presenting a leaf + chain under the eu intermediate", async () => {
  const r = await denoHandshake(forged("eu", "web.eu.mesh.test"), "web.eu.mesh.test", bundle("eu"));
  assert.ok(r.ok, r.error);
  assert.is(r.greeting, "hello from node");
});

test("Deno's TLS client trusting bundles/eu.pem accepts a global service's chain too (global is in every region bundle)", async () => {
  const r = await denoHandshake(forged("global", "web.global.mesh.test"), "web.global.mesh.test", bundle("eu"));
  assert.ok(r.ok, r.error);
});

test("Deno's TLS client trusting bundles/eu.pem refuses a us chain that bundles/us.pem accepts, and the us service's own leaf", async () => {
  const us = forged("us", "web.us.mesh.test");
  const control = await denoHandshake(us, "web.us.mesh.test", bundle("us"));
  assert.ok(control.ok, control.error);
  const r = await denoHandshake(us, "web.us.mesh.test", bundle("eu"));
  assert.not.ok(r.ok, "an eu client accepted a us chain");
  assert.match(r.error!, /UnknownIssuer/);
  const own = await denoHandshake(served("us", "payments"), "payments.us.mesh.test", bundle("eu"));
  assert.not.ok(own.ok, "an eu client accepted the us service's leaf");
});

test("Deno's TLS client refuses a us name minted under the eu intermediate (its name constraints) and a wrong host name", async () => {
  const bad = await denoHandshake(forged("eu", "payments.us.mesh.test"), "payments.us.mesh.test", bundle("eu"));
  assert.not.ok(bad.ok, "rustls accepted a name outside the eu intermediate's constraints");
  assert.match(bad.error!, /NameConstraintViolation/);
  const wrong = await denoHandshake(forged("eu", "web.eu.mesh.test"), "checkout.eu.mesh.test", bundle("eu"));
  assert.not.ok(wrong.ok);
  assert.match(wrong.error!, /NotValidForName|not valid for name/i);
});

test.run();
