// lib/x509 end to end: every profile is checked by a real verifier (the openssl CLI), not by
// the library that produced it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  createCrl,
  createIntermediate,
  createLeaf,
  createRoot,
  crossSignRoot,
  exportPrivateKeyPem,
  generateKeyPair,
  importPrivateKeyPem,
  keySigner,
  parseCertificate,
  parseCertificates,
  parseCrl,
  publicKeyMatches,
  verifySignedBy,
  X509Error,
  type CertInfo,
  type Issuer,
  type Signer,
} from "../lib/x509/mod.ts";
import { BEGIN_PKCS8, END_PKCS8 } from "./fixtures/pem.ts";

// ---- helpers --------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), "inforge-x509-"));
let fileCount = 0;

/** Writes `text` to a fresh file in the temp dir and returns its path. */
function file(name: string, text: string): string {
  const path = join(dir, `${fileCount++}-${name}`);
  writeFileSync(path, text);
  return path;
}

/** Runs openssl; `out` is stdout and stderr together (openssl 3 splits results between them). */
function openssl(...args: string[]): { ok: boolean; out: string } {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

function expectOk(r: { ok: boolean; out: string }): string {
  assert.ok(r.ok, `openssl failed:\n${r.out}`);
  return r.out;
}

async function expectX509Error(p: Promise<unknown> | (() => unknown), code?: string, match?: RegExp) {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    assert.instance(e, X509Error);
    const err = e as X509Error;
    if (code) assert.is(err.code, code, err.message);
    if (match) assert.match(err.message, match);
    return err;
  }
  assert.unreachable("expected an X509Error");
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const now = new Date();
const at = (offsetMs: number) => new Date(now.getTime() + offsetMs);

// ---- one PKI shared by the tests: root → eu intermediate → payments leaf --------------------

const rootKey = await generateKeyPair();
const root = await createRoot({
  key: rootKey,
  commonName: "inforge root G1",
  notBefore: at(-HOUR),
  notAfter: at(3650 * DAY),
});
const rootIssuer: Issuer = { certPem: root.pem, signer: keySigner(rootKey) };

const euKey = await generateKeyPair();
const eu = await createIntermediate({
  publicKey: euKey.publicKey,
  issuer: rootIssuer,
  commonName: "inforge eu G1",
  notBefore: at(-HOUR),
  notAfter: at(365 * DAY),
  permittedDns: ["eu.mesh.test"],
  permittedUriHosts: ["eu.mesh.test"],
});
const euIssuer: Issuer = { certPem: eu.pem, signer: keySigner(euKey) };

async function leafUnderEu(dns: string[], uris: string[], commonName = "payments") {
  const key = await generateKeyPair();
  const cert = await createLeaf({
    publicKey: key.publicKey,
    issuer: euIssuer,
    commonName,
    notBefore: at(-HOUR),
    notAfter: at(DAY),
    dns,
    uris,
  });
  return { key, cert };
}

const payments = await leafUnderEu(["payments.eu.mesh.test"], ["spiffe://eu.mesh.test/svc/payments"]);

const rootPem = file("root.pem", root.pem);
const euPem = file("eu.pem", eu.pem);
const leafPem = file("leaf.pem", payments.cert.pem);

test.after(() => rmSync(dir, { recursive: true, force: true }));

// ---- chains and profiles --------------------------------------------------------------------

test("a leaf verifies against the root through its scope's intermediate", () => {
  expectOk(openssl("verify", "-CAfile", rootPem, "-untrusted", euPem, leafPem));
  // -x509_strict adds openssl's RFC 5280 profile checks (key ids, critical basicConstraints…).
  expectOk(openssl("verify", "-x509_strict", "-CAfile", rootPem, "-untrusted", euPem, leafPem));
});

test("a mesh peer anchored on the intermediate alone accepts the leaf (partial chain)", () => {
  expectOk(openssl("verify", "-partial_chain", "-CAfile", euPem, leafPem));
});

test("the intermediate's name constraints make openssl reject a DNS name of another scope", async () => {
  const rogue = await leafUnderEu(["payments.us.mesh.test"], []);
  const r = openssl("verify", "-CAfile", rootPem, "-untrusted", euPem, file("rogue.pem", rogue.cert.pem));
  assert.not.ok(r.ok, r.out);
  assert.match(r.out, /permitted subtree violation/);
});

test("the intermediate's name constraints make openssl reject a SPIFFE URI of another scope", async () => {
  const rogue = await leafUnderEu([], ["spiffe://us.mesh.test/svc/payments"]);
  const r = openssl("verify", "-CAfile", rootPem, "-untrusted", euPem, file("rogue.pem", rogue.cert.pem));
  assert.not.ok(r.ok, r.out);
  assert.match(r.out, /permitted subtree violation/);
  // Also for a mesh peer that anchors on the intermediate itself.
  const partial = openssl("verify", "-partial_chain", "-CAfile", euPem, file("rogue.pem", rogue.cert.pem));
  assert.not.ok(partial.ok, partial.out);
});

test("the intermediate's name constraints make openssl reject an IP address SAN", async () => {
  const text = expectOk(openssl("x509", "-in", euPem, "-noout", "-text"));
  assert.match(text, /Excluded:\s+IP:0\.0\.0\.0\/0\.0\.0\.0\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0/);
  // createLeaf has no IP form, but a leaked intermediate key could mint one: forge it with
  // openssl and the eu key, as an attacker would.
  const euKeyPath = file("eu-key.pem", await exportPrivateKeyPem(euKey));
  const config = file("ip.cnf", [
    "[req]", "distinguished_name = dn", "x509_extensions = ext", "prompt = no",
    "[dn]", "CN = ip",
    "[ext]", "subjectAltName = IP:10.1.2.3", "basicConstraints = critical,CA:FALSE", "",
  ].join("\n"));
  const forged = join(dir, "ip-leaf.pem");
  expectOk(openssl(
    "req", "-new", "-x509", "-config", config, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-keyout", join(dir, "ip-key.pem"), "-days", "1",
    "-CA", euPem, "-CAkey", euKeyPath, "-out", forged,
  ));
  const r = openssl("verify", "-CAfile", rootPem, "-untrusted", euPem, forged);
  assert.not.ok(r.ok, r.out);
  assert.match(r.out, /excluded subtree violation/);
});

test("openssl shows pathlen 0, critical name constraints and the CA key usages on an intermediate", () => {
  const text = expectOk(openssl("x509", "-in", euPem, "-noout", "-text"));
  assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
  assert.match(text, /X509v3 Name Constraints: critical\s+Permitted:\s+DNS:eu\.mesh\.test\s+URI:eu\.mesh\.test/);
  assert.match(text, /X509v3 Subject Key Identifier/);
  assert.match(text, /X509v3 Authority Key Identifier/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
});

test("openssl shows a root as a critical CA without a path length, signing certificates and CRLs", () => {
  const text = expectOk(openssl("x509", "-in", rootPem, "-noout", "-text"));
  assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE\n/);
  assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
  assert.not.match(text, /Authority Key Identifier/);
});

test("a leaf is a critical non-CA for signatures, server and client auth, with its SANs", () => {
  const text = expectOk(openssl("x509", "-in", leafPem, "-noout", "-text"));
  assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
  assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\n/);
  assert.match(text, /X509v3 Extended Key Usage: \s+TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.match(text, /X509v3 Subject Alternative Name: \s+DNS:payments\.eu\.mesh\.test, URI:spiffe:\/\/eu\.mesh\.test\/svc\/payments/);
  expectOk(openssl("verify", "-purpose", "sslserver", "-partial_chain", "-CAfile", euPem, leafPem));
  expectOk(openssl("verify", "-purpose", "sslclient", "-partial_chain", "-CAfile", euPem, leafPem));
});

test("CertInfo describes a certificate as openssl sees it", () => {
  const leaf = payments.cert;
  assert.is(leaf.subjectCn, "payments");
  assert.is(leaf.issuerCn, "inforge eu G1");
  assert.equal(leaf.dns, ["payments.eu.mesh.test"]);
  assert.equal(leaf.uris, ["spiffe://eu.mesh.test/svc/payments"]);
  assert.is(leaf.isCa, false);
  assert.is(leaf.aki, eu.ski);
  assert.is(eu.aki, root.ski);
  assert.is(root.aki, null);
  assert.equal(eu.permittedDns, ["eu.mesh.test"]);
  assert.equal(eu.permittedUris, ["eu.mesh.test"]);
  assert.is(eu.pathLen, 0);
  const serial = expectOk(openssl("x509", "-in", leafPem, "-noout", "-serial")).trim();
  assert.is(serial, `serial=${leaf.serial.toUpperCase()}`);
  const fp = expectOk(openssl("x509", "-in", leafPem, "-noout", "-fingerprint", "-sha256")).trim();
  assert.is(fp.split("=")[1]!.replace(/:/g, "").toLowerCase(), leaf.fingerprint);
  const ski = expectOk(openssl("x509", "-in", euPem, "-noout", "-ext", "subjectKeyIdentifier"));
  assert.ok(ski.replace(/[\s:]/g, "").toLowerCase().endsWith(eu.ski), ski);
  assert.equal(parseCertificate(leaf.pem), leaf);
});

test("serials are random positive 16-byte numbers", async () => {
  const serials = new Set([root, eu, payments.cert].map((c) => c.serial));
  assert.is(serials.size, 3);
  for (const s of serials) {
    assert.match(s, /^[0-9a-f]{32}$/);
    assert.ok(parseInt(s.slice(0, 2), 16) < 0x80 && s.slice(0, 2) !== "00", s);
  }
});

test("every PEM ends in exactly one newline, so bundles concatenate", async () => {
  const crl = await createCrl({ issuer: rootIssuer, thisUpdate: now, nextUpdate: at(DAY), crlNumber: 1, revoked: [] });
  for (const pem of [root.pem, eu.pem, payments.cert.pem, crl, await exportPrivateKeyPem(rootKey)]) {
    assert.ok(pem.endsWith("-----\n") && !pem.endsWith("\n\n"), JSON.stringify(pem.slice(-20)));
  }
  const bundle = file("bundle.pem", eu.pem + root.pem);
  // openssl reads the second certificate of a bundle only if the first ended with a newline.
  expectOk(openssl("verify", "-CAfile", bundle, leafPem));
});

test("names with commas stay a single relative distinguished name", async () => {
  const key = await generateKeyPair();
  const odd = await createRoot({ key, commonName: "Acme, Inc. root", notBefore: now, notAfter: at(DAY) });
  assert.is(odd.subjectCn, "Acme, Inc. root");
  const subject = expectOk(openssl("x509", "-in", file("odd.pem", odd.pem), "-noout", "-subject", "-nameopt", "RFC2253"));
  assert.is(subject.trim(), "subject=CN=Acme\\, Inc. root");
});

// ---- validity nesting -----------------------------------------------------------------------

test("a certificate never outlives its issuer", async () => {
  const key = await generateKeyPair();
  const leaf = { publicKey: key.publicKey, issuer: euIssuer, commonName: "late", dns: ["late.eu.mesh.test"], uris: [] };
  await expectX509Error(
    createLeaf({ ...leaf, notBefore: now, notAfter: at(366 * DAY) }),
    "outlives-issuer",
    /leaf "late" would outlive its issuer "inforge eu G1"/,
  );
  await expectX509Error(createLeaf({ ...leaf, notBefore: at(-2 * HOUR), notAfter: at(DAY) }), "outlives-issuer");
  await expectX509Error(
    createIntermediate({
      publicKey: key.publicKey,
      issuer: rootIssuer,
      commonName: "long",
      notBefore: now,
      notAfter: at(3651 * DAY),
      permittedDns: ["eu.mesh.test"],
      permittedUriHosts: ["eu.mesh.test"],
    }),
    "outlives-issuer",
  );
  await expectX509Error(createLeaf({ ...leaf, notBefore: at(DAY), notAfter: now }), "bad-input");
});

test("a child may end at the very instant its issuer does, milliseconds notwithstanding", async () => {
  // eu.notAfter was given with milliseconds; X.509 keeps whole seconds. Reusing the caller's own
  // Date must not count as outliving the issuer.
  const key = await generateKeyPair();
  const exact = await createLeaf({
    publicKey: key.publicKey,
    issuer: euIssuer,
    commonName: "exact",
    notBefore: at(-HOUR),
    notAfter: at(365 * DAY),
    dns: ["exact.eu.mesh.test"],
    uris: [],
  });
  assert.is(exact.notAfter.getTime(), eu.notAfter.getTime());
});

// ---- CRLs -----------------------------------------------------------------------------------

test("a root-signed CRL verifies in openssl and lists the revoked serial", async () => {
  const crl = await createCrl({
    issuer: rootIssuer,
    thisUpdate: now,
    nextUpdate: at(7 * DAY),
    crlNumber: 7,
    revoked: [{ serial: eu.serial, date: now }],
  });
  assert.match(crl, /^-----BEGIN X509 CRL-----\n/);
  const crlPem = file("crl.pem", crl);
  const out = expectOk(openssl("crl", "-in", crlPem, "-CAfile", rootPem, "-noout"));
  assert.match(out, /verify OK/);
  const text = expectOk(openssl("crl", "-in", crlPem, "-noout", "-text"));
  assert.match(text, new RegExp(`Serial Number: ${eu.serial}`, "i"));
  assert.match(text, /X509v3 CRL Number: \s+7\n/);
  assert.match(text, /X509v3 Authority Key Identifier/);
  const info = parseCrl(crl);
  assert.is(info.issuerCn, "inforge root G1");
  assert.is(info.crlNumber, 7);
  assert.equal(info.revokedSerials, [eu.serial]);
  assert.is(info.aki, root.ski);
  assert.is(info.thisUpdate.getTime(), Math.floor(now.getTime() / 1000) * 1000);
  assert.ok(info.nextUpdate);
  assert.ok(await verifySignedBy(crl, root.pem));
  assert.not.ok(await verifySignedBy(crl, eu.pem));
});

test("a leaf fails CRL-checked verification once its intermediate is revoked", async () => {
  const crl = (revoked: { serial: string; date: Date }[], crlNumber: number) =>
    createCrl({ issuer: rootIssuer, thisUpdate: now, nextUpdate: at(DAY), crlNumber, revoked });
  // -crl_check_all wants a CRL for every CA in the path, the intermediate's own included.
  const euCrl = await createCrl({ issuer: euIssuer, thisUpdate: now, nextUpdate: at(DAY), crlNumber: 1, revoked: [] });
  const verify = (rootCrl: string) =>
    openssl(
      "verify", "-crl_check_all", "-CRLfile", file("crls.pem", rootCrl + euCrl),
      "-CAfile", rootPem, "-untrusted", euPem, leafPem,
    );
  expectOk(verify(await crl([], 1)));
  const r = verify(await crl([{ serial: eu.serial, date: now }], 2));
  assert.not.ok(r.ok, r.out);
  assert.match(r.out, /certificate revoked/);
});

test("a CRL issuer must be a CA and the CRL number a non-negative integer", async () => {
  await expectX509Error(
    createCrl({ issuer: { certPem: payments.cert.pem, signer: keySigner(payments.key) }, thisUpdate: now, nextUpdate: at(DAY), crlNumber: 1, revoked: [] }),
    "not-a-ca",
  );
  await expectX509Error(createCrl({ issuer: rootIssuer, thisUpdate: now, nextUpdate: at(DAY), crlNumber: -1, revoked: [] }));
  await expectX509Error(
    createCrl({ issuer: rootIssuer, thisUpdate: now, nextUpdate: at(DAY), crlNumber: 1, revoked: [{ serial: "xyz", date: now }] }),
  );
});

test("a large CRL number survives the round trip through openssl", async () => {
  const big = 2 ** 40 + 255;
  const crl = await createCrl({ issuer: rootIssuer, thisUpdate: now, nextUpdate: at(DAY), crlNumber: big, revoked: [] });
  assert.is(parseCrl(crl).crlNumber, big);
  const text = expectOk(openssl("crl", "-in", file("big.pem", crl), "-noout", "-text"));
  assert.match(text, new RegExp(`CRL Number: \\s+${big}\\n`));
});

// ---- root rotation --------------------------------------------------------------------------

test("a cross-signed new root lets consumers anchored on the old root verify chains under it", async () => {
  const newKey = await generateKeyPair();
  const newRoot = await createRoot({ key: newKey, commonName: "inforge root G2", notBefore: now, notAfter: at(3650 * DAY) });
  const cross = await crossSignRoot({
    subjectCertPem: newRoot.pem,
    issuer: rootIssuer,
    notBefore: now,
    notAfter: at(3000 * DAY),
  });
  assert.is(cross.subjectCn, "inforge root G2");
  assert.is(cross.issuerCn, "inforge root G1");
  assert.is(cross.ski, newRoot.ski);
  assert.is(cross.aki, root.ski);
  assert.is(cross.isCa, true);
  assert.ok(await verifySignedBy(cross.pem, root.pem));

  const intKey = await generateKeyPair();
  const int2 = await createIntermediate({
    publicKey: intKey.publicKey,
    issuer: { certPem: newRoot.pem, signer: keySigner(newKey) },
    commonName: "inforge eu G2",
    notBefore: now,
    notAfter: at(300 * DAY),
    permittedDns: ["eu.mesh.test"],
    permittedUriHosts: ["eu.mesh.test"],
  });
  const leafKey = await generateKeyPair();
  const leaf = await createLeaf({
    publicKey: leafKey.publicKey,
    issuer: { certPem: int2.pem, signer: keySigner(intKey) },
    commonName: "payments",
    notBefore: now,
    notAfter: at(DAY),
    dns: ["payments.eu.mesh.test"],
    uris: ["spiffe://eu.mesh.test/svc/payments"],
  });
  const leaf2 = file("leaf2.pem", leaf.pem);
  const withCross = file("untrusted.pem", int2.pem + cross.pem);
  expectOk(openssl("verify", "-x509_strict", "-CAfile", rootPem, "-untrusted", withCross, leaf2));
  // Without the cross-signed certificate the old anchor cannot reach the new root.
  assert.not.ok(openssl("verify", "-CAfile", rootPem, "-untrusted", file("int2.pem", int2.pem), leaf2).ok);
  // Consumers already on the new root verify directly.
  expectOk(openssl("verify", "-CAfile", file("root2.pem", newRoot.pem), "-untrusted", withCross, leaf2));
});

test("only a self-signed root is cross-signed", async () => {
  await expectX509Error(
    crossSignRoot({ subjectCertPem: eu.pem, issuer: rootIssuer, notBefore: now, notAfter: at(DAY) }),
    "not-a-ca",
  );
  await expectX509Error(
    crossSignRoot({ subjectCertPem: root.pem, issuer: rootIssuer, notBefore: now, notAfter: at(DAY) }),
    "bad-input",
    /same key/,
  );
  const newKey = await generateKeyPair();
  const shortRoot = await createRoot({ key: newKey, commonName: "short", notBefore: now, notAfter: at(DAY) });
  await expectX509Error(
    crossSignRoot({ subjectCertPem: shortRoot.pem, issuer: rootIssuer, notBefore: now, notAfter: at(2 * DAY) }),
    "outlives-issuer",
    /outlive the root itself/,
  );
});

// ---- keys -----------------------------------------------------------------------------------

test("a private key survives a PKCS#8 PEM round trip and still matches its certificate", async () => {
  const pem = await exportPrivateKeyPem(payments.key);
  assert.match(pem, new RegExp(`^${BEGIN_PKCS8}\\n[\\s\\S]+\\n${END_PKCS8}\\n$`));
  expectOk(openssl("pkey", "-in", file("key.pem", pem), "-noout"));
  const back = await importPrivateKeyPem(pem);
  assert.is(await exportPrivateKeyPem(back), pem);
  assert.ok(await publicKeyMatches(payments.cert.pem, back));
  assert.not.ok(await publicKeyMatches(payments.cert.pem, euKey));
  // A pair glued from two different keys does not pass either.
  assert.not.ok(await publicKeyMatches(payments.cert.pem, { privateKey: euKey.privateKey, publicKey: back.publicKey }));
  // The imported key signs: it can act as an issuer.
  const euBack = await importPrivateKeyPem(await exportPrivateKeyPem(euKey));
  const leaf = await createLeaf({
    publicKey: back.publicKey,
    issuer: { certPem: eu.pem, signer: keySigner(euBack) },
    commonName: "again",
    notBefore: now,
    notAfter: at(HOUR),
    dns: ["again.eu.mesh.test"],
    uris: [],
  });
  expectOk(openssl("verify", "-partial_chain", "-CAfile", euPem, file("again.pem", leaf.pem)));
});

test("a P-256 key generated by openssl imports and matches the certificate issued for it", async () => {
  const keyPath = join(dir, "ossl-key.pem");
  expectOk(openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyPath));
  const pem = expectOk(openssl("pkey", "-in", keyPath));
  const key = await importPrivateKeyPem(pem);
  const leaf = await createLeaf({
    publicKey: key.publicKey,
    issuer: euIssuer,
    commonName: "ossl",
    notBefore: now,
    notAfter: at(HOUR),
    dns: ["ossl.eu.mesh.test"],
    uris: [],
  });
  assert.ok(await publicKeyMatches(leaf.pem, key));
  const fromCert = expectOk(openssl("x509", "-in", file("ossl.pem", leaf.pem), "-noout", "-pubkey"));
  const fromKey = expectOk(openssl("pkey", "-in", keyPath, "-pubout"));
  assert.is(fromCert, fromKey);
});

test("importPrivateKeyPem refuses what is not a PKCS#8 P-256 key", async () => {
  await expectX509Error(importPrivateKeyPem("not a key"), "not-pem");
  await expectX509Error(importPrivateKeyPem(root.pem), "not-pem", /found a "CERTIFICATE" block/);
  const sec1 = expectOk(openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout"));
  await expectX509Error(importPrivateKeyPem(sec1), "not-pem", /openssl pkcs8 -topk8 -nocrypt/);
  const p384 = expectOk(openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"));
  await expectX509Error(importPrivateKeyPem(p384), "bad-key");
  const ed = expectOk(openssl("genpkey", "-algorithm", "ED25519"));
  await expectX509Error(importPrivateKeyPem(ed), "bad-key");
});

// ---- the signer seam ------------------------------------------------------------------------

test("issuing goes through a custom Signer, as an HSM or KMS would provide", async () => {
  let calls = 0;
  const seen: number[] = [];
  // Not keySigner: a hand-written object over a non-extractable key, like a handle to an HSM.
  const hsmKey = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const hsm: Signer = {
    publicKey: hsmKey.publicKey,
    async sign(tbs) {
      calls++;
      seen.push(tbs.length);
      const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, hsmKey.privateKey, new Uint8Array(tbs));
      return new Uint8Array(sig);
    },
  };
  const hsmRoot = await createRoot({ key: hsm, commonName: "hsm root", notBefore: now, notAfter: at(30 * DAY) });
  const hsmIssuer: Issuer = { certPem: hsmRoot.pem, signer: hsm };
  const intKey = await generateKeyPair();
  const int = await createIntermediate({
    publicKey: intKey.publicKey,
    issuer: hsmIssuer,
    commonName: "hsm eu",
    notBefore: now,
    notAfter: at(DAY),
    permittedDns: ["eu.mesh.test"],
    permittedUriHosts: ["eu.mesh.test"],
  });
  const crl = await createCrl({ issuer: hsmIssuer, thisUpdate: now, nextUpdate: at(DAY), crlNumber: 1, revoked: [] });
  assert.is(calls, 3);
  assert.ok(seen.every((n) => n > 100), `tbs sizes ${seen}`);
  const hsmRootPem = file("hsm-root.pem", hsmRoot.pem);
  expectOk(openssl("verify", "-CAfile", hsmRootPem, file("hsm-int.pem", int.pem)));
  expectOk(openssl("crl", "-in", file("hsm-crl.pem", crl), "-CAfile", hsmRootPem, "-noout"));
});

test("a signer whose key is not the issuer certificate's is refused before it signs", async () => {
  let calls = 0;
  const other = await generateKeyPair();
  const wrong: Signer = { publicKey: other.publicKey, sign: async (tbs) => (calls++, keySigner(other).sign(tbs)) };
  const key = await generateKeyPair();
  await expectX509Error(
    createLeaf({ publicKey: key.publicKey, issuer: { certPem: eu.pem, signer: wrong }, commonName: "x", notBefore: now, notAfter: at(HOUR), dns: ["x.eu.mesh.test"], uris: [] }),
    "signer-mismatch",
  );
  assert.is(calls, 0);
});

test("a signer that returns a DER signature or signs with another key is refused, for a certificate and for a CRL", async () => {
  const key = await generateKeyPair();
  const leaf = (signer: Signer) =>
    createLeaf({ publicKey: key.publicKey, issuer: { certPem: eu.pem, signer }, commonName: "x", notBefore: now, notAfter: at(HOUR), dns: ["x.eu.mesh.test"], uris: [] });
  const der: Signer = { publicKey: euKey.publicKey, sign: async () => new Uint8Array(71) };
  await expectX509Error(leaf(der), "bad-signature", /64-byte P1363/);
  const liar: Signer = { publicKey: euKey.publicKey, sign: (tbs) => keySigner(rootKey).sign(tbs) };
  await expectX509Error(leaf(liar), "bad-signature");
  // The same for a CRL: only a keySigner's (its key checked on first use) goes unverified.
  const crl = (signer: Signer) => createCrl({ issuer: { certPem: eu.pem, signer }, thisUpdate: now, nextUpdate: at(DAY), crlNumber: 1, revoked: [] });
  await expectX509Error(crl(der), "bad-signature", /64-byte P1363/);
  await expectX509Error(crl(liar), "bad-signature", /does not verify/);
  assert.match(await crl(keySigner(euKey)), /^-----BEGIN X509 CRL-----/);
});

test("a child certificate never reuses its issuer's key", async () => {
  await expectX509Error(
    createIntermediate({ publicKey: rootKey.publicKey, issuer: rootIssuer, commonName: "c", notBefore: now, notAfter: at(DAY), permittedDns: ["eu.mesh.test"], permittedUriHosts: ["eu.mesh.test"] }),
    "bad-input",
    /same public key as its issuer/,
  );
  await expectX509Error(
    createLeaf({ publicKey: euKey.publicKey, issuer: euIssuer, commonName: "c", notBefore: now, notAfter: at(HOUR), dns: ["c.eu.mesh.test"], uris: [] }),
    "bad-input",
  );
});

test("a key pair glued from two different keys cannot sign", async () => {
  const glued = keySigner({ privateKey: rootKey.privateKey, publicKey: euKey.publicKey });
  const key = await generateKeyPair();
  await expectX509Error(
    createLeaf({ publicKey: key.publicKey, issuer: { certPem: eu.pem, signer: glued }, commonName: "x", notBefore: now, notAfter: at(HOUR), dns: ["x.eu.mesh.test"], uris: [] }),
    "bad-key",
    /key pair does not match/,
  );
});

test("an end-entity certificate cannot act as an issuer", async () => {
  const key = await generateKeyPair();
  await expectX509Error(
    createLeaf({ publicKey: key.publicKey, issuer: { certPem: payments.cert.pem, signer: keySigner(payments.key) }, commonName: "x", notBefore: now, notAfter: at(HOUR), dns: ["x.eu.mesh.test"], uris: [] }),
    "not-a-ca",
  );
});

// ---- input checks ---------------------------------------------------------------------------

test("an intermediate needs both a DNS and a URI constraint, in lowercase host form", async () => {
  const base = { publicKey: euKey.publicKey, issuer: rootIssuer, commonName: "c", notBefore: now, notAfter: at(DAY) };
  await expectX509Error(createIntermediate({ ...base, permittedDns: ["eu.mesh.test"], permittedUriHosts: [] }), "bad-input", /unconstrained/);
  await expectX509Error(createIntermediate({ ...base, permittedDns: [], permittedUriHosts: ["eu.mesh.test"] }), "bad-input");
  await expectX509Error(createIntermediate({ ...base, permittedDns: ["EU.mesh.test"], permittedUriHosts: ["eu.mesh.test"] }), "bad-input");
  await expectX509Error(createIntermediate({ ...base, permittedDns: ["eu.mesh.test"], permittedUriHosts: ["spiffe://eu.mesh.test"] }), "bad-input");
});

test("a leaf needs a name, and its DNS names and URIs must be well formed", async () => {
  const base = { publicKey: payments.key.publicKey, issuer: euIssuer, commonName: "c", notBefore: now, notAfter: at(HOUR) };
  await expectX509Error(createLeaf({ ...base, dns: [], uris: [] }), "bad-input", /no DNS name or URI/);
  await expectX509Error(createLeaf({ ...base, dns: ["bad name"], uris: [] }), "bad-input", /"bad name"/);
  await expectX509Error(createLeaf({ ...base, dns: [], uris: ["spiffe:no-host"] }), "bad-input");
  await expectX509Error(createLeaf({ ...base, dns: [], uris: ["spiffe://ü.mesh.test/x"] }), "bad-input");
  await expectX509Error(createLeaf({ ...base, commonName: "", dns: ["c.eu.mesh.test"], uris: [] }), "bad-input");
  await expectX509Error(createLeaf({ ...base, commonName: "x".repeat(65), dns: ["c.eu.mesh.test"], uris: [] }), "bad-input");
});

// ---- parsing --------------------------------------------------------------------------------

test("parseCertificate accepts exactly one PEM certificate and nothing else", async () => {
  const crl = await createCrl({ issuer: rootIssuer, thisUpdate: now, nextUpdate: at(DAY), crlNumber: 1, revoked: [] });
  const b64 = payments.cert.pem.split("\n").slice(1, -2).join("");
  const der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const withTrailingByte = `-----BEGIN CERTIFICATE-----\n${btoa(String.fromCharCode(...der, 0))}\n-----END CERTIFICATE-----\n`;
  const cases: [string, string][] = [
    ["garbage", "hello"],
    ["empty", ""],
    ["two blocks", payments.cert.pem + eu.pem],
    ["a CRL", crl],
    ["a private key", await exportPrivateKeyPem(payments.key)],
    ["trailing text", `${payments.cert.pem}trailing`],
    ["leading text", `Subject: payments\n${payments.cert.pem}`],
    ["broken base64", payments.cert.pem.replace(/\n-----END/, "!!\n-----END")],
    ["truncated DER", payments.cert.pem.replace(/\n[^\n]+\n-----END/, "\n-----END")],
    ["a byte after the DER", withTrailingByte],
    ["mismatched labels", payments.cert.pem.replace("END CERTIFICATE", "END X509 CRL")],
    ["PEM headers", payments.cert.pem.replace("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n")],
  ];
  for (const [what, text] of cases) {
    const err = await expectX509Error(() => parseCertificate(text, what));
    assert.match(err!.message, new RegExp(`^${what} is not a PEM certificate: `), what);
  }
  // CRLF line endings and surrounding whitespace are fine.
  const crlf = `\n  ${payments.cert.pem.replace(/\n/g, "\r\n")}\n\n`;
  assert.is(parseCertificate(crlf).fingerprint, payments.cert.fingerprint);
});

test("parseCertificates reads a concatenated bundle in order and rejects foreign blocks", async () => {
  const infos: CertInfo[] = parseCertificates(eu.pem + root.pem);
  assert.equal(infos.map((c) => c.subjectCn), ["inforge eu G1", "inforge root G1"]);
  assert.equal(parseCertificates(" \n"), []);
  const crl = await createCrl({ issuer: rootIssuer, thisUpdate: now, nextUpdate: at(DAY), crlNumber: 1, revoked: [] });
  await expectX509Error(() => parseCertificates(eu.pem + crl), "not-pem", /block 2: found a "X509 CRL" block/);
  await expectX509Error(() => parseCrl(eu.pem), "not-pem", /is not a PEM CRL/);
});

test("verifySignedBy checks the signature alone", async () => {
  assert.ok(await verifySignedBy(payments.cert.pem, eu.pem));
  assert.ok(await verifySignedBy(eu.pem, root.pem));
  assert.ok(await verifySignedBy(root.pem, root.pem));
  assert.not.ok(await verifySignedBy(payments.cert.pem, root.pem));
  // A flipped bit in the signature makes it fail, not throw.
  const b64 = payments.cert.pem.split("\n").slice(1, -2).join("");
  const der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  der[der.length - 1]! ^= 1;
  const tampered = `-----BEGIN CERTIFICATE-----\n${btoa(String.fromCharCode(...der))}\n-----END CERTIFICATE-----\n`;
  assert.not.ok(await verifySignedBy(tampered, eu.pem));
  await expectX509Error(verifySignedBy("junk", eu.pem), "not-pem");
});

test.run();
