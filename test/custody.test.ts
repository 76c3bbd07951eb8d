// The root-signed custody record (custody.json) and the pinned root anchor (INFORGE_ROOT_FINGERPRINT),
// tried as an attacker who can write to the infra repo but holds neither identity would: swap the
// CI recipient in pki.json (with and without a journal rewritten to match), forge the record, pin
// the wrong root. Every refusal is one sentence, exits non-zero and leaves the tree byte-identical;
// the age CLI is the judge of who can open what was sealed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as X from "../lib/x509/mod.ts";
import { signCustody } from "../lib/apply/custody.ts";
import { custodyPayload } from "../lib/model/custody-record.ts";
import { sealEntry, sha256, type JournalEntry } from "../lib/store/journal.ts";
import { buildTree, ciEnv, cli, ok, rootEnv, run, sandbox, tempDir, treeHash, type CliResult, type Sandbox } from "./helpers.ts";

const newIdentity = (sb: Sandbox, name: string) => {
  const path = join(sb.base, name);
  run("age-keygen", ["-o", path]);
  return { path, recipient: run("age-keygen", ["-y", path]).stdout.trim() };
};
const opens = (sb: Sandbox, identity: string, rel: string) => run("age", ["-d", "-i", identity, join(sb.dir, rel)]).status === 0;
const readJson = (sb: Sandbox, rel: string) => JSON.parse(readFileSync(join(sb.dir, rel), "utf8"));
const writeJson = (sb: Sandbox, rel: string, x: unknown) => writeFileSync(join(sb.dir, rel), JSON.stringify(x, null, 2) + "\n");

/** pki.json with recipients.ci set to `recipient`, as a hand edit in the repo would leave it. */
function swapCi(sb: Sandbox, recipient: string): void {
  const cfg = readJson(sb, "pki.json");
  cfg.recipients.ci = recipient;
  writeJson(sb, "pki.json", cfg);
}

/** The journal rewritten so every entry records the files' current bytes (or, for `drop`, not at all), hash chain recomputed. */
function rewriteJournal(sb: Sandbox, paths: string[], drop: string[] = []): void {
  const file = join(sb.dir, "journal/pki.jsonl");
  let prev = "0".repeat(64);
  const lines = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => {
    const { hash: _h, ...e } = JSON.parse(l) as JournalEntry;
    const files = e.files.filter((f) => !drop.includes(f.path)).map((f) => (paths.includes(f.path) ? { path: f.path, sha256: sha256(readFileSync(join(sb.dir, f.path))) } : f));
    const sealed = sealEntry({ ...e, files, prev });
    prev = sealed.hash;
    return JSON.stringify(sealed);
  });
  writeFileSync(file, lines.join("\n") + "\n");
}

/** Refused: non-zero, one sentence on stderr matching `why`, the tree byte-identical. */
async function refused(sb: Sandbox, argv: string[], env: Record<string, string | undefined>, why: RegExp): Promise<CliResult> {
  const before = treeHash(sb.dir);
  const r = await cli(argv, env);
  assert.is.not(r.code, 0, `${argv.join(" ")} was not refused: ${r.out}`);
  assert.ok(r.code !== 70, `${argv.join(" ")} crashed: ${r.err}`);
  const lines = r.err.trim().split("\n");
  assert.is(lines.length, 1, `${argv.join(" ")}: expected one sentence, got:\n${r.err}`);
  assert.match(lines[0]!, why, argv.join(" "));
  assert.is(treeHash(sb.dir), before, `${argv.join(" ")} changed the tree`);
  return r;
}

const sb = sandbox();
await buildTree(sb, ["global", "eu"]);
writeFileSync(join(sb.regions, "ap.json"), JSON.stringify({ name: "ap", services: ["search"] }));
const attacker = newIdentity(sb, "attacker.key");
const deployOut = tempDir("inforge-custody-out-");
const SWAP = /^inforge: pki\.json recipients\.ci differs from the custody record the root signed \("age1.*" → "age1.*"\); if you meant it, accept it with inforge pki config on the offline workstation \(root posture\) — nothing was changed$/;

const mutating = (): [string[], Record<string, string | undefined>][] => [
  [["pki", "rotate", "--intermediate", "eu", "--force"], rootEnv(sb)],
  [["pki", "recover-intermediate", "eu"], rootEnv(sb)],
  [["pki", "intermediate", "ap"], rootEnv(sb)],
  [["pki", "renew"], ciEnv(sb)],
  [["pki", "rotate", "--leaf", "payments", "--region", "eu"], ciEnv(sb)],
  [["deploy", "payments", "--region", "eu", "--out", join(deployOut, "payments")], ciEnv(sb)],
  [["pki", "status"], ciEnv(sb)],
];

/** r||s (IEEE P1363) → DER ECDSA-Sig-Value, for openssl. */
function derSignature(p1363: Buffer): Buffer {
  const int = (b: Buffer) => {
    let x = b;
    while (x.length > 1 && x[0] === 0 && x[1]! < 0x80) x = x.subarray(1);
    if (x[0]! >= 0x80) x = Buffer.concat([Buffer.from([0]), x]);
    return Buffer.concat([Buffer.from([0x02, x.length]), x]);
  };
  const body = Buffer.concat([int(p1363.subarray(0, 32)), int(p1363.subarray(32))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

test("openssl verifies custody.json's signature with the root certificate's public key over the canonical record", () => {
  const rec = readJson(sb, "custody.json");
  const work = tempDir("inforge-custody-sig-");
  const pub = run("openssl", ["x509", "-pubkey", "-noout", "-in", join(sb.dir, "root/G1.crt.pem")]).stdout;
  writeFileSync(join(work, "pub.pem"), pub);
  const { signature, ...unsigned } = rec;
  writeFileSync(join(work, "payload"), Buffer.from(custodyPayload(unsigned)));
  writeFileSync(join(work, "sig.der"), derSignature(Buffer.from(signature, "base64")));
  const good = run("openssl", ["dgst", "-sha256", "-verify", join(work, "pub.pem"), "-signature", join(work, "sig.der"), join(work, "payload")]);
  assert.is(good.status, 0, good.stdout + good.stderr);
  writeFileSync(join(work, "payload"), Buffer.from(custodyPayload({ ...unsigned, config: { ...unsigned.config, domain: "evil.test" } })));
  const bad = run("openssl", ["dgst", "-sha256", "-verify", join(work, "pub.pem"), "-signature", join(work, "sig.der"), join(work, "payload")]);
  assert.is.not(bad.status, 0, "an edited record must not verify");
  rmSync(work, { recursive: true, force: true });
});

test("a pki.json whose recipients.ci was swapped is refused by every run, root and CI posture, naming the field; nothing is sealed to it", async () => {
  const original = readFileSync(join(sb.dir, "pki.json"), "utf8");
  swapCi(sb, attacker.recipient);
  for (const [argv, env] of mutating()) await refused(sb, argv, env, SWAP);
  const v = await cli(["pki", "verify"], ciEnv(sb));
  assert.is(v.code, 1);
  assert.match(v.out, /error\s+custody\.field\s+custody\.json\s+pki\.json recipients\.ci differs/);
  writeFileSync(join(sb.dir, "pki.json"), original);
});

test("with the journal rewritten to match the swapped pki.json, every run is still refused", async () => {
  const original = readFileSync(join(sb.dir, "pki.json"), "utf8");
  const journal = readFileSync(join(sb.dir, "journal/pki.jsonl"), "utf8");
  const record = readFileSync(join(sb.dir, "custody.json"), "utf8");
  swapCi(sb, attacker.recipient);
  rewriteJournal(sb, ["pki.json"]);
  for (const [argv, env] of mutating()) await refused(sb, argv, env, SWAP);
  // The record itself edited to match (journal rewritten for it too): its signature no longer verifies.
  const rec = readJson(sb, "custody.json");
  rec.config.recipients.ci = attacker.recipient;
  writeJson(sb, "custody.json", rec);
  rewriteJournal(sb, ["pki.json", "custody.json"]);
  await refused(sb, ["pki", "intermediate", "ap"], rootEnv(sb), /^inforge: custody\.json does not carry a valid signature by root G1: it was edited, or signed by another key, so it is not a record the root signed; restore it from git/);
  await refused(sb, ["pki", "renew"], ciEnv(sb), /custody\.json does not carry a valid signature by root G1/);
  writeFileSync(join(sb.dir, "pki.json"), original);
  writeFileSync(join(sb.dir, "journal/pki.jsonl"), journal);
  writeFileSync(join(sb.dir, "custody.json"), record);
  await ok(cli(["pki", "renew"], ciEnv(sb)));
});

test("a record signed by another key (with a matching pki.json) is refused, and verify reports it", async () => {
  const originals = ["pki.json", "custody.json"].map((f) => [f, readFileSync(join(sb.dir, f), "utf8")] as const);
  swapCi(sb, attacker.recipient);
  const key = await X.generateKeyPair();
  const fp = readJson(sb, "root/root.json").generations[0].fingerprint;
  writeFileSync(join(sb.dir, "custody.json"), await signCustody(readJson(sb, "pki.json"), 1, fp, X.keySigner(key), "2026-01-01T00:00:00Z"));
  await refused(sb, ["pki", "intermediate", "ap"], rootEnv(sb), /custody\.json does not carry a valid signature by root G1/);
  await refused(sb, ["pki", "renew"], ciEnv(sb), /custody\.json does not carry a valid signature by root G1/);
  const v = await cli(["pki", "verify"], ciEnv(sb));
  assert.match(v.out, /error\s+custody\.forged/);
  // pki config does not sign over a forged record: it is restored from git first.
  await refused(sb, ["pki", "config"], rootEnv(sb), /custody\.json does not carry a valid signature by root G1/);
  for (const [f, text] of originals) writeFileSync(join(sb.dir, f), text);
});

test("a tree made before custody.json: mutating runs refuse and name pki config, status still reports, pki config signs it", async () => {
  unlinkSync(join(sb.dir, "custody.json"));
  rewriteJournal(sb, [], ["custody.json"]);
  const missing = /^inforge: custody\.json is missing, so nothing proves the root approved .*inforge pki config on the offline workstation \(root posture\)/;
  await refused(sb, ["pki", "renew"], ciEnv(sb), missing);
  await refused(sb, ["pki", "intermediate", "ap"], rootEnv(sb), missing);
  await ok(cli(["pki", "status"], ciEnv(sb)));
  assert.match((await cli(["pki", "verify"], ciEnv(sb))).out, /error\s+custody\.missing/);
  const r = await ok(cli(["pki", "config"], rootEnv(sb)));
  assert.match(r.out, /custody\.json is missing: nothing records what the root approved, so review EVERY value/);
  assert.match(r.out, /recipients\.ci/);
  const rec = readJson(sb, "custody.json");
  assert.is(rec.schema, "inforge.custody/v1");
  assert.is(rec.signedBy.gen, 1);
  await ok(cli(["pki", "renew"], ciEnv(sb)));
  assert.match((await ok(cli(["pki", "config"], rootEnv(sb)))).out, /nothing to do: custody\.json already signs/);
});

test("pki config (root posture) accepts an edited recipients.ci; from then on new keys are sealed to it and the age CLI opens them with its identity", async () => {
  // CI cannot accept it: config needs the root.
  swapCi(sb, attacker.recipient);
  const ci = await cli(["pki", "config"], sb.env());
  assert.is(ci.code, 3, ci.err);
  assert.match(ci.err, /needs the offline root identity/);
  const r = await ok(cli(["pki", "config"], rootEnv(sb)));
  assert.match(r.out, /recipients\.ci\s+"age1/);
  assert.is(readJson(sb, "custody.json").config.recipients.ci, attacker.recipient);
  await ok(cli(["pki", "intermediate", "ap"], rootEnv(sb)));
  assert.ok(opens(sb, attacker.path, "scopes/ap/G1.key.age"), "the accepted recipient opens the new intermediate key");
  assert.not.ok(opens(sb, sb.ciKey, "scopes/ap/G1.key.age"));
  // Unsigned fields stay the operator's to tune without the root.
  const cfg = readJson(sb, "pki.json");
  writeJson(sb, "pki.json", { ...cfg, spiffeRefreshHint: "10m", thresholds: { root: { warn: "400d", crit: "200d" }, intermediate: { warn: "90d", crit: "30d" }, crl: { warn: "30d", crit: "7d" } } });
  await ok(cli(["pki", "status"], ciEnv(sb)));
  await ok(cli(["pki", "crl"], rootEnv(sb)));
});

test("INFORGE_ROOT_FINGERPRINT: a wrong pin refuses every command; the right one (any common spelling) works; a malformed one is refused", async () => {
  const sb = sandbox();
  const init = await ok(cli(["pki", "init", "--domain", "mesh.test", "--identity-out", sb.rootKey], ciEnv(sb)));
  const fp = /INFORGE_ROOT_FINGERPRINT=([0-9a-f]{64})$/m.exec(init.out)?.[1];
  assert.ok(fp, init.out);
  assert.is(fp, X.certificateFingerprint(readFileSync(join(sb.dir, "root/G1.crt.pem"), "utf8")));
  assert.match(init.out, /root G1 fingerprint \(SHA-256 of its certificate\): [0-9a-f]{64}/);
  const wrong = { INFORGE_ROOT_FINGERPRINT: "ab".repeat(32) };
  const unpinned = /^inforge: root G1 \(root\/G1\.crt\.pem, sha256 [0-9a-f]{16}…\) is not anchored on INFORGE_ROOT_FINGERPRINT/;
  await refused(sb, ["pki", "intermediate", "global"], rootEnv(sb, wrong), unpinned);
  await ok(cli(["pki", "intermediate", "global"], rootEnv(sb, { INFORGE_ROOT_FINGERPRINT: fp })));
  await ok(cli(["pki", "intermediate", "eu"], rootEnv(sb)));
  for (const argv of [["pki", "renew"], ["pki", "status"], ["pki", "rotate", "--leaf", "payments", "--region", "eu"], ["deploy", "payments", "--region", "eu", "--out", join(sb.base, "out")]]) {
    await refused(sb, argv, ciEnv(sb, wrong), unpinned);
  }
  await refused(sb, ["pki", "crl"], rootEnv(sb, wrong), unpinned);
  const v = await cli(["pki", "verify"], ciEnv(sb, wrong));
  assert.match(v.out, /error\s+anchor\.unpinned/);
  await refused(sb, ["pki", "renew"], ciEnv(sb, { INFORGE_ROOT_FINGERPRINT: "not-a-fingerprint" }), /^inforge: INFORGE_ROOT_FINGERPRINT holds "not-a-fingerprint", which is not a SHA-256 certificate fingerprint/);
  const colons = "sha256:" + fp.toUpperCase().match(/../g)!.join(":");
  await ok(cli(["pki", "renew"], ciEnv(sb, { INFORGE_ROOT_FINGERPRINT: colons })));
  await ok(cli(["pki", "status"], ciEnv(sb, { INFORGE_ROOT_FINGERPRINT: `${"cd".repeat(32)}, ${fp}` })));
  // A root.pem carrying another root is refused under the pin even though the state is untouched.
  const rootPem = readFileSync(join(sb.dir, "bundles/root.pem"), "utf8");
  const other = await X.createRoot({ key: await X.generateKeyPair(), commonName: "attacker root", notBefore: new Date(), notAfter: new Date(Date.now() + 86400e3) });
  writeFileSync(join(sb.dir, "bundles/root.pem"), rootPem + other.pem);
  await refused(sb, ["pki", "renew"], ciEnv(sb, { INFORGE_ROOT_FINGERPRINT: fp }), /^inforge: bundles\/root\.pem carries a root \(sha256 [0-9a-f]{16}…\) that is not anchored on INFORGE_ROOT_FINGERPRINT/);
  writeFileSync(join(sb.dir, "bundles/root.pem"), rootPem);
  rmSync(sb.base, { recursive: true, force: true });
});

test("during a root overlap the old pin alone still works through the cross certificate, and the new root is named", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu"]);
  const g1 = readJson(sb, "root/root.json").generations[0].fingerprint as string;
  const rotated = await ok(cli(["pki", "rotate", "--root"], rootEnv(sb, { INFORGE_ROOT_FINGERPRINT: g1 })));
  const g2 = readJson(sb, "root/root.json").generations[1].fingerprint as string;
  assert.match(rotated.out, new RegExp(`root G2 fingerprint \\(SHA-256 of its certificate\\): ${g2}`));
  assert.match(rotated.out, new RegExp(`INFORGE_ROOT_FINGERPRINT=${g1},${g2}`));
  assert.is(readJson(sb, "custody.json").signedBy.gen, 2, "the record is signed again by the new active root");
  const r = await ok(cli(["pki", "status"], ciEnv(sb, { INFORGE_ROOT_FINGERPRINT: g1 })));
  assert.match(r.err, new RegExp(`root G2 \\(sha256 ${g2}\\) is trusted through its cross certificate from the pinned root G1; add its fingerprint to INFORGE_ROOT_FINGERPRINT`));
  await ok(cli(["pki", "status"], ciEnv(sb, { INFORGE_ROOT_FINGERPRINT: `${g1},${g2}` })));
  // The new root alone does not anchor the old one, which is still in root.pem.
  await refused(sb, ["pki", "status"], ciEnv(sb, { INFORGE_ROOT_FINGERPRINT: g2 }), /^inforge: root G1 .* is not anchored on INFORGE_ROOT_FINGERPRINT/);
  rmSync(sb.base, { recursive: true, force: true });
});

test.after(() => {
  rmSync(sb.base, { recursive: true, force: true });
  rmSync(deployOut, { recursive: true, force: true });
});

test.run();
