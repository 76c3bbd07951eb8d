// `pki verify` is as strict as the strictest verifier, and knows time in both directions. Each
// case takes a real leaf (or CRL) of a test tree, changes its DER in one way, re-signs it with
// the issuer's real key (opened with the age CLI) so the signature stays valid, puts it back with
// the state record and the journal rewritten to match — so only the defect is left to find —
// and asserts the finding code and file. Leaves minted by a runner whose clock is ahead are
// flagged (and openssl refuses them); expired ones too; `status` health follows.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createPrivateKey, sign } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha256 } from "../lib/store/journal.ts";
import * as X from "../lib/x509/mod.ts";
import { buildTree, ciEnv, cli, ok, opensslVerify, rootEnv, run, sandbox } from "./helpers.ts";
import { clone, errorCodes, findingsOf, rechain, verify } from "./safety-helpers.ts";

const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout"] });
test.after(() => rmSync(sb.base, { recursive: true, force: true }));
await buildTree(sb, ["global", "eu"]);
const both = ciEnv(sb, { INFORGE_PKI_ROOT_KEY: sb.rootKey });
const LEAF = "leaves/eu/payments.crt.pem";
const CRL = "crl/root.crl.pem";
const MIN = 60_000;
const iso = (t: number) => new Date(Math.floor(t / 1000) * 1000).toISOString().replace(".000Z", "Z");

// --- a small DER tree: parse, change, encode (minimal lengths) ----------------------------------
interface Node {
  tag: number;
  kids?: Node[];
  content?: Uint8Array;
}
function parse(b: Uint8Array, at = 0): { node: Node; end: number } {
  const tag = b[at]!;
  let len = b[at + 1]!;
  let body = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[body + i]!;
    body += n;
  }
  const end = body + len;
  if (!(tag & 0x20)) return { node: { tag, content: b.slice(body, end) }, end };
  const kids: Node[] = [];
  for (let p = body; p < end;) {
    const k = parse(b, p);
    kids.push(k.node);
    p = k.end;
  }
  return { node: { tag, kids }, end };
}
function encode(n: Node): Uint8Array {
  const body = n.kids ? Buffer.concat(n.kids.map(encode)) : Buffer.from(n.content!);
  const len = body.length;
  const head = len < 0x80 ? [len] : len < 0x100 ? [0x81, len] : [0x82, len >> 8, len & 0xff];
  return Buffer.concat([Buffer.from([n.tag, ...head]), body]);
}
const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const der = (pem: string) => Uint8Array.from(Buffer.from(pem.replace(/-----[A-Z0-9 ]+-----|\s/g, ""), "base64"));
const pemOf = (label: string, d: Uint8Array) => `-----BEGIN ${label}-----\n${Buffer.from(d).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END ${label}-----\n`;
const ECDSA_SHA256: Node = { tag: 0x30, kids: [{ tag: 0x06, content: hex("2a8648ce3d040302") }] };
const ECDSA_SHA384: Node = { tag: 0x30, kids: [{ tag: 0x06, content: hex("2a8648ce3d040303") }] };

/** The issuer's private key, opened with the age CLI (never written anywhere). */
function keyOf(sealed: string, identity: string) {
  const r = run("age", ["-d", "-i", identity, join(sb.dir, sealed)]);
  if (r.status !== 0) throw new Error(`age could not open ${sealed}: ${r.stderr}`);
  return createPrivateKey(r.stdout);
}
const euKey = keyOf("scopes/eu/G1.key.age", sb.ciKey);
const rootKey = keyOf("root/G1.key.age", sb.rootKey);

/** A signed object (certificate or CRL) from its to-be-signed part, the outer algorithm and a DER ECDSA signature. */
const assemble = (tbs: Node, alg: Node, sigDer: Uint8Array) =>
  encode({ tag: 0x30, kids: [tbs, alg, { tag: 0x03, content: Buffer.concat([Buffer.from([0]), sigDer]) }] });
const signTbs = (tbs: Node, key = euKey) => new Uint8Array(sign("sha256", encode(tbs), { key, dsaEncoding: "der" }));

/** The leaf of the test tree, changed by `edit` (on its TBSCertificate), re-signed by eu G1. */
function leafWith(edit: (tbs: Node) => void, sigEdit: (sig: Uint8Array) => Uint8Array = (s) => s, outer = ECDSA_SHA256): Uint8Array {
  const cert = parse(der(readFileSync(join(sb.dir, LEAF), "utf8"))).node;
  const tbs = cert.kids![0]!;
  edit(tbs);
  return assemble(tbs, outer, sigEdit(signTbs(tbs)));
}
const extensionsOf = (tbs: Node) => tbs.kids!.find((k) => k.tag === 0xa3)!.kids![0]!.kids!;
const extension = (tbs: Node, oidHex: string) => extensionsOf(tbs).find((e) => Buffer.from(e.kids![0]!.content!).toString("hex") === oidHex)!;
const validity = (tbs: Node) => tbs.kids![4]!.kids!;

/** A copy of the tree with the leaf replaced, its index record and the journal made to match. */
function placeLeaf(d: Uint8Array): string {
  const dir = clone(sb);
  writeFileSync(join(dir, LEAF), pemOf("CERTIFICATE", d));
  const idx = JSON.parse(readFileSync(join(dir, "leaves/eu/index.json"), "utf8"));
  idx.leaves.payments.fingerprint = sha256(d);
  writeFileSync(join(dir, "leaves/eu/index.json"), JSON.stringify(idx, null, 2) + "\n");
  rechain(dir, [LEAF, "leaves/eu/index.json"]);
  return dir;
}
/** verify on a tree: its error codes, and the files of the findings with `code`. */
async function judged(dir: string, at?: string) {
  const v = await verify(dir, both, at);
  return { ...v, codes: errorCodes(v.report), files: (code: string) => v.report.findings.filter((f) => f.code === code).map((f) => f.file) };
}

test("the untouched leaf, re-encoded and re-signed the same way, verifies clean (the harness adds no defect)", async () => {
  const v = await judged(placeLeaf(leafWith(() => {})));
  assert.equal(v.codes, [], findingsOf(v.report));
});

test("an outer signatureAlgorithm that differs from the signed one is refused (RFC 5280 §4.1.1.2)", async () => {
  const v = await judged(placeLeaf(leafWith((tbs) => (tbs.kids![2] = ECDSA_SHA384))));
  assert.equal(v.codes, ["cert.signature-algorithm-mismatch"], findingsOf(v.report));
  assert.equal(v.files("cert.signature-algorithm-mismatch"), [LEAF]);
});

test("an ECDSA signature with an unneeded leading zero, or with bytes after it, is refused", async () => {
  const padded = leafWith(() => {}, (s) => {
    const sig = parse(s).node;
    sig.kids![0]!.content = Buffer.concat([Buffer.from([0]), sig.kids![0]!.content!]);
    return encode(sig);
  });
  const v = await judged(placeLeaf(padded));
  assert.equal(v.codes, ["cert.ecdsa-signature"], findingsOf(v.report));
  assert.match(v.report.findings.find((f) => f.code === "cert.ecdsa-signature")!.message, /leading zero/);
  assert.equal(v.files("cert.ecdsa-signature"), [LEAF]);

  const trailing = await judged(placeLeaf(leafWith(() => {}, (s) => Buffer.concat([s, Buffer.from([0, 0])]))));
  assert.equal(trailing.codes, ["cert.ecdsa-signature"], findingsOf(trailing.report));
  assert.match(trailing.report.findings.find((f) => f.code === "cert.ecdsa-signature")!.message, /2 byte\(s\) after its SEQUENCE/);
  assert.equal(trailing.files("cert.ecdsa-signature"), [LEAF]);
});

test("r or s not below the curve order, or zero, is refused even where the encoding is minimal", () => {
  const n = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
  const leaf = leafWith(() => {}, () => encode({ tag: 0x30, kids: [{ tag: 0x02, content: hex("00" + n) }, { tag: 0x02, content: hex("00") }] }));
  const issuer = readFileSync(join(sb.dir, "scopes/eu/G1.crt.pem"), "utf8");
  const details = X.derDefects(pemOf("CERTIFICATE", leaf), LEAF, issuer).map((d) => `${d.code}: ${d.detail}`);
  assert.equal(details, ["ecdsa-signature: the ECDSA signature r is not below the curve order", "ecdsa-signature: the ECDSA signature s is zero"]);
});

test("a BOOLEAN of two bytes, or an explicit critical FALSE, is refused (X.690 §11.1, §11.5)", async () => {
  const v = await judged(placeLeaf(leafWith((tbs) => (extension(tbs, "551d13").kids![1]!.content = hex("00ff")))));
  assert.equal(v.codes, ["cert.boolean"], findingsOf(v.report));
  assert.equal(v.files("cert.boolean"), [LEAF]);
  const f = await judged(placeLeaf(leafWith((tbs) => extension(tbs, "551d25").kids!.splice(1, 0, { tag: 0x01, content: hex("00") }))));
  assert.equal(f.codes, ["cert.boolean"], findingsOf(f.report));
  assert.match(f.report.findings.find((x) => x.code === "cert.boolean")!.message, /critical FALSE/);
});

test("a duplicate extension is refused (RFC 5280 §4.2)", async () => {
  const v = await judged(placeLeaf(leafWith((tbs) => extensionsOf(tbs).push(extension(tbs, "551d0e")))));
  assert.equal(v.codes, ["cert.duplicate-extension"], findingsOf(v.report));
  assert.equal(v.files("cert.duplicate-extension"), [LEAF]);
  assert.match(v.report.findings.find((f) => f.code === "cert.duplicate-extension")!.message, /2\.5\.29\.14 appears more than once/);
});

test("impossible dates are refused: February 30, and a GeneralizedTime before 2050 (RFC 5280 §4.1.2.5)", async () => {
  const feb30 = await judged(placeLeaf(leafWith((tbs) => (validity(tbs)[1]!.content = Buffer.from("270230120000Z")))));
  assert.ok(feb30.codes.includes("cert.bad-time"), findingsOf(feb30.report));
  assert.equal(feb30.files("cert.bad-time"), [LEAF]);
  // The same instant spelled as a GeneralizedTime: only the encoding is wrong, so nothing else is found.
  const gen = await judged(placeLeaf(leafWith((tbs) => {
    const na = validity(tbs)[1]!;
    na.tag = 0x18;
    na.content = Buffer.concat([Buffer.from("20"), Buffer.from(na.content!)]);
  })));
  assert.equal(gen.codes, ["cert.bad-time"], findingsOf(gen.report));
  assert.match(gen.report.findings[0]!.message, /GeneralizedTime before 2050/);
  assert.equal(gen.files("cert.bad-time"), [LEAF]);
});

test("a CRL with a duplicate extension, re-signed by the root, is refused like a certificate", async () => {
  const crl = parse(der(readFileSync(join(sb.dir, CRL), "utf8"))).node;
  const tbs = crl.kids![0]!;
  const exts = tbs.kids!.find((k) => k.tag === 0xa0)!.kids![0]!.kids!;
  exts.push(exts[0]!);
  const dir = clone(sb);
  writeFileSync(join(dir, CRL), pemOf("X509 CRL", assemble(tbs, ECDSA_SHA256, signTbs(tbs, rootKey))));
  rechain(dir, [CRL]);
  const v = await judged(dir);
  assert.equal(v.codes, ["crl.duplicate-extension"], findingsOf(v.report));
  assert.equal(v.files("crl.duplicate-extension"), [CRL]);
});

test("a leaf minted by a runner whose clock runs an hour ahead is not yet valid: verify and status flag it, openssl refuses it", async () => {
  const dir = clone(sb);
  const now = Date.now();
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu", "--dir", dir, "--at", iso(now + 60 * MIN)], ciEnv(sb)));
  const o = opensslVerify(["-partial_chain", "-CAfile", join(dir, "bundles/eu.pem"), join(dir, LEAF)]);
  assert.not.ok(o.ok);
  assert.match(o.out, /not yet valid/);
  const v = await judged(dir);
  assert.equal(v.codes, ["cert.not-yet-valid"], findingsOf(v.report));
  assert.equal(v.files("cert.not-yet-valid"), [LEAF]);
  const st = await cli(["pki", "status", "--json", "--dir", dir], ciEnv(sb));
  const report = JSON.parse(st.out) as { health: string; findings: { severity: string; code: string; file?: string }[] };
  assert.is(report.health, "critical");
  assert.ok(report.findings.some((f) => f.code === "leaf.not-yet-valid" && f.severity === "critical" && f.file === LEAF), st.out);
  assert.is((await cli(["pki", "status", "--check", "--dir", dir], ciEnv(sb))).code, 2);
});

test("a runner ahead by less than the clock skew gets a warning, not a failure", async () => {
  const dir = clone(sb);
  // notBefore is backdated 5m (clockSkew): a runner 8m ahead sets it 3m into the future.
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu", "--dir", dir, "--at", iso(Date.now() + 8 * MIN)], ciEnv(sb)));
  const v = await judged(dir);
  assert.is(v.code, 0, findingsOf(v.report));
  assert.ok(v.report.findings.some((f) => f.code === "cert.not-yet-valid" && f.severity === "warning" && f.file === LEAF), findingsOf(v.report));
  const st = JSON.parse((await cli(["pki", "status", "--json", "--dir", dir], ciEnv(sb))).out) as { health: string };
  assert.is(st.health, "warning");
});

test("expired leaves are refused with their files, and so is an expired intermediate", async () => {
  const dir = clone(sb);
  const week = await judged(dir, iso(Date.now() + 8 * 24 * 60 * MIN));
  assert.equal(week.codes, ["cert.expired"], findingsOf(week.report));
  assert.equal(week.files("cert.expired").sort(), ["leaves/eu/checkout.crt.pem", "leaves/eu/payments.crt.pem", "leaves/global/auth.crt.pem"]);
  const year = await judged(dir, iso(Date.now() + 370 * 24 * 60 * MIN));
  assert.ok(year.files("cert.expired").includes("scopes/eu/G1.crt.pem"), findingsOf(year.report));
  assert.ok(year.report.findings.some((f) => f.code === "cert.expired" && f.severity === "error" && f.file === "scopes/eu/G1.crt.pem"));
});

test.run();
