// The fast leaf path (lib/x509/fast-leaf.ts: DER from a per-issuer template) against the
// reference profile (createLeaf on @peculiar/x509) and against openssl, field by field.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as X from "../lib/x509/mod.ts";
import { exportSpki } from "../lib/x509/keys.ts";
import { encodePem } from "../lib/x509/pem.ts";
import { newLeafKey, nativeSign } from "../lib/apply/native-crypto.ts";
import { pemNative } from "../lib/node-crypto.ts";
import { batchMinter, mintBatch } from "../lib/apply/mint-batch.ts";

const dir = mkdtempSync(join(tmpdir(), "inforge-fast-leaf-"));
let n = 0;
const file = (name: string, text: string) => {
  const p = join(dir, `${n++}-${name}`);
  writeFileSync(p, text);
  return p;
};
const openssl = (...args: string[]) => {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  return { ok: r.status === 0, out: r.stdout + r.stderr };
};
test.after(() => rmSync(dir, { recursive: true, force: true }));

const DAY = 86_400_000;
const now = Math.floor(Date.now() / 1000) * 1000;
const at = (ms: number) => new Date(now + ms);

const rootKey = await X.generateKeyPair();
// The root outlives 2050, so leaves can be issued across the UTCTime/GeneralizedTime boundary.
const root = await X.createRoot({ key: rootKey, commonName: "inforge root G1", notBefore: at(-DAY), notAfter: new Date("2070-01-01T00:00:00Z") });
const euKey = await X.generateKeyPair();
const eu = await X.createIntermediate({
  publicKey: euKey.publicKey, issuer: { certPem: root.pem, signer: X.keySigner(rootKey) }, commonName: "inforge eu G1",
  notBefore: at(-DAY), notAfter: new Date("2060-01-01T00:00:00Z"), permittedDns: ["eu.mesh.test"], permittedUriHosts: ["eu.mesh.test"],
});
const euIssuer: X.Issuer = { certPem: eu.pem, signer: X.keySigner(euKey) };
const fast = await X.prepareLeafIssuer(euIssuer);
const rootPem = file("root.pem", root.pem);
const euPem = file("eu.pem", eu.pem);

/** The TBSCertificate of a DER certificate: the first element inside the outer SEQUENCE. */
function tbsOf(der: Uint8Array): Uint8Array {
  const skip = (at: number) => (der[at + 1]! & 0x80 ? 2 + (der[at + 1]! & 0x7f) : 2);
  const len = (at: number) => {
    const b = der[at + 1]!;
    if (!(b & 0x80)) return b;
    let v = 0;
    for (let i = 0; i < (b & 0x7f); i++) v = v * 256 + der[at + 2 + i]!;
    return v;
  };
  const inner = skip(0);
  return der.subarray(inner, inner + skip(inner) + len(inner));
}
async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected a rejection matching ${re}`);
}
const derOf = (pem: string) => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64"));

interface Case {
  readonly what: string;
  readonly cn: string;
  readonly dns: string[];
  readonly uris: string[];
  readonly nb: Date;
  readonly na: Date;
  /** A CRL distribution point (pki.json crl.url set). */
  readonly crlUrl?: string;
}
const CASES: Case[] = [
  { what: "one DNS name and one SPIFFE URI", cn: "payments.eu.mesh.test", dns: ["payments.eu.mesh.test"], uris: ["spiffe://eu.mesh.test/svc/payments"], nb: at(-300_000), na: at(7 * DAY) },
  { what: "several names of each kind", cn: "api.eu.mesh.test", dns: ["api.eu.mesh.test", "api-v2.eu.mesh.test", "*.api.eu.mesh.test"], uris: ["spiffe://eu.mesh.test/svc/api", "spiffe://eu.mesh.test/ns/x/sa/api"], nb: at(0), na: at(DAY) },
  { what: "URIs only, and a UTF8String common name", cn: "ledger_é", dns: [], uris: ["spiffe://eu.mesh.test/svc/ledger"], nb: at(0), na: at(DAY) },
  { what: "validity in GeneralizedTime from 2050", cn: "future.eu.mesh.test", dns: ["future.eu.mesh.test"], uris: [], nb: new Date("2049-12-31T23:59:59Z"), na: new Date("2051-06-30T12:00:00Z") },
  { what: "a CRL distribution point", cn: "crl.eu.mesh.test", dns: ["crl.eu.mesh.test"], uris: ["spiffe://eu.mesh.test/svc/crl"], nb: at(0), na: at(DAY), crlUrl: "http://pki.mesh.test/crl/eu-G1.crl" },
  { what: "a CRL distribution point long enough for two-byte DER lengths", cn: "crl2.eu.mesh.test", dns: ["crl2.eu.mesh.test"], uris: [], nb: at(0), na: at(DAY), crlUrl: `https://pki.mesh.test/${"d/".repeat(70)}eu-G1.crl` },
  { what: "a name long enough for two-byte DER lengths", cn: "long.eu.mesh.test", dns: Array.from({ length: 6 }, (_, i) => `${"s".repeat(50)}${i}.eu.mesh.test`), uris: ["spiffe://eu.mesh.test/svc/long"], nb: at(0), na: at(DAY) },
];

test("a fast-path leaf's TBSCertificate is byte for byte the reference profile's, for the same key, serial and names", async () => {
  for (const c of CASES) {
    const key = await X.generateKeyPair();
    const cdp = c.crlUrl ? { crlUrl: c.crlUrl } : {};
    const ref = await X.createLeaf({ publicKey: key.publicKey, issuer: euIssuer, commonName: c.cn, notBefore: c.nb, notAfter: c.na, dns: c.dns, uris: c.uris, ...cdp });
    const got = await fast.mint({ spki: await exportSpki(key.publicKey), commonName: c.cn, notBefore: c.nb, notAfter: c.na, dns: c.dns, uris: c.uris, serial: ref.serial, ...cdp });
    assert.equal(Buffer.from(tbsOf(got.der)).toString("hex"), Buffer.from(tbsOf(derOf(ref.pem))).toString("hex"), c.what);
  }
});

test("@peculiar/x509 parses a fast-path leaf to the same fields as the reference leaf, and its fingerprint and serial to what mint reported", async () => {
  for (const c of CASES) {
    const key = await X.generateKeyPair();
    const cdp = c.crlUrl ? { crlUrl: c.crlUrl } : {};
    const ref = await X.createLeaf({ publicKey: key.publicKey, issuer: euIssuer, commonName: c.cn, notBefore: c.nb, notAfter: c.na, dns: c.dns, uris: c.uris, ...cdp });
    const got = await fast.mint({ spki: await exportSpki(key.publicKey), commonName: c.cn, notBefore: c.nb, notAfter: c.na, dns: c.dns, uris: c.uris, serial: ref.serial, ...cdp });
    const p = X.parseCertificate(got.pem);
    const { pem: _a, fingerprint: _b, ...fields } = p;
    const { pem: _c, fingerprint: _d, ...want } = ref;
    assert.equal(fields, want, c.what);
    assert.is(p.fingerprint, got.fingerprint);
    assert.is(p.fingerprint, createHash("sha256").update(got.der).digest("hex"));
    assert.is(p.serial, got.serial);
    assert.is(p.pem, got.pem, "mint's PEM is the canonical encoding");
    assert.ok(await X.verifySignedBy(got.pem, eu.pem), "signed by the intermediate's key");
  }
});

test("openssl verifies fast-path leaves strictly against the root and with partial chain against the intermediate", async () => {
  const pems: string[] = [];
  for (const c of CASES.slice(0, 2)) {
    const k = await newLeafKey();
    pems.push(file("leaf.pem", (await fast.mint({ spki: k.spki, commonName: c.cn, notBefore: c.nb, notAfter: c.na, dns: c.dns, uris: c.uris })).pem));
  }
  for (const p of pems) {
    const strict = openssl("verify", "-x509_strict", "-CAfile", rootPem, "-untrusted", euPem, p);
    assert.ok(strict.ok, strict.out);
    const partial = openssl("verify", "-partial_chain", "-CAfile", euPem, p);
    assert.ok(partial.ok, partial.out);
  }
});

test("openssl x509 -text shows a fast-path leaf exactly as the reference leaf, signature aside", async () => {
  const c = CASES[1]!;
  const key = await X.generateKeyPair();
  const ref = await X.createLeaf({ publicKey: key.publicKey, issuer: euIssuer, commonName: c.cn, notBefore: c.nb, notAfter: c.na, dns: c.dns, uris: c.uris });
  const got = await fast.mint({ spki: await exportSpki(key.publicKey), commonName: c.cn, notBefore: c.nb, notAfter: c.na, dns: c.dns, uris: c.uris, serial: ref.serial });
  const text = (pem: string) => {
    const r = openssl("x509", "-noout", "-text", "-in", file("x.pem", pem));
    assert.ok(r.ok, r.out);
    // The signature value differs (ECDSA is randomised); everything above it must not.
    return r.out.split("Signature Value:")[0]!.replace(/Signature Algorithm: ecdsa-with-SHA256\s*$/, "");
  };
  const t = text(got.pem);
  assert.is(t, text(ref.pem));
  for (const want of ["X509v3 Basic Constraints: critical", "CA:FALSE", "X509v3 Key Usage: critical", "Digital Signature", "TLS Web Server Authentication, TLS Web Client Authentication", "DNS:api.eu.mesh.test", "URI:spiffe://eu.mesh.test/svc/api", "X509v3 Subject Key Identifier", "X509v3 Authority Key Identifier", "ASN1 OID: prime256v1"]) {
    assert.ok(t.includes(want), `openssl -text lacks "${want}"`);
  }
});

test("openssl x509 -text shows a fast-path leaf's CRL distribution point exactly as the reference leaf's", async () => {
  const c = CASES.find((x) => x.crlUrl?.startsWith("http://"))!;
  const key = await X.generateKeyPair();
  const ref = await X.createLeaf({ publicKey: key.publicKey, issuer: euIssuer, commonName: c.cn, notBefore: c.nb, notAfter: c.na, dns: c.dns, uris: c.uris, crlUrl: c.crlUrl! });
  const got = await fast.mint({ spki: await exportSpki(key.publicKey), commonName: c.cn, notBefore: c.nb, notAfter: c.na, dns: c.dns, uris: c.uris, serial: ref.serial, crlUrl: c.crlUrl! });
  const text = (pem: string) => openssl("x509", "-noout", "-ext", "crlDistributionPoints", "-in", file("x.pem", pem)).out;
  assert.is(text(got.pem), text(ref.pem));
  assert.match(text(got.pem), /X509v3 CRL Distribution Points:\s+Full Name:\s+URI:http:\/\/pki\.mesh\.test\/crl\/eu-G1\.crl/);
  assert.not.match(text(got.pem), /critical/);
  const strict = openssl("verify", "-x509_strict", "-CAfile", rootPem, "-untrusted", euPem, file("cdp.pem", got.pem));
  assert.ok(strict.ok, strict.out);
});

test("a fast-path leaf carrying another scope's name breaks the intermediate's name constraints for openssl", async () => {
  for (const [dns, uris] of [[["payments.us.mesh.test"], []], [[], ["spiffe://us.mesh.test/svc/payments"]], [["payments.eu.mesh.test"], ["spiffe://us.mesh.test/svc/payments"]]] as const) {
    const k = await newLeafKey();
    const rogue = await fast.mint({ spki: k.spki, commonName: "rogue", notBefore: at(0), notAfter: at(DAY), dns: [...dns], uris: [...uris] });
    const r = openssl("verify", "-CAfile", rootPem, "-untrusted", euPem, file("rogue.pem", rogue.pem));
    assert.not.ok(r.ok, `a leaf for ${[...dns, ...uris].join(", ")} verified under eu`);
    assert.match(r.out, /permitted subtree violation/);
  }
});

test("signatures whose r or s need a leading zero, or lose leading zero bytes, encode as valid DER", async () => {
  // ECDSA is randomised: sign until both shapes have been seen (about 1 in 2 and 1 in 128).
  const lengths = (der: Uint8Array) => {
    // …signatureAlgorithm, BIT STRING { 00, SEQUENCE { INTEGER r, INTEGER s } } at the very end.
    const at = Buffer.from(der).lastIndexOf(Buffer.from("300a06082a8648ce3d040302", "hex")) + 12;
    const seq = at + 3; // 03 len 00
    const r = seq + 2;
    const s = r + 2 + der[r + 1]!;
    return [der[r + 1]!, der[s + 1]!];
  };
  const shaped = new Map<string, string>();
  for (let i = 0; i < 5000 && shaped.size < 2; i++) {
    const k = await newLeafKey();
    const got = await fast.mint({ spki: k.spki, commonName: `s${i}.eu.mesh.test`, notBefore: at(0), notAfter: at(DAY), dns: [`s${i}.eu.mesh.test`], uris: [] });
    const ls = lengths(got.der);
    if (ls.includes(33)) shaped.set("padded", got.pem);
    if (ls.some((l) => l < 32)) shaped.set("short", got.pem);
  }
  assert.equal([...shaped.keys()].sort(), ["padded", "short"]);
  for (const p of shaped.values()) {
    const r = openssl("verify", "-partial_chain", "-CAfile", euPem, file("shaped.pem", p));
    assert.ok(r.ok, r.out);
    assert.ok(await X.verifySignedBy(p, eu.pem));
  }
});

test("the mint threads' PEM (Buffer's base64) is encodePem's text at every length, and their leaves and keys are the portable encoder's", async () => {
  for (let n = 0; n <= 400; n++) {
    const der = crypto.getRandomValues(new Uint8Array(n));
    for (const label of ["CERTIFICATE", "PRIVATE KEY"]) assert.is(pemNative(label, der), encodePem(label, der), `${n} bytes`);
    assert.is(pemNative("X", der.subarray(1)), encodePem("X", der.subarray(1)), `a view at an offset, ${n} bytes`);
  }
  // mintBatch (node:crypto digests, Buffer PEMs, a batch's dates parsed once) against the portable encoder on the same TBSCertificate.
  const replies = mintBatch(batchMinter(fast.template, euKey.privateKey), [0, 1, 2].map((i) => ({
    commonName: `m${i}.eu.mesh.test`, dns: [`m${i}.eu.mesh.test`], uris: [`spiffe://eu.mesh.test/svc/m${i}`], notBefore: at(0).toISOString(), notAfter: at(i === 2 ? 2 * DAY : DAY).toISOString(),
  })));
  for (const [i, r] of replies.entries()) {
    const der = new Uint8Array(Buffer.from(r.pem.replace(/-----[^-]+-----|\n/g, ""), "base64"));
    assert.is(encodePem("CERTIFICATE", der), r.pem);
    assert.is(createHash("sha256").update(r.pem).digest("hex"), r.sha256);
    const c = X.parseCertificate(r.pem);
    assert.is(c.notAfter.getTime(), at(i === 2 ? 2 * DAY : DAY).getTime(), "each leaf keeps its own validity");
    const key = await X.importPrivateKeyPem(r.key);
    assert.ok(await X.publicKeyMatches(r.pem, key), "the key is the certificate's");
    assert.ok(openssl("x509", "-in", file(`m${i}.pem`, r.pem), "-noout").ok);
  }
});

test("generated leaf keys are the PKCS#8 bytes WebCrypto exports, and openssl reads them as the certificate's key", async () => {
  // From WebCrypto's own JWK: the hand-built PKCS#8 and SPKI equal its exports byte for byte.
  const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  const b = (s: string) => new Uint8Array(Buffer.from(s, "base64url"));
  const built = X.leafKeyFromParts(b(jwk.d!), new Uint8Array([4, ...b(jwk.x!), ...b(jwk.y!)]));
  assert.is(built.pkcs8Pem, encodePem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey))));
  assert.equal([...built.spki], [...new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey))]);
  // Both generators (node:crypto's and WebCrypto's) give keys that openssl pairs with their certificates.
  for (const k of [await newLeafKey(), await X.generateLeafKey()]) {
    const leaf = await fast.mint({ spki: k.spki, commonName: "k.eu.mesh.test", notBefore: at(0), notAfter: at(DAY), dns: ["k.eu.mesh.test"], uris: [] });
    const fromKey = openssl("pkey", "-in", file("k.pem", k.pkcs8Pem), "-pubout");
    const fromCert = openssl("x509", "-in", file("c.pem", leaf.pem), "-noout", "-pubkey");
    assert.ok(fromKey.ok, fromKey.out);
    assert.is(fromKey.out, fromCert.out);
    const imported = await X.importPrivateKeyPem(k.pkcs8Pem);
    assert.ok(await X.publicKeyMatches(leaf.pem, imported));
  }
  // A scalar with leading zero bytes is padded to 32 bytes, as PKCS#8 for P-256 requires.
  const short = X.leafKeyFromParts(b(jwk.d!).subarray(3), new Uint8Array([4, ...b(jwk.x!), ...b(jwk.y!)]));
  assert.match(openssl("asn1parse", "-in", file("short.pem", short.pkcs8Pem)).out, /OCTET STRING/);
});

test("a custom Signer (as an HSM or KMS provides) issues fast-path leaves, and one that signs wrongly is refused", async () => {
  const remote: X.Signer = { publicKey: euKey.publicKey, sign: async (tbs) => new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, euKey.privateKey, new Uint8Array(tbs))) };
  const hsm = await X.prepareLeafIssuer({ certPem: eu.pem, signer: remote });
  const k = await newLeafKey();
  const leaf = await hsm.mint({ spki: k.spki, commonName: "h.eu.mesh.test", notBefore: at(0), notAfter: at(DAY), dns: ["h.eu.mesh.test"], uris: [] });
  assert.ok(openssl("verify", "-partial_chain", "-CAfile", euPem, file("hsm.pem", leaf.pem)).ok);
  const other = await X.generateKeyPair();
  const liar: X.Signer = { publicKey: euKey.publicKey, sign: async (tbs) => new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, other.privateKey, new Uint8Array(tbs))) };
  const bad = await X.prepareLeafIssuer({ certPem: eu.pem, signer: liar });
  await rejects(bad.mint({ spki: k.spki, commonName: "h.eu.mesh.test", notBefore: at(0), notAfter: at(DAY), dns: ["h.eu.mesh.test"], uris: [] }), /does not verify/);
  const der: X.Signer = { publicKey: euKey.publicKey, sign: async () => new Uint8Array(70) };
  await rejects((await X.prepareLeafIssuer({ certPem: eu.pem, signer: der })).mint({ spki: k.spki, commonName: "h", notBefore: at(0), notAfter: at(DAY), dns: ["h.eu.mesh.test"], uris: [] }), /64-byte P1363/);
  // node:crypto signing through keySigner's primitive gives leaves openssl accepts too.
  if (nativeSign) {
    const viaNode = await X.prepareLeafIssuer({ certPem: eu.pem, signer: X.keySigner(euKey, { primitive: nativeSign }) });
    const l = await viaNode.mint({ spki: k.spki, commonName: "n.eu.mesh.test", notBefore: at(0), notAfter: at(DAY), dns: ["n.eu.mesh.test"], uris: [] });
    assert.ok(openssl("verify", "-partial_chain", "-CAfile", euPem, file("node.pem", l.pem)).ok);
  }
});

test("the fast path refuses what createLeaf refuses", async () => {
  const k = await newLeafKey();
  const base = { spki: k.spki, commonName: "p.eu.mesh.test", notBefore: at(0), notAfter: at(DAY), dns: ["p.eu.mesh.test"], uris: [] as string[] };
  const refuse = async (r: X.LeafRequest, re: RegExp) => {
    try {
      await fast.mint(r);
    } catch (e) {
      assert.instance(e, X.X509Error);
      assert.match((e as Error).message, re);
      return;
    }
    assert.unreachable(`accepted ${JSON.stringify({ ...r, spki: undefined })}`);
  };
  await refuse({ ...base, notAfter: new Date("2061-01-01T00:00:00Z") }, /would outlive its issuer/);
  await refuse({ ...base, notBefore: at(-400 * DAY) }, /would start before its issuer/);
  await refuse({ ...base, notAfter: at(0) }, /is not after notBefore/);
  await refuse({ ...base, dns: [], uris: [] }, /has no DNS name or URI/);
  await refuse({ ...base, dns: ["Payments.EU"] }, /is not a lowercase DNS name/);
  await refuse({ ...base, uris: ["spiffe:no-host"] }, /is not an ASCII URI with a host/);
  await refuse({ ...base, commonName: "" }, /common name is empty/);
  await refuse({ ...base, crlUrl: "ldap://pki.mesh.test/cn=crl" }, /CRL distribution point "ldap:.*" is not an http:\/\/ or https:\/\/ URL/);
  await refuse({ ...base, crlUrl: "http://pki.mesh.test/crl dir/eu.crl" }, /is not an http:\/\/ or https:\/\/ URL of printable ASCII/);
  await refuse({ ...base, spki: new Uint8Array(await exportSpki(euKey.publicKey)) }, /same public key as its issuer/);
  await refuse({ ...base, spki: k.spki.subarray(1) }, /expected an ECDSA P-256 public key/);
  // An end-entity certificate cannot be prepared as an issuer at all.
  await rejects(X.prepareLeafIssuer({ certPem: (await fast.mint(base)).pem, signer: X.keySigner(euKey) }), /not a CA/);
});

test("PEM encoding wraps at 64 columns, pads, and ends in one newline at every length", () => {
  for (let len = 1; len < 200; len++) {
    const data = crypto.getRandomValues(new Uint8Array(len));
    const b64 = Buffer.from(data).toString("base64");
    const want = `-----BEGIN X-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END X-----\n`;
    assert.is(encodePem("X", data), want, `length ${len}`);
  }
});

test.run();
