// The direct DER reader behind parseCertificate and verifySignedBy (lib/x509/fast-parse.ts)
// against @peculiar/x509's parse of the same certificates: inforge's own profiles, and
// certificates openssl makes in shapes inforge does not (RSA, odd names, high-bit serials).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as X from "../lib/x509/mod.ts";
import * as R from "../lib/x509/read.ts";
import { certInfo, libraryIssuer, loadCertificate } from "../lib/x509/parse.ts";
import { fastIssuer } from "../lib/x509/cert-info.ts";
import { loadIssuer } from "../lib/x509/issuer.ts";
import { x509 } from "../lib/x509/vendor.ts";
import { librarySignedBy } from "../lib/x509/signature.ts";
import { fastFields } from "../lib/x509/fast-parse.ts";
import { exportSpki } from "../lib/x509/keys.ts";
import { nativePlatform } from "../lib/apply/native-crypto.ts";
import { pkcs8Pem } from "./fixtures/pem.ts";

const dir = mkdtempSync(join(tmpdir(), "inforge-fast-parse-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const DAY = 86_400_000;
const at = (ms: number) => new Date(Math.floor(Date.now() / 1000) * 1000 + ms);
const derOf = (pem: string) => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64"));
/** What the library says, bypassing the direct reader. */
const viaLibrary = (pem: string) => certInfo(loadCertificate(pem));

const rootKey = await X.generateKeyPair();
const root = await X.createRoot({ key: rootKey, commonName: "inforge root G1", notBefore: at(-DAY), notAfter: at(3650 * DAY) });
const root2Key = await X.generateKeyPair();
const root2 = await X.createRoot({ key: root2Key, commonName: "inforge root G2", notBefore: at(-DAY), notAfter: at(3000 * DAY) });
const cross = await X.crossSignRoot({ subjectCertPem: root2.pem, issuer: { certPem: root.pem, signer: X.keySigner(rootKey) }, notBefore: at(0), notAfter: at(1000 * DAY) });
const euKey = await X.generateKeyPair();
const eu = await X.createIntermediate({
  publicKey: euKey.publicKey, issuer: { certPem: root.pem, signer: X.keySigner(rootKey) }, commonName: "inforge eu G1",
  notBefore: at(-DAY), notAfter: at(365 * DAY), permittedDns: ["eu.mesh.test"], permittedUriHosts: ["eu.mesh.test"],
});
const leafKey = await X.generateKeyPair();
const leaf = await X.createLeaf({ publicKey: leafKey.publicKey, issuer: { certPem: eu.pem, signer: X.keySigner(euKey) }, commonName: "payments.eu.mesh.test", notBefore: at(0), notAfter: at(7 * DAY), dns: ["payments.eu.mesh.test"], uris: ["spiffe://eu.mesh.test/svc/payments"] });
const fast = await (await X.prepareLeafIssuer({ certPem: eu.pem, signer: X.keySigner(euKey) })).mint({ spki: await exportSpki(leafKey.publicKey), commonName: "ledger.eu.mesh.test", notBefore: at(0), notAfter: at(7 * DAY), dns: ["ledger.eu.mesh.test"], uris: [] });

/** A certificate made by openssl from a config; returns its PEM. */
function openssl(name: string, args: string[], conf?: string): string {
  const out = join(dir, `${name}.pem`);
  if (conf) writeFileSync(join(dir, `${name}.cnf`), conf);
  const r = spawnSync("openssl", [...args, "-out", out, ...(conf ? ["-config", join(dir, `${name}.cnf`)] : [])], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  return readFileSync(out, "utf8");
}
const req = (dn: string, ext: string) => `[req]\ndistinguished_name=dn\nprompt=no\nx509_extensions=ext\nstring_mask=utf8only\nutf8=yes\n[dn]\n${dn}\n[ext]\n${ext}\n`;
const fromOpenssl: Record<string, string> = {
  "an RSA CA with a 20-byte high-bit serial": openssl("rsa", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "rsa.key"), "-days", "3", "-set_serial", "0xF1223344556677889900AABBCCDDEEFF00112233"], req("CN=rsa ca\nO=Example", "basicConstraints=critical,CA:true,pathlen:3\nsubjectKeyIdentifier=hash\nkeyUsage=critical,keyCertSign")),
  "an EC leaf with several CNs, IP and e-mail SANs, no SKI": openssl("multi", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "multi.key"), "-days", "3", "-set_serial", "7"], req("CN=first\nCN=second", "subjectAltName=DNS:a.example,IP:10.0.0.1,email:x@example.org,URI:spiffe://example.org/a\nbasicConstraints=CA:false")),
  "a UTF8 common name and an AKI with issuer and serial": openssl("utf8", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "utf8.key"), "-days", "3"], req("CN=Zürich Ünit", "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always,issuer:always")),
  "a GeneralizedTime notAfter beyond 2050": openssl("far", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "far.key"), "-days", "10000"], req("CN=far", "nameConstraints=critical,permitted;DNS:far.example,permitted;URI:far.example,excluded;IP:0.0.0.0/0.0.0.0")),
};

test("parseCertificate reads every profile and openssl's shapes exactly as @peculiar/x509 does", () => {
  const all: Record<string, string> = { root: root.pem, "cross-signed root": cross.pem, intermediate: eu.pem, leaf: leaf.pem, "fast-path leaf": fast.pem, ...fromOpenssl };
  for (const [what, pem] of Object.entries(all)) assert.equal(X.parseCertificate(pem), viaLibrary(pem), what);
  assert.equal(X.parseCertificates(Object.values(all).join("")), Object.values(all).map(viaLibrary));
});

test("the direct reader handles inforge's own certificates itself and leaves the odd shapes to the library", () => {
  for (const pem of [root.pem, cross.pem, eu.pem, leaf.pem, fast.pem]) assert.ok(fastFields(derOf(pem)), "an inforge certificate went to the library");
  assert.is(fastFields(derOf(fromOpenssl["an RSA CA with a 20-byte high-bit serial"]!)), null, "a serial with a sign byte must go to the library");
});

test("an issuer is read for signing as the library reads it: names, keys, key usage bits, the AKI its children carry", async () => {
  const ku = openssl("ku", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "ku.key"), "-days", "3", "-set_serial", "9"], req("CN=ku ca\nO=Example\nC=CH", "basicConstraints=critical,CA:true\nsubjectKeyIdentifier=hash\nkeyUsage=critical,digitalSignature,keyCertSign,decipherOnly"));
  const all: Record<string, string> = { root: root.pem, "cross-signed root": cross.pem, intermediate: eu.pem, leaf: leaf.pem, "a two-byte keyUsage, no cRLSign": ku, ...fromOpenssl };
  let fastOnes = 0;
  for (const [what, pem] of Object.entries(all)) {
    const mine = fastIssuer(pem, what);
    if (!mine) continue;
    fastOnes++;
    const cert = loadCertificate(pem);
    assert.equal(mine.info, viaLibrary(pem), what);
    assert.equal([...mine.spki], [...new Uint8Array(cert.publicKey.rawData)], what);
    assert.equal([...mine.subjectName], [...new Uint8Array(cert.subjectName.toArrayBuffer())], what);
    assert.is(mine.keyUsage, cert.getExtension(x509.KeyUsagesExtension)?.usages ?? null, what);
  }
  assert.ok(fastOnes >= 5, `only ${fastOnes} read directly`);
  // What loadIssuer hands a child: the library's own AKI extension for the issuer's SKI.
  for (const [pem, key] of [[root.pem, rootKey], [eu.pem, euKey]] as const) {
    const ca = await loadIssuer({ certPem: pem, signer: X.keySigner(key) });
    assert.equal([...ca.akiDer], [...new Uint8Array(new x509.AuthorityKeyIdentifierExtension(ca.info.ski, false).rawData)]);
    assert.equal(ca.subjectName, libraryIssuer(pem).subjectName);
  }
  // The key usage bits decide: a CA without cRLSign signs certificates, never a CRL.
  const kuKey = await X.importPrivateKeyPem(readFileSync(join(dir, "ku.key"), "utf8"));
  await loadIssuer({ certPem: ku, signer: X.keySigner(kuKey) }, "cert");
  const refused = await loadIssuer({ certPem: ku, signer: X.keySigner(kuKey) }, "crl").then(() => null, (e: Error) => e.message);
  assert.match(refused ?? "signed", /not a CA allowed to sign CRLs/);
});

/** Each check twice: through node:crypto (lib/apply/native-crypto.ts) and through WebCrypto alone. */
async function bothPlatforms(f: () => Promise<void>): Promise<void> {
  for (const p of [nativePlatform, {}]) {
    X.installPlatform(p);
    try {
      await f();
    } finally {
      X.installPlatform(nativePlatform);
    }
  }
}

test("verifySignedBy gives the library's answer: chains verify, a wrong issuer or a changed byte does not", () => bothPlatforms(async () => {
  assert.ok(await X.verifySignedBy(leaf.pem, eu.pem));
  assert.ok(await X.verifySignedBy(fast.pem, eu.pem));
  assert.ok(await X.verifySignedBy(eu.pem, root.pem));
  assert.ok(await X.verifySignedBy(cross.pem, root.pem));
  assert.not.ok(await X.verifySignedBy(leaf.pem, root.pem));
  assert.not.ok(await X.verifySignedBy(cross.pem, root2.pem));
  // One byte of the subject changed: the TBS no longer matches the signature.
  const der = derOf(leaf.pem);
  const i = Buffer.from(der).indexOf(Buffer.from("payments"));
  der[i] = der[i]! ^ 0x20;
  const tampered = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64")}\n-----END CERTIFICATE-----\n`;
  assert.not.ok(await X.verifySignedBy(tampered, eu.pem));
  // An RSA-signed certificate is checked by the library.
  const rsa = fromOpenssl["an RSA CA with a 20-byte high-bit serial"]!;
  assert.ok(await X.verifySignedBy(rsa, rsa));
}));

/** The error a promise rejects with, or null. */
const failure = (p: Promise<unknown>) => p.then(() => null, (e: Error) => `${e.name}: ${e.message}`);

test("lib/x509/read.ts (status, without @peculiar/x509) answers as the library does, and hands it what it cannot read", () => bothPlatforms(async () => {
  const rsa = fromOpenssl["an RSA CA with a 20-byte high-bit serial"]!;
  const crl = await X.createCrl({ issuer: { certPem: root.pem, signer: X.keySigner(rootKey) }, thisUpdate: at(0), nextUpdate: at(DAY), crlNumber: 1, revoked: [] });
  const other = fromOpenssl["an EC leaf with several CNs, IP and e-mail SANs, no SKI"]!;
  const cases: [string, string, string][] = [
    ["leaf by its intermediate", leaf.pem, eu.pem], ["fast-path leaf", fast.pem, eu.pem], ["intermediate by its root", eu.pem, root.pem],
    ["cross certificate", cross.pem, root.pem], ["leaf by the root", leaf.pem, root.pem], ["cross by the other root", cross.pem, root2.pem],
    ["RSA (the library's)", rsa, rsa], ["a CRL (the library's)", crl, root.pem], ["a CRL by another root", crl, root2.pem],
    ["a self-signed EC certificate", other, other], ["two certificates", leaf.pem + eu.pem, eu.pem], ["not PEM", "garbage", eu.pem],
    ["an issuer that is not PEM", leaf.pem, "garbage"], ["a key as the child", pkcs8Pem("AAAA"), eu.pem],
  ];
  for (const [what, child, issuer] of cases) {
    const lib = await failure(librarySignedBy(child, issuer));
    assert.is(await failure(R.verifySignedBy(child, issuer)), lib, what);
    if (lib === null) assert.is(await R.verifySignedBy(child, issuer), await librarySignedBy(child, issuer), what);
  }
  const bundle = [root.pem, cross.pem, eu.pem, rsa].join("");
  assert.equal(await R.certificateFingerprints(bundle, "b"), X.parseCertificates(bundle, "b").map((c) => c.fingerprint));
  for (const bad of [bundle + crl, "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"]) {
    assert.is(await failure(R.certificateFingerprints(bad, "b")), await failure((async () => X.parseCertificates(bad, "b"))()));
  }
  const data = new TextEncoder().encode("custody");
  const sig = await X.signDetached(X.keySigner(rootKey), data);
  assert.ok(await R.verifyDetached(root.pem, data, sig));
  assert.not.ok(await R.verifyDetached(root2.pem, data, sig));
}));

test("fingerprints are openssl's, through node:crypto's SHA-256 and through @noble/hashes'", () => bothPlatforms(async () => {
  for (const pem of [root.pem, cross.pem, eu.pem, leaf.pem, fast.pem]) {
    const r = spawnSync("openssl", ["x509", "-noout", "-fingerprint", "-sha256"], { input: pem, encoding: "utf8" });
    const want = r.stdout.trim().replace(/^.*=/, "").replace(/:/g, "").toLowerCase();
    assert.is(want.length, 64, r.stderr);
    assert.is(X.certificateFingerprint(pem), want);
    assert.is(X.parseCertificate(pem).fingerprint, want);
  }
}));

test("keyMatchesCertificate: a leaf's own key matches, another's does not, a damaged one is unreadable", () => bothPlatforms(async () => {
  const pem = await X.exportPrivateKeyPem(leafKey);
  assert.is(await X.keyMatchesCertificate(pem, leaf.pem), "match");
  assert.is(await X.keyMatchesCertificate(pem, eu.pem), "mismatch");
  assert.is(await X.keyMatchesCertificate(await X.exportPrivateKeyPem(euKey), leaf.pem), "mismatch");
  // d changed under the stored public point: not the key of any certificate.
  const der = new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64"));
  der[40] = der[40]! ^ 1;
  const damaged = pkcs8Pem(Buffer.from(der).toString("base64"));
  assert.is(await X.keyMatchesCertificate(damaged, leaf.pem), "unreadable");
  assert.is(await X.keyMatchesCertificate("not a key", leaf.pem), "unreadable");
  // A key openssl wrote in another layout goes through the import path.
  const other = openssl("otherkey", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "other.key"), "-days", "1"], req("CN=other", "basicConstraints=CA:false"));
  assert.is(await X.keyMatchesCertificate(readFileSync(join(dir, "other.key"), "utf8"), other), "match");
}));

test("a key imported from inforge's PKCS#8 layout matches its certificate, and a key glued from two is refused", async () => {
  const k = await X.importPrivateKeyPem(await X.exportPrivateKeyPem(leafKey));
  assert.ok(await X.publicKeyMatches(leaf.pem, k));
  assert.not.ok(await X.publicKeyMatches(eu.pem, k));
  const other = await X.generateKeyPair();
  const a = await crypto.subtle.exportKey("jwk", leafKey.privateKey);
  const b = await crypto.subtle.exportKey("jwk", other.privateKey);
  const u = (s: string) => new Uint8Array(Buffer.from(s, "base64url"));
  const glued = X.leafKeyFromParts(u(a.d!), new Uint8Array([4, ...u(b.x!), ...u(b.y!)]));
  try {
    await X.importPrivateKeyPem(glued.pkcs8Pem);
    assert.unreachable("a private key glued to another key's public point was accepted");
  } catch (e) {
    assert.instance(e, X.X509Error);
  }
});

test("dates that do not exist, or a GeneralizedTime before 2050, are left to the library, and strict DER reports them on either path", () => {
  const der = derOf(leaf.pem);
  const text = Buffer.from(der).toString("latin1");
  // notAfter is the second UTCTime of the validity: make it February 30 (same length, so the DER stays whole).
  const na = text.indexOf("Z", text.indexOf("Z") + 1) - 12;
  const feb30 = Uint8Array.from(der);
  feb30.set(Buffer.from("270230"), na);
  assert.is(fastFields(feb30), null);
  assert.ok(fastFields(der), "the untouched leaf is read directly");
  const codes = (d: Uint8Array) => X.derDefects(`-----BEGIN CERTIFICATE-----\n${Buffer.from(d).toString("base64")}\n-----END CERTIFICATE-----\n`).map((x) => x.code);
  assert.equal(codes(der), []);
  assert.ok(codes(feb30).includes("bad-time"));
});

test.run();
