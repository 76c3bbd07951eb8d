// `inforge pki verify` on a real tree, then on copies tampered with one way each: every
// tampering is reported by its own code and file, verify changes nothing, and tamper evidence
// stops the next apply.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { appendFileSync, chmodSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { buildTree, ciEnv, cli, ok, ROOT, rootEnv, sandbox, treeHash } from "./helpers.ts";
import { assertNoPlaintextKeys, assertOneLine, clone, errorCodes, findingsOf, rechain, verify } from "./safety-helpers.ts";
import { pkcs8Pem } from "./fixtures/pem.ts";
import { sha256 } from "../lib/store/journal.ts";

const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout"], us: ["payments"] });
await buildTree(sb);
const both = ciEnv(sb, { INFORGE_PKI_ROOT_KEY: sb.rootKey });
const read = (dir: string, rel: string) => readFileSync(join(sb.dir === dir ? sb.dir : dir, rel), "utf8");

/** Verify a tampered copy: the error codes it reports, and proof that verify wrote nothing. */
async function tampered(change: (dir: string) => void, env = both, at?: string) {
  const dir = clone(sb);
  change(dir);
  const before = treeHash(dir);
  const v = await verify(dir, env, at);
  assert.is(treeHash(dir), before, "verify changed the directory");
  return { dir, ...v, codes: errorCodes(v.report) };
}

test("a freshly built tree verifies clean, with every sealed key opened and matched", async () => {
  const before = treeHash(sb.dir);
  const { code, report } = await verify(sb.dir, both);
  assert.is(code, 0, findingsOf(report));
  assert.is(report.schema, "inforge.verify/v1");
  assert.ok(report.ok);
  assert.equal(report.findings, []);
  assert.is(report.checked.certificates, 1 + 3 + 4); // root, three intermediates, four leaves
  assert.is(report.checked.bundles, 4 + 3); // root, three scopes, three trust domains
  assert.is(report.checked.crls, 1 + 3); // the root's, and one per scope (each has leaves)
  assert.ok(report.checked.keys.present >= 8 && report.checked.keys.opened === report.checked.keys.present, JSON.stringify(report.checked));
  assert.is(treeHash(sb.dir), before);
  assertNoPlaintextKeys(sb.dir);
});

test("without the identities the key checks are skipped and said so, and verify still passes", async () => {
  const r = await cli(["pki", "verify"], sb.env());
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /warning\s+key\.skipped\s+-\s+skipped: identity not present — 1 sealed root key\(s\) not opened; set INFORGE_PKI_ROOT_KEY/);
  assert.match(r.out, /set INFORGE_SECRETS_KEY to check/);
  assert.match(r.out.trim().split("\n").at(-1)!, /^verify: ok \(2 warning\(s\)\)/);
});

test("the text report is one line per finding with its severity, code and file, then a summary", async () => {
  const dir = clone(sb);
  unlinkSync(join(dir, "bundles/us.pem"));
  const r = await cli(["pki", "verify", "--dir", dir], both);
  assert.is(r.code, 1);
  const lines = r.out.trim().split("\n");
  assert.match(lines.at(-1)!, /^verify: \d+ error\(s\), \d+ warning\(s\) — /);
  for (const l of lines.slice(0, -1)) assert.match(l, /^(error|warning)\s+[a-z]+(\.[a-z-]+)+\s+\S+\s+\S/, l);
  assert.ok(lines.some((l) => /^error\s+bundle\.missing\s+bundles\/us\.pem\s/.test(l)), r.out);
});

test("a swapped leaf certificate is caught by its journal hash, its state record, its names and its key", async () => {
  const v = await tampered((dir) => {
    const a = join(dir, "leaves/eu/payments.crt.pem");
    const b = join(dir, "leaves/eu/checkout.crt.pem");
    const x = readFileSync(a);
    writeFileSync(a, readFileSync(b));
    writeFileSync(b, x);
  });
  assert.is(v.code, 1);
  for (const c of ["journal.hash-mismatch", "cert.record-mismatch", "cert.names", "key.mismatch"]) assert.ok(v.codes.includes(c), `${c} missing:\n${findingsOf(v.report)}`);
  assert.ok(v.report.findings.some((f) => f.code === "journal.hash-mismatch" && f.file === "leaves/eu/payments.crt.pem"));
});

test("the same swap with the journal rewritten to match is still caught past the journal", async () => {
  const v = await tampered((dir) => {
    const a = join(dir, "leaves/eu/payments.crt.pem");
    const b = join(dir, "leaves/eu/checkout.crt.pem");
    const x = readFileSync(a);
    writeFileSync(a, readFileSync(b));
    writeFileSync(b, x);
    rechain(dir, ["leaves/eu/payments.crt.pem", "leaves/eu/checkout.crt.pem"]);
  });
  assert.not.ok(v.codes.includes("journal.hash-mismatch"), findingsOf(v.report));
  assert.not.ok(v.codes.includes("journal.broken"), findingsOf(v.report));
  for (const c of ["cert.record-mismatch", "key.mismatch"]) assert.ok(v.codes.includes(c), `${c} missing:\n${findingsOf(v.report)}`);
});

test("a bundle with another region's intermediate added breaks its definition and its hash", async () => {
  const v = await tampered((dir) => appendFileSync(join(dir, "bundles/eu.pem"), read(sb.dir, "scopes/us/G1.crt.pem")));
  assert.equal(v.codes, ["bundle.mismatch", "journal.hash-mismatch"], findingsOf(v.report));
  assert.ok(v.report.findings.every((f) => f.severity !== "error" || f.file === "bundles/eu.pem"));
});

test("a trust domain's bundle given global's intermediate (which would let a global key vouch for an eu SPIFFE ID) breaks its definition", async () => {
  const file = "bundles/trust-domains/eu.mesh.test.pem";
  const v = await tampered((dir) => appendFileSync(join(dir, file), read(sb.dir, "scopes/global/G1.crt.pem")));
  assert.equal(v.codes, ["bundle.mismatch", "journal.hash-mismatch"], findingsOf(v.report));
  assert.ok(v.report.findings.every((f) => f.severity !== "error" || f.file === file));
});

test("a trust-domain bundle the state does not define (a made-up trust domain) is reported", async () => {
  const v = await tampered((dir) => writeFileSync(join(dir, "bundles/trust-domains/evil.mesh.test.pem"), read(sb.dir, "scopes/us/G1.crt.pem")));
  assert.equal(v.codes, ["bundle.unexpected"], findingsOf(v.report));
});

test("a bundle file the state does not define is reported, and so is any file inforge did not write", async () => {
  const v = await tampered((dir) => writeFileSync(join(dir, "bundles/evil.pem"), read(sb.dir, "scopes/us/G1.crt.pem")));
  assert.equal(v.codes, ["bundle.unexpected"], findingsOf(v.report));
  assert.ok(v.report.findings.some((f) => f.code === "file.unrecorded" && f.file === "bundles/evil.pem"));
});

test("after a recovery the revoked generation is on the CRL; put back into a bundle it is reported", async () => {
  const dir = clone(sb);
  await ok(cli(["pki", "recover-intermediate", "eu", "--dir", dir], rootEnv(sb)));
  const clean = await verify(dir, both);
  assert.is(clean.code, 0, findingsOf(clean.report));
  // The recovery leaves the eu leaves signed by the revoked G1 until CI renews them: pending work, not an error.
  assert.ok(clean.report.findings.some((f) => f.code === "pending.leaf.issuer-revoked"));
  const crlBefore = readFileSync(join(dir, "crl/root.crl.pem"), "utf8");
  appendFileSync(join(dir, "bundles/eu.pem"), readFileSync(join(dir, "scopes/eu/G1.crt.pem")));
  const v = await verify(dir, both);
  assert.ok(errorCodes(v.report).includes("bundle.revoked-member"), findingsOf(v.report));
  assert.match(v.report.findings.find((f) => f.code === "bundle.revoked-member")!.message, /eu G1 \(revoked\)/);
  // The CRL of the recovered tree, put into the untouched tree, lists a serial that tree never revoked.
  const w = await tampered((d) => writeFileSync(join(d, "crl/root.crl.pem"), crlBefore));
  assert.ok(w.codes.includes("crl.serials"), findingsOf(w.report));
  assert.ok(w.report.findings.some((f) => f.code === "crl.number" && f.severity === "warning"));
});

test("a CRL past its nextUpdate fails verify, and inforge pki crl makes it current again", async () => {
  const dir = clone(sb);
  const later = new Date(Date.now() + 200 * 86_400_000).toISOString();
  const stale = await verify(dir, both, later);
  // By then the week-long leaves have expired too: errors of their own, cleared by the renewal.
  assert.equal(errorCodes(stale.report), ["cert.expired", "crl.stale"], findingsOf(stale.report));
  await ok(cli(["pki", "crl", "--dir", dir, "--at", later], rootEnv(sb)));
  assert.equal(errorCodes((await verify(dir, both, later)).report), ["cert.expired"]);
  await ok(cli(["pki", "renew", "--dir", dir, "--at", later], ciEnv(sb)));
  const fresh = await verify(dir, both, later);
  assert.is(fresh.code, 0, findingsOf(fresh.report));
});

test("a deleted sealed key is a lost key", async () => {
  const v = await tampered((dir) => unlinkSync(join(dir, "scopes/us/G1.key.age")));
  assert.equal(v.codes, ["journal.file-missing", "key.missing"], findingsOf(v.report));
});

test("a key file that is not an age file, or is sealed to someone else, is reported", async () => {
  const v = await tampered((dir) => writeFileSync(join(dir, "scopes/us/G1.key.age"), "not age\n"));
  assert.ok(v.codes.includes("key.not-sealed"), findingsOf(v.report));
  const w = await tampered((dir) => writeFileSync(join(dir, "scopes/us/G1.key.age"), read(sb.dir, "root/G1.key.age")));
  assert.ok(w.codes.includes("key.unreadable"), findingsOf(w.report));
});

test("a plaintext private key anywhere under the directory is reported", async () => {
  const v = await tampered((dir) => writeFileSync(join(dir, "leaves/eu/debug.pem"), pkcs8Pem("AAAA")));
  assert.equal(v.codes, ["plaintext.secret"], findingsOf(v.report));
  assert.ok(v.report.findings.some((f) => f.code === "file.unrecorded" && f.file === "leaves/eu/debug.pem"));
});

test("modes: a world-writable key fails, a group-writable one warns, 0644 (a fresh git clone) passes", async () => {
  const world = await tampered((dir) => chmodSync(join(dir, "root/G1.key.age"), 0o666));
  assert.equal(world.codes, ["perm.world-writable"], findingsOf(world.report));
  const group = await tampered((dir) => chmodSync(join(dir, "root/G1.key.age"), 0o664));
  assert.is(group.code, 0, findingsOf(group.report));
  assert.ok(group.report.findings.some((f) => f.code === "perm.group-writable"));
  const clone644 = await tampered((dir) => chmodSync(join(dir, "root/G1.key.age"), 0o644));
  assert.is(clone644.code, 0, findingsOf(clone644.report));
  assert.equal(clone644.report.findings, []);
  const bundle = await tampered((dir) => chmodSync(join(dir, "bundles/eu.pem"), 0o646));
  assert.equal(bundle.codes, ["perm.world-writable"]);
});

test("editing, removing or reordering a journal entry breaks the hash chain", async () => {
  const lines = (dir: string) => readFileSync(join(dir, "journal/pki.jsonl"), "utf8").trimEnd().split("\n");
  const put = (dir: string, l: string[]) => writeFileSync(join(dir, "journal/pki.jsonl"), l.join("\n") + "\n");
  const edited = await tampered((dir) => put(dir, lines(dir).map((l, i) => (i === 1 ? l.replace('"steps":', '"steps":1') : l))));
  const removed = await tampered((dir) => put(dir, lines(dir).filter((_, i) => i !== 1)));
  const reordered = await tampered((dir) => {
    const l = lines(dir);
    [l[1], l[2]] = [l[2]!, l[1]!];
    put(dir, l);
  });
  for (const [name, v] of [["edited", edited], ["removed", removed], ["reordered", reordered]] as const) {
    assert.ok(v.codes.includes("journal.broken"), `${name}:\n${findingsOf(v.report)}`);
  }
  assert.match(edited.report.findings.find((f) => f.code === "journal.broken")!.message, /entry 2 was edited/);
});

test("pki.json: an edited lifetime differs from the root-signed custody record (an error naming the field); an edited threshold is the operator's", async () => {
  const edit = (f: (c: Record<string, any>) => void) => (dir: string) => {
    const p = join(dir, "pki.json");
    const c = JSON.parse(readFileSync(p, "utf8"));
    f(c);
    writeFileSync(p, JSON.stringify(c, null, 2) + "\n");
  };
  const v = await tampered(edit((c) => (c.lifetimes.leaf = "5d")));
  assert.is(v.code, 1, findingsOf(v.report));
  const f = v.report.findings.find((x) => x.code === "custody.field");
  assert.ok(f && f.severity === "error", findingsOf(v.report));
  assert.match(f!.message, /^pki\.json lifetimes\.leaf differs from the custody record the root signed \("7d" → "5d"\); if you meant it, accept it with inforge pki config/);
  const t = await tampered(edit((c) => (c.spiffeRefreshHint = "10m")));
  assert.is(t.code, 0, findingsOf(t.report));
});

test("tamper evidence stops the next apply with one line naming the file, and nothing changes", async () => {
  const dir = clone(sb);
  const x = readFileSync(join(dir, "bundles/eu.pem"));
  writeFileSync(join(dir, "bundles/eu.pem"), readFileSync(join(dir, "bundles/us.pem")));
  const before = treeHash(dir);
  // A run with nothing to write does not check (it changes nothing either; pki verify is the gate
  // for that), and a run locked to one region checks its own files and the shared ones.
  for (const [argv, env] of [[["pki", "rotate", "--leaf", "payments", "--region", "eu"], ciEnv(sb)], [["pki", "renew", "--region", "eu", "--at", new Date(Date.now() + 6 * 86_400_000).toISOString()], ciEnv(sb)], [["pki", "rotate", "--intermediate", "us"], rootEnv(sb)]] as const) {
    const r = await cli([...argv, "--dir", dir], env);
    assert.is(r.code, 1, argv.join(" "));
    assertOneLine(r.err, argv.join(" "));
    assert.match(r.err, /bundles\/eu\.pem was changed outside inforge: it is not what journal entry \d+ \("inforge pki [^"]+"\) wrote; nothing was changed — run inforge pki verify/);
    assert.match(r.err, /restore the file\(s\) from git/);
  }
  assert.is(treeHash(dir), before);
  // Another region's run goes ahead: it neither reads nor writes eu's files (verify still reports them).
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "us", "--dir", dir], ciEnv(sb)));
  writeFileSync(join(dir, "bundles/eu.pem"), x); // restored: the run goes ahead
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu", "--dir", dir], ciEnv(sb)));
  const v = await verify(dir, both);
  assert.is(v.code, 0, findingsOf(v.report));
  assertNoPlaintextKeys(dir);
});

test("a journal entry removed by hand stops the next apply as well", async () => {
  const dir = clone(sb);
  const p = join(dir, "journal/pki.jsonl");
  writeFileSync(p, readFileSync(p, "utf8").split("\n").filter((_, i) => i !== 0).join("\n"));
  const before = treeHash(dir);
  const r = await cli(["pki", "rotate", "--leaf", "payments", "--region", "us", "--dir", dir], ciEnv(sb));
  assert.is(r.code, 1);
  assertOneLine(r.err, "rotate --leaf");
  assert.match(r.err, /the journal journal\/pki\.jsonl is broken: entry 1 does not follow/);
  assert.is(treeHash(dir), before);
});

test("an interrupted run's pending record is reported as resumable, judged as the tree it will finish", async () => {
  // Stage a real commit by hand: the files of a leaf rotation beside their targets, the pending record, nothing renamed.
  const dir = clone(sb);
  const work = clone(sb);
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "us", "--dir", work], ciEnv(sb)));
  // A one-region run journals to its scope's journal, with its scope's pending record (lib/store/domains.ts).
  const entry = JSON.parse(readFileSync(join(work, "journal/scopes/us.jsonl"), "utf8").trimEnd().split("\n").at(-1)!);
  // The leaf certificate is recorded by the scope's manifest, not the entry: the pending record names it beside the entry.
  const listed = JSON.parse(read(work, "leaves/us/manifest.json")).files as Record<string, string>;
  const folded = Object.entries(listed).map(([n, h]) => ({ path: `leaves/us/${n}`, sha256: h })).filter((f) => sha256(readFileSync(join(dir, f.path))) !== f.sha256);
  assert.equal(folded.map((f) => f.path), ["leaves/us/payments.crt.pem"]);
  for (const f of [...entry.files, ...folded] as { path: string }[]) writeFileSync(join(dir, f.path + ".inforge-new"), readFileSync(join(work, f.path)));
  mkdirSync(join(dir, "journal/scopes"), { recursive: true });
  writeFileSync(join(dir, "journal/scopes/us.pending.json"), JSON.stringify({ entry, modes: {}, folded }) + "\n");
  renameSync(join(dir, entry.files[0].path + ".inforge-new"), join(dir, entry.files[0].path)); // one file already renamed
  const v = await verify(dir, both);
  assert.is(v.code, 1);
  assert.equal(errorCodes(v.report), ["commit.pending"], findingsOf(v.report));
  // The next run finishes it; the rolled-forward tree is the one verify judged.
  await ok(cli(["pki", "renew", "--dir", dir], ciEnv(sb)));
  const after = await verify(dir, both);
  assert.is(after.code, 0, findingsOf(after.report));
  assert.is(read(dir, "leaves/us/payments.crt.pem"), read(work, "leaves/us/payments.crt.pem"));
});

test("a run killed past its commit point is finished from its redo log; a log that is not the pending run's is refused, the tree unchanged", async () => {
  const dir = clone(sb);
  const env = { ...ciEnv(sb), INFORGE_PKI_DIR: dir };
  const argv = [join(ROOT, "bin/inforge.js"), "pki", "rotate", "--leaf", "payments", "--region", "us"];
  const killed = spawnSync(process.execPath, argv, { env: { ...env, INFORGE_CRASH_AT: "write-torn:1" } as NodeJS.ProcessEnv, encoding: "utf8" });
  assert.is(killed.signal, "SIGKILL", killed.stderr);
  const log = join(dir, "journal/scopes/us.pending.redo");
  const good = readFileSync(log, "utf8");
  // Judged as the tree it will finish, though a file is torn on disk.
  assert.equal(errorCodes((await verify(dir, both)).report), ["commit.pending"]);
  // Another run's bytes in the log (one character of a certificate changed): verify and the next run refuse to finish it.
  writeFileSync(log, good.replace(/(BEGIN CERTIFICATE-----\n)(.)/, (_, a: string, ch: string) => a + (ch === "M" ? "N" : "M")));
  const v = await verify(dir, both);
  assert.ok(errorCodes(v.report).includes("commit.unrecoverable"), findingsOf(v.report));
  // (The killed run's lock is taken over: its process is gone.)
  const unlocked = (rel: string) => !rel.startsWith(".lock");
  const before = treeHash(dir, unlocked);
  const r = await cli(["pki", "renew", "--dir", dir], ciEnv(sb));
  assert.is(r.code, 1, r.err);
  assertOneLine(r.err, "damaged redo log");
  assert.match(r.err, /journal\/scopes\/us\.pending\.redo holds bytes for "[^"]+" that the pending record does not name, so the interrupted run cannot be finished; restore the pki directory from git/);
  assert.is(treeHash(dir, unlocked), before);
  // The log as written: the next run finishes the rotation, and the tree verifies clean.
  writeFileSync(log, good);
  await ok(cli(["pki", "renew", "--dir", dir], ciEnv(sb)));
  assert.equal(errorCodes((await verify(dir, both)).report), []);
});

test.run();
