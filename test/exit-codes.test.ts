// What used to end in exit 70 with a stack trace (issue 11, part 6) now ends in one sentence and
// exit 1, with the state byte-identical: a full disk and a read-only file system (a real tmpfs,
// when this machine lets the test mount one), --dir/--out naming a file, a 5 MB CSR, names whose
// certificates would break a limit. And under umask 000 no directory inforge makes is 0777.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, rootEnv, run, sandbox, type CliResult } from "./helpers.ts";
import { assertOneLine, clone } from "./safety-helpers.ts";
import { lstatHash, mountTmpfs, remountReadOnly, unmount } from "./fs-guard.ts";
import { decodePemBlocks } from "../lib/x509/pem.ts";
import { X509Error } from "../lib/x509/errors.ts";

const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout"] });
await buildTree(sb, ["global", "eu"]);
const LEAF = ["pki", "rotate", "--leaf", "payments", "--region", "eu"];

/** One sentence, the documented exit code, no stack. */
function refused(r: CliResult, what: string, message: RegExp, code = 1): void {
  assert.is(r.code, code, `${what}: exit ${r.code}: ${r.err}`);
  assertOneLine(r.err, what);
  assert.match(r.err, /^inforge: /);
  assert.not.match(r.err, /\n\s+at /);
  assert.match(r.err, message, `${what}: ${r.err}`);
}

test("--dir naming a regular file, or a path under one, is refused for every kind of command", async () => {
  const base = mkdtempSync(join(sb.base, "file-"));
  const file = join(base, "afile");
  writeFileSync(file, "not a directory\n");
  for (const argv of [["pki", "renew"], ["pki", "status"], ["pki", "verify"], ["pki", "init", "--domain", "mesh.test"]]) {
    refused(await cli([...argv, "--dir", file], ciEnv(sb)), `${argv[1]} --dir file`, /--dir ".*afile" is a file, not a pki directory; point --dir/);
  }
  refused(await cli(["pki", "init", "--domain", "mesh.test", "--dir", join(file, "pki")], ciEnv(sb)), "init --dir under a file", /--dir ".*afile\/pki" lies under .*afile, which is not a directory/);
  assert.is(statSync(file).isFile(), true);
});

test("--out naming a regular file, or a path under one, is refused before anything is minted", async () => {
  const dir = clone(sb);
  const file = join(dir, "..", "afile");
  writeFileSync(file, "x");
  const before = lstatHash(dir);
  const env = { ...ciEnv(sb), INFORGE_PKI_DIR: dir };
  refused(await cli(["deploy", "payments", "--region", "eu", "--out", file], env), "deploy --out file", /--out ".*afile" is a file, not a directory/);
  refused(await cli(["deploy", "payments", "--region", "eu", "--out", join(file, "x")], env), "deploy --out under a file", /lies under .*afile, which is not a directory/);
  assert.is(lstatHash(dir), before);
});

test("a 5 MB CSR is refused with one sentence; the PEM reader decodes a 5 MB block without overflowing the stack", async () => {
  const dir = clone(sb);
  const csr = join(dir, "..", "big.csr");
  const body = "QUFB".repeat((5 * 1024 * 1024) / 4).replace(/(.{64})/g, "$1\n");
  writeFileSync(csr, `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n`);
  const before = lstatHash(dir);
  const r = await cli(["pki", "sign-csr", "--region", "eu", "--service", "payments", csr], { ...ciEnv(sb), INFORGE_PKI_DIR: dir });
  refused(r, "5 MB CSR", /the CSR ".*big\.csr" is \d+ bytes; a certificate request is at most 64 KiB/);
  assert.is(lstatHash(dir), before);
  // The library path: strict base64 checked by a loop, not a regexp (RangeError before).
  const blocks = decodePemBlocks(`-----BEGIN X-----\n${body}\n-----END X-----\n`, (w) => w);
  assert.is(blocks[0]!.der.length, 5 * 1024 * 1024 * 0.75);
  assert.throws(() => decodePemBlocks(`-----BEGIN X-----\n${body}A\n-----END X-----\n`, (w) => w), (e: unknown) => e instanceof X509Error);
});

test("a service whose leaf name would exceed the 64-character common name is refused when the region file is read, naming the file and the service", async () => {
  const dir = clone(sb);
  const regions = join(dir, "..", "regions");
  cpSync(sb.regions, regions, { recursive: true });
  const long = "s".repeat(50); // a valid label: 50 + ".eu.mesh.test" = 63 fits; 55 does not
  writeFileSync(join(regions, "eu.json"), JSON.stringify({ name: "eu", services: ["payments", "checkout", "s".repeat(55)] }));
  const before = lstatHash(dir);
  const env = { ...ciEnv(sb), INFORGE_PKI_DIR: dir, INFORGE_REGIONS_DIR: regions };
  for (const argv of [["pki", "renew"], ["pki", "renew", "--region", "global"], LEAF]) {
    refused(await cli(argv, env), argv.join(" "), /regions\/eu\.json: the service "s{55}" would get the name "s{55}\.eu\.mesh\.test" \(68 characters\) under the domain of pki\.json \("mesh\.test"\), but a certificate's common name holds at most 64 .*; shorten the service name to at most 51 characters/);
  }
  assert.is(lstatHash(dir), before);
  writeFileSync(join(regions, "eu.json"), JSON.stringify({ name: "eu", services: ["payments", "checkout", long] }));
  await ok(cli(["pki", "renew", "--region", "eu"], env));
});

test("init --domain that leaves a region's service no room, or is longer than 60 characters, is refused and leaves no directory", async () => {
  const base = mkdtempSync(join(sb.base, "init-"));
  const regions = join(base, "regions");
  mkdirSync(regions);
  writeFileSync(join(regions, "eu.json"), JSON.stringify({ name: "eu", services: ["payments-reconciliation-worker"] }));
  const env = ciEnv(sb, { INFORGE_PKI_DIR: join(base, "pki"), INFORGE_REGIONS_DIR: regions });
  const domain = "very-long-mesh-name.platform.example.internal"; // 45: payments-… (30) + eu + domain = 79
  const r = await cli(["pki", "init", "--domain", domain, "--identity-out", join(base, "root.key")], env);
  refused(r, "init long names", /regions\/eu\.json: the service "payments-reconciliation-worker" would get the name .* under the domain of --domain ".*", but a certificate's common name holds at most 64/);
  const r2 = await cli(["pki", "init", "--domain", `${"d".repeat(50)}.example.internal`, "--identity-out", join(base, "root.key")], { ...env, INFORGE_REGIONS_DIR: join(base, "none") });
  refused(r2, "init domain > 60", /the domain of --domain ".*" is 67 characters, .* choose a domain of at most 60 characters/);
  assert.not.ok(existsSync(join(base, "pki")), "a failed init left a pki directory");
  assert.not.ok(existsSync(join(base, "root.key")) || existsSync(join(base, "root.key.partial")));
});

test("under umask 000 every directory inforge creates has an explicit mode (pki 0755, deploy 0700), none world-writable", async () => {
  const fresh = sandbox({ global: ["auth"], eu: ["payments"] });
  const old = process.umask(0o000);
  try {
    await buildTree(fresh, ["global", "eu"]);
    await ok(cli(["deploy", "payments", "--region", "eu", "--out", join(fresh.base, "out/eu/payments")], ciEnv(fresh)));
  } finally {
    process.umask(old);
  }
  const modes: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const m = statSync(p).mode & 0o777;
      if (m & 0o002) modes.push(`${p} ${m.toString(8)}`);
      if (e.isDirectory()) {
        assert.is(m, d.startsWith(join(fresh.base, "out")) || p.startsWith(join(fresh.base, "out")) ? 0o700 : 0o755, `${p} has mode ${m.toString(8)}`);
        walk(p);
      }
    }
  };
  assert.is(statSync(fresh.dir).mode & 0o777, 0o755);
  walk(fresh.dir);
  walk(join(fresh.base, "out"));
  assert.equal(modes, [], "world-writable entries");
  assert.is(statSync(join(fresh.base, "out/eu/payments/tls.key")).mode & 0o777, 0o600);
  const v = await cli(["pki", "verify"], ciEnv(fresh));
  assert.is(v.code, 0, v.out + v.err);
  rmSync(fresh.base, { recursive: true, force: true });
});

// A real full disk and a real read-only file system: a small tmpfs (root only).
const mnt = mkdtempSync(join(tmpdir(), "inforge-tmpfs-"));
const mounted = mountTmpfs(mnt, "2m");
if (!mounted) console.log("exit-codes: cannot mount a tmpfs here; the ENOSPC/EROFS tests are skipped (they need root)");

/** Fill the tmpfs so that about `free` bytes are left. */
function fill(free: number): void {
  const avail = Number(run("df", ["-B1", "--output=avail", mnt]).stdout.trim().split("\n").at(-1));
  writeFileSync(join(mnt, "filler"), Buffer.alloc(Math.max(0, avail - free)));
}

for (const free of [0, 12 * 1024]) {
  test(`a full disk (${free} bytes left) while renewing: one sentence, exit 1, the pki directory byte-identical`, async () => {
    if (!mounted) return;
    const dir = join(mnt, `pki-${free}`);
    cpSync(sb.dir, dir, { recursive: true });
    fill(free);
    try {
      const before = lstatHash(dir);
      const r = await cli(LEAF, { ...ciEnv(sb), INFORGE_PKI_DIR: dir });
      console.log(`exit-codes: ${free} bytes left → ${r.err.trim()}`);
      refused(r, "ENOSPC", /cannot .*: no space is left on the device \(ENOSPC\); free some space and run the command again — nothing was changed/);
      assert.is(lstatHash(dir), before, "the pki directory changed");
    } finally {
      rmSync(join(mnt, "filler"), { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("a full disk under deploy's out directory: one sentence, exit 1, nothing half-written", async () => {
  if (!mounted) return;
  const dir = clone(sb);
  const out = join(mnt, "out");
  fill(0);
  try {
    const r = await cli(["deploy", "payments", "--region", "eu", "--out", out], { ...ciEnv(sb), INFORGE_PKI_DIR: dir });
    refused(r, "deploy ENOSPC", /no space is left on the device \(ENOSPC\)/);
    assert.equal(existsSync(out) ? readdirSync(out) : [], []);
  } finally {
    rmSync(join(mnt, "filler"), { force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

test("a read-only file system: one sentence, exit 1, nothing changed", async () => {
  if (!mounted) return;
  const dir = join(mnt, "pki-ro");
  cpSync(sb.dir, dir, { recursive: true });
  remountReadOnly(mnt);
  const before = lstatHash(dir);
  for (const [argv, env] of [[LEAF, ciEnv(sb)], [["pki", "rotate", "--intermediate", "eu", "--force"], rootEnv(sb)]] as const) {
    const r = await cli([...argv], { ...env, INFORGE_PKI_DIR: dir });
    refused(r, "EROFS", /the file system is read-only \(EROFS\); run it where the directory is writable and run the command again/);
  }
  assert.is(lstatHash(dir), before);
});

test.after(() => {
  if (mounted) unmount(mnt);
  rmSync(mnt, { recursive: true, force: true });
  rmSync(sb.base, { recursive: true, force: true });
});
test.run();
