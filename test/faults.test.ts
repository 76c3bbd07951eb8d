// Fault injection: each runbook is run as a real child process (node bin/inforge.js) that
// SIGKILLs itself at a crash point of its commit (INFORGE_CRASH_AT, lib/store/fs-store.ts), and
// renews of a bigger region are SIGKILLed at random instants. After every kill: `pki verify`
// sees the old tree, a resumable one (a pending record, judged as the tree it will finish) or the
// finished one — never a lost key; re-running the same command converges to the tree an
// uninterrupted run makes; that tree passes verify, openssl, the age CLI and the plaintext scan.
//
// A child costs over a second of start-up, so by default each runbook is killed at one seeded
// point of each phase of its commit — before the commit point (stage:n, stage-torn:n, beside:1 or
// pending-torn), at it (pending), between it and the end (write:n, write-torn:n, journal-torn or journal),
// and once everything is on disk but the process has not exited (committed) — the kinds spread
// over the runbooks, and the points exercised are printed.
// INFORGE_FAULTS=full runs every point of every runbook (stage:n, write:n and their torn kinds for every file n),
// INFORGE_FAULT_KILLS the number of random kills (default 4).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { X509Certificate, createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT, cli, ok, opensslVerify, run, sandbox } from "./helpers.ts";
import { assertNoPlaintextKeys, errorCodes, findingsOf, rng, seedFrom, verify } from "./safety-helpers.ts";

const T0 = "2030-01-01T00:00:00Z"; // the tree is built then
const T1 = "2030-01-01T01:00:00Z"; // each runbook runs then
const FULL = process.env.INFORGE_FAULTS === "full";
const KILLS = Number(process.env.INFORGE_FAULT_KILLS ?? 4);
const PARALLEL = 2;
const seed = seedFrom("INFORGE_FAULT_SEED", "faults");
const random = rng(seed);

const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout"] });
const at = (env: Record<string, string | undefined>, dir: string) => ({ ...env, INFORGE_NOW: T1, INFORGE_PKI_DIR: dir });
const ciEnv = (dir: string) => at(sb.env({ INFORGE_SECRETS_KEY: sb.ciKey }), dir);
const rootEnv = (dir: string) => at(sb.env({ INFORGE_PKI_ROOT_KEY: sb.rootKey }), dir);

// Templates, built once in-process at T0: the state each runbook starts from.
const tpl = (name: string) => join(sb.base, "tpl", name, "pki");
const build = async (argv: string[], env: Record<string, string | undefined>) => ok(cli([...argv, "--at", T0], { ...env, INFORGE_PKI_DIR: tpl("full") }));
mkdirSync(join(sb.base, "tpl"), { recursive: true });
await build(["pki", "init", "--domain", "mesh.test", "--identity-out", sb.rootKey], sb.env({ INFORGE_SECRETS_KEY: sb.ciKey }));
await build(["pki", "intermediate", "global"], sb.env({ INFORGE_PKI_ROOT_KEY: sb.rootKey }));
cpSync(tpl("full"), tpl("global"), { recursive: true });
await build(["pki", "intermediate", "eu"], sb.env({ INFORGE_PKI_ROOT_KEY: sb.rootKey }));
cpSync(tpl("full"), tpl("scopes"), { recursive: true });
await build(["pki", "renew"], sb.env({ INFORGE_SECRETS_KEY: sb.ciKey }));

interface Runbook {
  readonly name: string;
  /** The command; `out` is where init writes the root identity (fresh per run). */
  readonly argv: (out: string) => string[];
  readonly env: (dir: string) => Record<string, string | undefined>;
  /** Template to start from; null: no pki directory yet. */
  readonly from: string | null;
}

const RUNBOOKS: Runbook[] = [
  { name: "init", argv: (out) => ["pki", "init", "--domain", "mesh.test", "--identity-out", out], env: ciEnv, from: null },
  { name: "intermediate", argv: () => ["pki", "intermediate", "eu"], env: rootEnv, from: "global" },
  { name: "renew", argv: () => ["pki", "renew"], env: ciEnv, from: "scopes" },
  { name: "rotate --intermediate", argv: () => ["pki", "rotate", "--intermediate", "eu"], env: rootEnv, from: "full" },
  { name: "rotate --root", argv: () => ["pki", "rotate", "--root"], env: rootEnv, from: "full" },
  { name: "recover-intermediate", argv: () => ["pki", "recover-intermediate", "eu"], env: rootEnv, from: "full" },
  { name: "rotate --leaf", argv: () => ["pki", "rotate", "--leaf", "payments", "--region", "eu"], env: ciEnv, from: "full" },
];

/** A fresh working copy: the pki dir (from a template, or absent) and where init puts the root identity. */
function workdir(from: string | null): { dir: string; out: string } {
  const base = mkdtempSync(join(sb.base, "run-"));
  const dir = join(base, "pki");
  if (from) cpSync(tpl(from), dir, { recursive: true });
  return { dir, out: join(base, "root.key") };
}

const isPending = (rel: string) => /^journal\/(scopes\/[^/]+\.)?pending\.json$/.test(rel);
const BOOKKEEPING = (rel: string) => /^\.lock/.test(rel) || rel.endsWith(".inforge-new") || /\.\d+\.tmp$/.test(rel) || isPending(rel) || /^journal\/.*\.redo$/.test(rel);
/** A pending record of the directory's run or of a scope's (lib/store/domains.ts). */
const hasPending = (dir: string) => existsSync(join(dir, "journal/pending.json")) || (existsSync(join(dir, "journal/scopes")) && readdirSync(join(dir, "journal/scopes")).some((n) => n.endsWith(".pending.json")));
function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.filter((f) => !BOOKKEEPING(f));
}
/** Bytes and modes of every file but the tool's bookkeeping (lock, staged files, pending record, redo log). */
function contentHash(dir: string): string {
  const h = createHash("sha256");
  for (const f of listFiles(dir)) h.update(`${f}\0${statSync(join(dir, f)).mode}\0`).update(readFileSync(join(dir, f))).update("\0");
  return h.digest("hex");
}
/** The state files with what differs between two equal runs (serials, fingerprints, the fresh root recipient, the leaf manifests' digests) masked. */
function maskedState(dir: string): string {
  const state = listFiles(dir).filter((f) => f.endsWith(".json") && !f.startsWith("bundles/"));
  const digest = (f: string, v: unknown) => f.endsWith("/manifest.json") && typeof v === "string" && /^[0-9a-f]{64}$/.test(v);
  return JSON.stringify(state.map((f) => [f, JSON.parse(readFileSync(join(dir, f), "utf8"), (k, v) => (k === "serial" || k === "fingerprint" || k === "signature" || k === "root" && typeof v === "string" && v.startsWith("age1") || digest(f, v) ? "*" : v))]));
}
/** Entries in every journal (the directory's and the scopes'). */
const journalLength = (dir: string) => listFiles(dir).filter((f) => f.startsWith("journal/") && f.endsWith(".jsonl")).reduce((n, f) => n + readFileSync(join(dir, f), "utf8").trim().split("\n").length, 0);

/** The identities verify needs for this copy; init's root identity is at `out`, or still at out.partial. */
function verifyEnv(dir: string, out: string) {
  const rootKey = existsSync(out) ? out : existsSync(out + ".partial") ? out + ".partial" : sb.rootKey;
  return { ...sb.env({ INFORGE_SECRETS_KEY: sb.ciKey, INFORGE_PKI_ROOT_KEY: rootKey }), INFORGE_PKI_DIR: dir };
}

/** The real-verifier checks of a finished tree: every certificate's key is on disk, opens with the age CLI and matches; openssl accepts every leaf whose issuer is live and rejects the others. */
function realVerifiers(dir: string, rootKey: string): void {
  const age = (file: string, key: string) => {
    const r = run("age", ["-d", "-i", key, join(dir, file)]);
    assert.is(r.status, 0, `age could not open ${file}: ${r.stderr}`);
    return r.stdout;
  };
  const matches = (certFile: string, keyPem: string) =>
    new X509Certificate(readFileSync(join(dir, certFile))).publicKey.export({ type: "spki", format: "der" }).equals(createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" }));
  const all = listFiles(dir);
  for (const cert of all.filter((f) => /^(root|scopes\/[^/]+)\/G\d+\.crt\.pem$/.test(f))) {
    const key = cert.replace(".crt.pem", ".key.age");
    assert.ok(all.includes(key), `${cert} has no sealed key ${key}: a key was lost`);
    assert.ok(matches(cert, age(key, cert.startsWith("root/") ? rootKey : sb.ciKey)), `${key} does not match ${cert}`);
  }
  const unix = String(Math.floor(Date.parse(T1) / 1000));
  for (const scope of existsSync(join(dir, "leaves")) ? readdirSync(join(dir, "leaves")) : []) {
    const idx = JSON.parse(readFileSync(join(dir, "leaves", scope, "index.json"), "utf8")) as { leaves: Record<string, { gen: number }> };
    const gens = (JSON.parse(readFileSync(join(dir, "scopes", scope, "scope.json"), "utf8")) as { generations: { gen: number; state: string }[] }).generations;
    const keys = (JSON.parse(age(`leaves/${scope}/keys.age`, sb.ciKey)) as { keys: Record<string, { key: string }> }).keys;
    for (const [svc, l] of Object.entries(idx.leaves)) {
      const cert = `leaves/${scope}/${svc}.crt.pem`;
      assert.ok(keys[svc], `${cert} has no key in leaves/${scope}/keys.age: a key was lost`);
      assert.ok(matches(cert, keys[svc]!.key), `the key of ${svc} in leaves/${scope}/keys.age does not match ${cert}`);
      const live = ["prepared", "active", "retiring"].includes(gens.find((g) => g.gen === l.gen)!.state);
      const r = opensslVerify(["-partial_chain", "-attime", unix, "-CAfile", join(dir, "bundles", `${scope}.pem`), join(dir, cert)]);
      assert.is(r.ok, live, `openssl on ${cert} against bundles/${scope}.pem (issuer G${l.gen} ${live ? "live" : "revoked"}): ${r.out}`);
    }
  }
}

interface Child {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
}
/**
 * Run the CLI as a child. `kill`: SIGKILL it `ms` after it printed its plan (so inside the apply),
 * or `ms` after its redo log appeared in `staging` (so inside the commit). Reports how
 * long the apply and the commit took.
 */
function child(argv: string[], env: Record<string, string | undefined>, kill?: { after: "plan" | "staged"; ms: number }, staging?: string): Promise<Child & { applyMs: number; commitMs: number }> {
  return new Promise((resolve) => {
    // No terminal: root-posture runs need --yes (lib/term/confirm.ts); the re-run gets it too.
    const yes = argv[0] === "pki" || argv[0] === "run" ? ["--yes"] : [];
    const p = spawn(process.execPath, [join(ROOT, "bin/inforge.js"), ...argv, ...yes], { env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let planned = 0;
    let staged = 0;
    let timer: NodeJS.Timeout | null = null;
    const arm = (after: "plan" | "staged") => {
      if (kill?.after === after) timer = setTimeout(() => p.kill("SIGKILL"), kill.ms);
    };
    // The redo log (journal/…pending.redo, lib/store/redo.ts) marks the start of the commit.
    const poll = staging === undefined ? null : setInterval(() => {
      if (staged) return;
      try {
        if (readdirSync(staging).some((n) => n.endsWith(".redo"))) {
          staged = Date.now();
          arm("staged");
        }
      } catch {
        // not created yet
      }
    }, 1);
    p.stdout.on("data", (b: Buffer) => {
      out += b;
      if (!planned && out.includes("plan:")) {
        planned = Date.now();
        arm("plan");
      }
    });
    p.stderr.on("data", (b: Buffer) => (out += b));
    p.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      resolve({ code, signal, out, applyMs: planned ? Date.now() - planned : 0, commitMs: staged ? Date.now() - staged : 0 });
    });
  });
}

/** One promise chain at a time for the in-process checks (cli() captures the process's stdout). */
let gate: Promise<unknown> = Promise.resolve();
const serial = <T>(f: () => Promise<T>): Promise<T> => {
  const p = gate.then(f);
  gate = p.catch(() => {});
  return p;
};
async function pool<T>(items: readonly T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const errors: unknown[] = [];
  await Promise.all(Array.from({ length: n }, async () => {
    for (let x = queue.shift(); x !== undefined; x = queue.shift()) await f(x).catch((e) => errors.push(e));
  }));
  if (errors.length) throw errors[0];
}

const tally = { exercised: 0, survived: 0, old: 0, resumable: 0, finished: 0, points: new Set<string>() };

interface Reference {
  readonly files: string[];
  readonly state: string;
  readonly journal: number;
  readonly written: number;
}

/** The tree an uninterrupted run of `rb` makes, as the crash runs must end. */
async function reference(rb: Runbook): Promise<Reference> {
  const { dir, out } = workdir(rb.from);
  await ok(cli(rb.argv(out), rb.env(dir)));
  // The run's entry is the last of the journal it wrote: the directory's, or its scope's.
  const journal = listFiles(dir).filter((f) => f.startsWith("journal/") && f.endsWith(".jsonl")).sort((a, b) => statSync(join(dir, b)).mtimeMs - statSync(join(dir, a)).mtimeMs)[0]!;
  const last = JSON.parse(readFileSync(join(dir, journal), "utf8").trim().split("\n").at(-1)!) as { files: unknown[] };
  // The commit also staged the leaf certificates its scopes' manifests record instead of the entry
  // (lib/store/manifest.ts): each one new or changed since the tree the run started from.
  const from = rb.from ? tpl(rb.from) : null;
  const folded = listFiles(dir).filter((f) => /^leaves\/[^/]+\/[^/]+\.crt\.pem$/.test(f) && !(from && existsSync(join(from, f)) && readFileSync(join(from, f)).equals(readFileSync(join(dir, f))))).length;
  return { files: listFiles(dir), state: maskedState(dir), journal: journalLength(dir), written: last.files.length + folded };
}

/** What a kill left, as verify sees it: the old tree, a resumable one, or the finished one. Never a lost key. */
async function classify(rb: Runbook, dir: string, out: string, before: string, ref: Reference, what: string): Promise<"old" | "resumable" | "finished"> {
  const v = await verify(dir, verifyEnv(dir, out), T1);
  const errors = errorCodes(v.report);
  const lost = v.report.findings.filter((f) => /^key\.(missing|mismatch|unreadable)$/.test(f.code));
  assert.equal(lost, [], `${what}: a key is lost or unusable:\n${findingsOf(v.report)}`);
  if (hasPending(dir)) {
    assert.equal(errors, ["commit.pending"], `${what}: a resumable state must verify clean but for the pending run:\n${findingsOf(v.report)}`);
    return "resumable";
  }
  if (contentHash(dir) === before) {
    assert.equal(errors, rb.from ? [] : ["state.uninitialised"], `${what}: the old tree must verify as before:\n${findingsOf(v.report)}`);
    return "old";
  }
  assert.equal(errors, [], `${what}: neither the old tree nor resumable, and not a clean new one:\n${findingsOf(v.report)}`);
  assert.is(maskedState(dir), ref.state, `${what}: a finished tree that is not the one an uninterrupted run makes`);
  return "finished";
}

/** Re-run the same command (in-process), then the finished tree must be the reference and pass every real verifier. */
async function converge(rb: Runbook, dir: string, out: string, ref: Reference, what: string): Promise<void> {
  const again = await cli(rb.argv(out), rb.env(dir));
  assert.is(again.code, 0, `${what}: the re-run failed: ${again.err}`);
  assert.not.ok(hasPending(dir), `${what}: the re-run left a pending record`);
  const v = await verify(dir, verifyEnv(dir, out), T1);
  assert.equal(errorCodes(v.report), [], `${what}: the converged tree does not verify:\n${findingsOf(v.report)}`);
  assert.equal(listFiles(dir), ref.files, `${what}: the converged tree has other files than an uninterrupted run`);
  assert.is(maskedState(dir), ref.state, `${what}: the converged state differs from an uninterrupted run's`);
  assert.is(journalLength(dir), ref.journal, `${what}: the journal has another length than an uninterrupted run's`);
  assert.ok(!rb.argv(out).includes("init") || existsSync(out), `${what}: the root identity is not at --identity-out`);
  assert.not.ok(existsSync(out + ".partial"), `${what}: the root identity was left in ${out}.partial`);
  realVerifiers(dir, rb.from ? sb.rootKey : out);
  assertNoPlaintextKeys(dir);
}

/** The crash points of a commit that writes `n` files (see crashPoint in lib/store/fs-store.ts). */
function crashPoints(n: number): string[] {
  const some = () => 1 + Math.floor(random() * n);
  if (!FULL) {
    const before = [`stage:${some()}`, `stage-torn:${some()}`, "beside:1", "pending-torn"][Math.floor(random() * 4)]!;
    const after = [`write:${some()}`, `write-torn:${some()}`, "journal-torn", "journal"][Math.floor(random() * 4)]!;
    return [before, "pending", after, "committed"];
  }
  const every = Array.from({ length: n }, (_, i) => i + 1);
  return [
    ...every.map((i) => `stage:${i}`), ...every.map((i) => `stage-torn:${i}`), "beside:1", "pending-torn", "pending",
    ...every.map((i) => `write:${i}`), ...every.map((i) => `write-torn:${i}`), "journal-torn", "journal", "committed",
  ];
}

for (const rb of RUNBOOKS) {
  test(`${rb.name}: killed at every crash point of its commit, it leaves the old or a resumable tree, and the re-run converges`, async () => {
    const ref = await serial(() => reference(rb));
    const points = [...new Set(crashPoints(ref.written))];
    await pool(points, PARALLEL, async (point) => {
      const what = `${rb.name} killed at ${point}`;
      const { dir, out } = workdir(rb.from);
      const before = contentHash(dir);
      tally.exercised++;
      tally.points.add(point.replace(/:\d+$/, ":n"));
      const c = await child(rb.argv(out), { ...rb.env(dir), INFORGE_CRASH_AT: point, PATH: process.env.PATH });
      assert.is(c.signal, "SIGKILL", `${what}: the crash point did not fire (exit ${c.code}): ${c.out}`);
      await serial(async () => {
        tally[await classify(rb, dir, out, before, ref, what)]++;
        await converge(rb, dir, out, ref, what);
      });
      tally.survived++;
    });
  });
}

test("renews of a bigger region SIGKILLed at random instants end in the old, a resumable or the finished tree, and converge", async () => {
  const services = Array.from({ length: 40 }, (_, i) => `svc${i}`);
  const big = sandbox({ global: ["auth"], big: services });
  const dirOf = mkdtempSync(join(big.base, "tpl-"));
  const t = join(dirOf, "pki");
  const env = (dir: string, key: "ci" | "root") => ({ ...big.env(key === "ci" ? { INFORGE_SECRETS_KEY: big.ciKey } : { INFORGE_PKI_ROOT_KEY: big.rootKey }), INFORGE_PKI_DIR: dir, INFORGE_NOW: T1 });
  await ok(cli(["pki", "init", "--domain", "mesh.test", "--identity-out", big.rootKey], env(t, "ci")));
  for (const s of ["global", "big"]) await ok(cli(["pki", "intermediate", s], env(t, "root")));
  const argv = ["pki", "renew", "--region", "big"];
  const copy = () => {
    const d = join(mkdtempSync(join(big.base, "kill-")), "pki");
    cpSync(t, d, { recursive: true });
    return d;
  };
  const refDir = copy();
  const whole = await child(argv, { ...env(refDir, "ci"), PATH: process.env.PATH }, undefined, join(refDir, "journal/scopes"));
  const duration = whole.applyMs; // from the plan on screen to exit: the signing and the commit
  const commit = Math.max(whole.commitMs, 1); // from the redo log's appearance to exit
  assert.is(whole.code, 0, whole.out);
  const ref = { files: listFiles(refDir), state: maskedState(refDir), journal: journalLength(refDir), written: 0 };
  const landed: string[] = [];
  const sbVerify = (d: string) => ({ ...big.env({ INFORGE_SECRETS_KEY: big.ciKey, INFORGE_PKI_ROOT_KEY: big.rootKey }), INFORGE_PKI_DIR: d });
  for (let k = 0; k < KILLS; k++) {
    // Every other kill lands uniformly over the apply of an uninterrupted run (after the plan is
    // printed), the others uniformly over its commit (after its redo log appears): the
    // commit is a small part of the apply, and the part where a kill can do harm.
    const from = k % 2 ? "staged" : "plan";
    const delay = Math.round((from === "plan" ? duration : commit) * 1.1 * random());
    const dir = copy();
    const before = contentHash(dir);
    const c = await child(argv, { ...env(dir, "ci"), PATH: process.env.PATH }, { after: from, ms: delay }, join(dir, "journal/scopes"));
    const what = `renew killed ${delay} ms after the ${from === "plan" ? "plan was printed" : "commit began"}`;
    const v = await verify(dir, sbVerify(dir), T1);
    const lost = v.report.findings.filter((f) => /^key\.(missing|mismatch|unreadable)$/.test(f.code));
    assert.equal(lost, [], `${what}: a key is lost:\n${findingsOf(v.report)}`);
    let kind: string;
    if (c.signal !== "SIGKILL") kind = "finished before the kill";
    else if (hasPending(dir)) {
      assert.equal(errorCodes(v.report), ["commit.pending"], `${what}:\n${findingsOf(v.report)}`);
      kind = "resumable";
    } else if (contentHash(dir) === before) {
      assert.equal(errorCodes(v.report), [], `${what}:\n${findingsOf(v.report)}`);
      kind = "old";
    } else {
      assert.equal(errorCodes(v.report), [], `${what}:\n${findingsOf(v.report)}`);
      kind = "finished";
    }
    landed.push(`${delay} ms after the ${from === "plan" ? "plan" : "redo log appeared"}: ${kind}`);
    const again = await cli(argv, env(dir, "ci"));
    assert.is(again.code, 0, `${what}: re-run failed: ${again.err}`);
    const after = await verify(dir, sbVerify(dir), T1);
    assert.equal(errorCodes(after.report), [], `${what}:\n${findingsOf(after.report)}`);
    assert.equal(listFiles(dir), ref.files, what);
    assert.is(maskedState(dir), ref.state, what);
    const unix = String(Math.floor(Date.parse(T1) / 1000));
    const leaves = services.map((s) => join(dir, "leaves/big", `${s}.crt.pem`));
    const o = opensslVerify(["-partial_chain", "-attime", unix, "-CAfile", join(dir, "bundles/big.pem"), ...leaves]);
    assert.ok(o.ok, `${what}: ${o.out}`);
    assertNoPlaintextKeys(dir);
  }
  console.log(`faults: ${KILLS} random SIGKILLs during renews of 40 leaves (an uninterrupted apply takes ${duration} ms, its commit ${commit} ms): ${landed.join("; ")}`);
});

test.after(() => {
  console.log(`faults: ${tally.exercised} crash points exercised, ${tally.survived} survived (left the old tree ${tally.old}, a resumable one ${tally.resumable}, the finished one ${tally.finished}); kinds: ${[...tally.points].sort().join(", ")}${FULL ? "" : "; INFORGE_FAULTS=full runs every point"}`);
});

test.run();
