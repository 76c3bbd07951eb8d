// Leaves minted on worker threads (lib/apply/mint-workers.ts): the tree they make is the one the
// main thread makes — same profile, every chain accepted by openssl, every key in keys.age the key
// of its certificate (age CLI) — and a worker's refusal is the main thread's sentence. A
// fleet-size commit flushes its certificates with one syncfs; without `sync` on PATH it falls back
// to an fdatasync each and the tree is the same.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createPublicKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, leafKeyPem, ok, ROOT, run, sandbox, tempDir } from "./helpers.ts";
import { iso, treeProblems } from "./tree-checks.ts";
import { clone } from "./safety-helpers.ts";
import { lstatHash } from "./fs-guard.ts";
import { MintWorkers, withVerifyWorkers, WorkerSetupError } from "../lib/apply/mint-workers.ts";
import { platform } from "../lib/x509/platform.ts";
import { encodePem } from "../lib/x509/pem.ts";
import { leafEncoder } from "../lib/x509/leaf-der.ts";
import * as X from "../lib/x509/mod.ts";

const H = 3_600_000;
const T0 = Date.now();
const services = (n: number) => Array.from({ length: n }, (_, i) => `svc-${String(i).padStart(3, "0")}`);
const spki = (pem: string) => createPublicKey(pem).export({ format: "der", type: "spki" }).toString("base64");

/** `openssl x509 -text` without what differs between two issues of one leaf (serial, key, dates, signature). */
function profileText(pem: string): string {
  const text = run("openssl", ["x509", "-noout", "-text"], { input: pem }).stdout;
  return text
    .replace(/Serial Number:[\s\S]*?Signature Algorithm/, "Serial Number: -\n        Signature Algorithm")
    .replace(/Not (Before|After)\s*: .*/g, "Not $1: -")
    .replace(/pub:[\s\S]*?ASN1 OID/, "pub: -\n                ASN1 OID")
    .replace(/X509v3 Subject Key Identifier: \n\s*[0-9A-F:]+/, "X509v3 Subject Key Identifier: -")
    .replace(/Signature Value:[\s\S]*$/, "Signature Value: -");
}

test("leaves minted on two workers: every chain verifies, every key is its certificate's, the profile is the main thread's", async () => {
  const sb = sandbox({ global: ["auth"], eu: services(40), us: services(30) });
  await buildTree(sb, ["global", "eu", "us"], iso(T0));
  const mainThread = readFileSync(join(sb.dir, "leaves/eu/svc-007.crt.pem"), "utf8");
  // Every leaf due, minted on workers (INFORGE_MINT_WORKERS: any plan size).
  const r = await ok(cli(["pki", "renew", "--at", iso(T0 + 120 * H)], ciEnv(sb, { INFORGE_MINT_WORKERS: "2", INFORGE_TIMINGS: "1" })));
  // The workers take batches from the front, the main thread chunks from the back: both mint.
  const split = /2 mint workers \((\d+) of 71 leaves\)/.exec(r.err);
  assert.ok(split, `the run says it minted on workers: ${r.err}`);
  assert.ok(Number(split[1]) > 0 && Number(split[1]) < 71, `workers and main thread each minted some: ${split[0]}`);
  assert.match(r.out, /71 leaf|applied/);
  assert.equal(await treeProblems(sb, T0 + 120 * H), [], "pki verify, the state checker and openssl accept the tree");
  const serials = new Set<string>();
  const keys = new Set<string>();
  for (const [scope, list] of [["eu", services(40)], ["us", services(30)], ["global", ["auth"]]] as const) {
    for (const svc of list) {
      const pem = readFileSync(join(sb.dir, "leaves", scope, `${svc}.crt.pem`), "utf8");
      const cert = new X509Certificate(pem);
      assert.ok(new Date(cert.validFrom).getTime() > T0 + 100 * H, `${scope}/${svc} was renewed`);
      // The key deploy would take (age CLI, serial checked) is the certificate's key.
      assert.is(spki(leafKeyPem(sb, scope, svc)), spki(pem), `${scope}/${svc}: key and certificate match`);
      serials.add(cert.serialNumber);
      keys.add(spki(pem));
    }
  }
  assert.is(serials.size, 71, "71 distinct serials");
  assert.is(keys.size, 71, "71 distinct keys");
  // The same profile as the main thread's, byte for byte outside serial, key, dates and signature.
  assert.is(profileText(readFileSync(join(sb.dir, "leaves/eu/svc-007.crt.pem"), "utf8")), profileText(mainThread));
});

test("a worker refuses a bad request with the main thread's own sentence, and a key it cannot use as a setup error", async () => {
  const ca = await X.generateKeyPair();
  const root = await X.createRoot({ key: ca, commonName: "test root", notBefore: new Date(T0 - H), notAfter: new Date(T0 + 1000 * H) });
  const minter = await X.prepareLeafIssuer({ certPem: root.pem, signer: X.keySigner(ca) });
  const mw = await MintWorkers.start(1);
  assert.ok(mw, "a worker starts from the sources");
  try {
    const order = { commonName: "ok.mesh.test", notBefore: new Date(T0).toISOString(), notAfter: new Date(T0 + 10 * H).toISOString(), dns: ["ok.mesh.test"], uris: [] };
    const [leaf] = await mw.mint("root", minter.template, ca.privateKey, [order]);
    assert.ok(leaf && new X509Certificate(leaf.pem).verify(createPublicKey(root.pem)), "signed by the issuer's key");
    // Outliving the issuer: the worker's error is the encoder's, class and code included.
    const bad = { ...order, notAfter: new Date(T0 + 2000 * H).toISOString() };
    const here = (() => {
      try {
        leafEncoder(minter.template).tbs({ spki: X.leafKeyFromParts(new Uint8Array(32).fill(1), leafPoint(leaf!.pem)).spki, ...bad, notBefore: new Date(bad.notBefore), notAfter: new Date(bad.notAfter) });
      } catch (e) {
        return e as X.X509Error;
      }
      throw new Error("the encoder accepted a leaf outliving its issuer");
    })();
    const there = await mw.mint("root", minter.template, ca.privateKey, [bad]).then(() => null, (e: unknown) => e as X.X509Error);
    assert.ok(there instanceof X.X509Error, "an X509Error");
    assert.is(there.message, here.message);
    assert.is(there.code, "outlives-issuer");
    // Not a key: the batch can be minted on the main thread instead.
    const setup = await mw.mint("other", minter.template, { not: "a key" } as unknown as CryptoKey, [order]).then(() => null, (e: unknown) => e);
    assert.ok(setup instanceof WorkerSetupError, String(setup));
  } finally {
    await mw.close();
  }
});

test("pki verify's signature checks on workers: a good signature verifies, a changed one does not, and the platform is put back", async () => {
  const ca = await X.generateKeyPair();
  const root = await X.createRoot({ key: ca, commonName: "test root", notBefore: new Date(T0 - H), notAfter: new Date(T0 + 1000 * H) });
  const minter = await X.prepareLeafIssuer({ certPem: root.pem, signer: X.keySigner(ca) });
  const leaves = await Promise.all(["a", "b", "c"].map((n) => minter.mint({ spki: freshSpki(), commonName: `${n}.mesh.test`, notBefore: new Date(T0), notAfter: new Date(T0 + H), dns: [`${n}.mesh.test`], uris: [] })));
  // The last byte of the signature's s changed: same length, a different signature.
  const der = new Uint8Array(leaves[1]!.der);
  der[der.length - 1] = der[der.length - 1]! ^ 1;
  const forged = encodePem("CERTIFICATE", der);
  const before = platform.verifyP256;
  let during: unknown;
  const verdicts = await withVerifyWorkers(2, async () => {
    during = platform.verifyP256;
    return Promise.all([leaves[0]!.pem, forged, leaves[2]!.pem, root.pem].map((pem) => X.verifySignedBy(pem, root.pem)));
  });
  assert.equal(verdicts, [true, false, true, true]);
  assert.ok(during !== before, "the checks went through the workers' routine");
  assert.is(platform.verifyP256, before, "and the platform's own is back");
});

test("pki verify's key checks on workers: a leaf's key matches, another's does not, a damaged one is unreadable, and the platform is put back", async () => {
  const ca = await X.generateKeyPair();
  const root = await X.createRoot({ key: ca, commonName: "test root", notBefore: new Date(T0 - H), notAfter: new Date(T0 + 1000 * H) });
  const minter = await X.prepareLeafIssuer({ certPem: root.pem, signer: X.keySigner(ca) });
  const pairs = ["a", "b"].map(() => generateKeyPairSync("ec", { namedCurve: "P-256" }));
  const [a, b] = await Promise.all(pairs.map((k, i) => minter.mint({ spki: new Uint8Array(k.publicKey.export({ format: "der", type: "spki" })), commonName: `${i}.mesh.test`, notBefore: new Date(T0), notAfter: new Date(T0 + H), dns: [`${i}.mesh.test`], uris: [] })));
  const keyA = pairs[0]!.privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  const keyB = pairs[1]!.privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  // The private scalar changed, the stored public point kept: d·G no longer gives the point.
  const der = new Uint8Array(pairs[0]!.privateKey.export({ format: "der", type: "pkcs8" }));
  const d = der.findIndex((_, i) => der[i] === 0x04 && der[i + 1] === 0x20); // OCTET STRING of 32: d
  der[d + 2 + 31] = der[d + 2 + 31]! ^ 1;
  const damaged = encodePem("PRIVATE KEY", der);
  const before = platform.p256PointAsync;
  let during: unknown;
  const verdicts = await withVerifyWorkers(2, async () => {
    during = platform.p256PointAsync;
    return Promise.all([[keyA, a!.pem], [keyB, a!.pem], [damaged, a!.pem], [keyB, b!.pem]].map(([k, c]) => X.keyMatchesCertificate(k!, c!)));
  });
  assert.equal(verdicts, ["match", "mismatch", "unreadable", "match"]);
  assert.ok(during && during !== before, "the points came from the workers");
  assert.is(platform.p256PointAsync, before, "and the platform's own routine is back");
});

test("pki verify of a fleet large enough for its workers opens and matches every key there, and finds a key file of another run", async () => {
  const sb = sandbox({ eu: services(1100) });
  await buildTree(sb, ["eu"], iso(T0));
  const at = iso(T0 + H);
  const v = await cli(["pki", "verify", "--at", at], ciEnv(sb));
  assert.is(v.code, 0, v.out + v.err);
  // The root's key is not opened without the root identity: every other is.
  assert.match(v.out, /1102 sealed key\(s\) of which 1101 opened/);
  // The scope's keys of an earlier run: every key is another certificate's now.
  const keys = join(sb.dir, "leaves/eu/keys.age");
  const before = readFileSync(keys);
  await ok(cli(["pki", "rotate", "--leaf", "svc-007", "--region", "eu", "--at", at], ciEnv(sb)));
  writeFileSync(keys, before);
  const bad = await cli(["pki", "verify", "--at", at], ciEnv(sb));
  assert.is(bad.code, 1);
  assert.match(bad.out, /key\.mismatch|holds the key of serial/);
});

/** A fresh P-256 SubjectPublicKeyInfo. */
const freshSpki = () => new Uint8Array(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "der", type: "spki" }));

/** The uncompressed point of a certificate's key (0x04 || x || y). */
function leafPoint(pem: string): Uint8Array {
  const der = createPublicKey(pem).export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - 65));
}

test("a fleet-size commit with `sync` on PATH and without it writes the same tree, and each says how it flushed", async () => {
  const sb = sandbox({ eu: services(300) });
  await buildTree(sb, ["eu"], iso(T0));
  const copy = join(sb.base, "pki-b");
  run("cp", ["-a", sb.dir, copy]);
  // A PATH holding everything but `sync`.
  const bin = tempDir("inforge-nosync-");
  for (const tool of ["age", "age-keygen", "openssl", "git"]) {
    const p = run("sh", ["-c", `command -v ${tool}`]).stdout.trim();
    if (p) symlinkSync(p, join(bin, tool));
  }
  const at = iso(T0 + 120 * H);
  const a = await ok(cli(["pki", "renew", "--at", at], ciEnv(sb, { INFORGE_TIMINGS: "1", INFORGE_MINT_WORKERS: "0" })));
  assert.match(a.err, /flushed by syncfs/);
  // A child process: `sync` is looked up on the process's own PATH.
  const env = Object.fromEntries(Object.entries(ciEnv(sb, { INFORGE_TIMINGS: "1", INFORGE_MINT_WORKERS: "0", INFORGE_PKI_DIR: copy, PATH: bin })).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
  const b = run(process.execPath, [join(ROOT, "bin/inforge.js"), "pki", "renew", "--at", at], { env });
  assert.is(b.status, 0, b.stderr);
  assert.match(b.stderr, /flushed file by file/);
  assert.equal(await treeProblems(sb, T0 + 120 * H), []);
  const v = await cli(["pki", "verify", "--at", at, "--dir", copy], ciEnv(sb, { INFORGE_PKI_DIR: copy }));
  assert.is(v.code, 0, v.err + v.out);
});

test("a fleet renewal streams its redo log while the leaves are made and hands half the certificates to the worker: the renewed tree verifies, every key is its certificate's", async () => {
  const sb = sandbox({ eu: services(2100) });
  await buildTree(sb, ["eu"], iso(T0));
  const before = readFileSync(join(sb.dir, "leaves/eu/svc-042.crt.pem"), "utf8");
  const at = iso(T0 + 120 * H);
  const r = await ok(cli(["pki", "renew", "--at", at], ciEnv(sb, { INFORGE_TIMINGS: "1", INFORGE_MINT_WORKERS: "1" })));
  assert.match(r.err, /redo log streamed/);
  assert.match(r.err, /1 mint workers \(\d+ of 2100 leaves\)/);
  const after = readFileSync(join(sb.dir, "leaves/eu/svc-042.crt.pem"), "utf8");
  assert.is.not(after, before, "the leaf was not renewed");
  // openssl on a sample (every leaf: pki verify below checks each signature and key).
  for (const svc of ["svc-000", "svc-042", "svc-1049", "svc-2099"]) {
    const leaf = join(sb.dir, "leaves/eu", `${svc}.crt.pem`);
    const o = run("openssl", ["verify", "-attime", String(Math.floor((T0 + 120 * H) / 1000)), "-partial_chain", "-CAfile", join(sb.dir, "bundles/eu.pem"), leaf]);
    assert.is(o.status, 0, `${svc}: ${o.stdout}${o.stderr}`);
  }
  const v = await cli(["pki", "verify", "--at", at], ciEnv(sb));
  assert.is(v.code, 0, v.out + v.err);
  assert.match(v.out, /2102 sealed key\(s\) of which 2101 opened/);
  assert.not.match(readFileSync(join(sb.dir, "journal/pki.jsonl"), "utf8"), /pending/);
});

test("the tamper check the workers begin before the plan when leaves are due stops a run that writes, with nothing changed; a run with nothing due is not judged", async () => {
  const sb = sandbox({ eu: services(12) });
  await buildTree(sb, ["eu"], iso(T0));
  const dir = clone(sb);
  const [a, b] = ["leaves/eu/svc-003.crt.pem", "leaves/eu/svc-004.crt.pem"].map((r) => join(dir, r)) as [string, string];
  const [pa, pb] = [readFileSync(a, "utf8"), readFileSync(b, "utf8")];
  writeFileSync(a, pb);
  writeFileSync(b, pa);
  const env = ciEnv(sb, { INFORGE_PKI_DIR: dir, INFORGE_MINT_WORKERS: "1", INFORGE_TIMINGS: "1" });
  const before = lstatHash(dir);
  // Nothing due: no worker starts before the plan, nothing is written, and (as ever) the tree is not judged by this run.
  const quiet = await ok(cli(["pki", "renew", "--at", iso(T0 + H)], env));
  assert.match(quiet.out, /nothing to do/);
  assert.is(lstatHash(dir), before);
  // Every leaf due: the workers start before the plan with the check as their first job, which stops the run before its commit point.
  const r = await cli(["pki", "renew", "--at", iso(T0 + 120 * H)], env);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /leaves\/eu\/svc-003\.crt\.pem was changed outside inforge \(and 1 other file\(s\)\)/);
  assert.is(lstatHash(dir), before, "the tampered tree changed");
});

test.run();
