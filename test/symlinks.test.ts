// No write of inforge follows a symbolic link (issue 11, part 3). Each route an attacker with
// write access to the infra repo (git stores symlinks) had is replayed on a copy of a real tree:
// the run is refused with one sentence — or, for a stale staging name, the link is replaced —
// and the link's target and the pki directory are byte-identical afterwards.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, linkSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, ROOT, run, sandbox } from "./helpers.ts";
import { assertNoPlaintextKeys, assertOneLine, clone } from "./safety-helpers.ts";
import { lstatHash } from "./fs-guard.ts";
import { SAMPLE_PKCS8 } from "./fixtures/pem.ts";
import { iso } from "./tree-checks.ts";

const D = 86_400_000;
const T0 = Date.now();
const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout"] });
await buildTree(sb, ["global", "eu"], iso(T0));

const VICTIM = "the victim's own bytes\n";
/** A copy of the tree in a directory of its own, with a victim file beside it. */
function copy(): { dir: string; base: string; victim: string; env: Record<string, string | undefined> } {
  const dir = clone(sb);
  const base = join(dir, "..");
  const victim = join(base, "victim");
  writeFileSync(victim, VICTIM, { mode: 0o644 });
  return { dir, base, victim, env: { ...ciEnv(sb), INFORGE_PKI_DIR: dir } };
}
const deployArgs = (out: string) => ["deploy", "payments", "--region", "eu", "--out", out];
const LEAF = ["pki", "rotate", "--leaf", "payments", "--region", "eu"];

test("a committed symlink deploy -> pki does not lead deploy's plaintext key into the pki directory", async () => {
  const c = copy();
  symlinkSync("pki", join(c.base, "deploy"));
  const before = lstatHash(c.dir);
  const r = await cli(deployArgs(join(c.base, "deploy/eu/payments")), c.env);
  assert.is(r.code, 1, r.err);
  assertOneLine(r.err, "deploy -> pki");
  assert.match(r.err, /--out ".*deploy\/eu\/payments" is inside the pki directory .* \(it resolves to .*pki\/eu\/payments\); deploy writes a plaintext private key/);
  assert.is(lstatHash(c.dir), before, "the pki directory changed");
  assertNoPlaintextKeys(c.dir);
});

test("a `..` after a symlinked parent is followed where the kernel follows it, not lexically", async () => {
  const c = copy();
  // link -> pki/leaves; link/../x is pki/x physically, though path.resolve says <base>/x.
  symlinkSync("pki/leaves", join(c.base, "link"));
  const before = lstatHash(c.dir);
  const r = await cli(deployArgs(`${c.base}/link/../x`), c.env); // (path.join would fold the `..` lexically)
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /is inside the pki directory .* \(it resolves to .*\/pki\/x\)/);
  assert.is(lstatHash(c.dir), before);
  assert.not.ok(existsSync(join(c.base, "x")));
});

test("--dir given through a symlink is resolved once: an --out inside its real directory is refused", async () => {
  const c = copy();
  symlinkSync(c.dir, join(c.base, "pki-link"));
  const before = lstatHash(c.dir);
  const r = await cli([...deployArgs(join(c.dir, "out")), "--dir", join(c.base, "pki-link")], c.env);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /is inside the pki directory/);
  assert.is(lstatHash(c.dir), before);
  // And the symlinked --dir itself works: it names the real directory.
  await ok(cli(["pki", "renew", "--dir", join(c.base, "pki-link")], c.env));
});

test("an out directory that is itself a symlink is refused", async () => {
  const c = copy();
  mkdirSync(join(c.base, "elsewhere"));
  symlinkSync("elsewhere", join(c.base, "out"));
  const r = await cli(deployArgs(join(c.base, "out")), c.env);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /--out ".*out" is a symbolic link; deploy never writes a private key through one/);
  assert.not.ok(existsSync(join(c.base, "elsewhere/tls.key")));
});

for (const [what, rel] of [["pki/leaves/eu", "leaves/eu"], ["pki/journal", "journal"]] as const) {
  test(`${what} as a symlink to a directory outside: the run is refused before anything is written, the outside untouched`, async () => {
    const c = copy();
    const outside = join(c.base, "outside");
    mkdirSync(outside);
    renameSync(join(c.dir, rel), join(outside, "moved"));
    symlinkSync(join(outside, "moved"), join(c.dir, rel));
    const [pkiBefore, outBefore] = [lstatHash(c.dir), lstatHash(outside)];
    const r = await cli(LEAF, c.env);
    assert.is(r.code, 1, r.err);
    assertOneLine(r.err, what);
    assert.match(r.err, new RegExp(`pki/${rel} is a symbolic link; inforge never writes through one — .* — nothing was changed`));
    assert.is(lstatHash(c.dir), pkiBefore, "the pki directory changed");
    assert.is(lstatHash(outside), outBefore, "the directory outside changed");
  });
}

test("a planted bundle file symlink is refused at commit, the victim untouched", async () => {
  const c = copy();
  rmSync(join(c.dir, "bundles/eu.pem"));
  symlinkSync(c.victim, join(c.dir, "bundles/eu.pem"));
  const before = lstatHash(c.dir);
  const r = await cli(["pki", "rotate", "--intermediate", "eu", "--force"], { ...c.env, INFORGE_PKI_ROOT_KEY: sb.rootKey, INFORGE_SECRETS_KEY: undefined });
  assert.is(r.code, 1, r.err);
  assertOneLine(r.err, "bundle symlink");
  assert.is(readFileSync(c.victim, "utf8"), VICTIM);
  assert.is(lstatHash(c.dir), before);
});

test("a planted staging name in the pki directory (x.inforge-new -> victim) is removed, never written through", async () => {
  const c = copy();
  symlinkSync(c.victim, join(c.dir, "leaves/eu/payments.crt.pem.inforge-new"));
  symlinkSync(c.victim, join(c.dir, "leaves/eu/keys.age.inforge-new"));
  await ok(cli(LEAF, c.env));
  assert.is(readFileSync(c.victim, "utf8"), VICTIM);
  assert.not.ok(existsSync(join(c.dir, "leaves/eu/keys.age.inforge-new")));
  assert.ok(lstatSync(join(c.dir, "leaves/eu/keys.age")).isFile());
});

test("files are written in place (lib/store/redo.ts), never through a second name: a hard link at a target is replaced, its other file untouched", async () => {
  const c = copy();
  const cert = join(c.dir, "leaves/eu/payments.crt.pem");
  const other = join(c.dir, "leaves/eu/checkout.crt.pem");
  const inode = lstatSync(other).ino;
  // payments.crt.pem becomes a second name of the victim, which holds the recorded bytes (so the tamper check passes).
  const recorded = readFileSync(cert, "utf8");
  writeFileSync(c.victim, recorded);
  rmSync(cert);
  linkSync(c.victim, cert);
  await ok(cli(["pki", "renew", "--region", "eu", "--at", iso(T0 + 6 * D)], c.env));
  assert.is(readFileSync(c.victim, "utf8"), recorded, "the renewal wrote through the hard link into the victim");
  assert.is(lstatSync(cert).nlink, 1, "the target still shares its inode with the victim");
  assert.is.not(readFileSync(cert, "utf8"), recorded);
  // An ordinary file with one name is rewritten in its own inode: no new file per leaf.
  assert.is(lstatSync(other).ino, inode);
  assert.is.not(readFileSync(other, "utf8"), readFileSync(join(sb.dir, "leaves/eu/checkout.crt.pem"), "utf8"));
});

test("a planted lock file symlink (.lock -> victim) is refused, the victim untouched", async () => {
  const c = copy();
  symlinkSync(c.victim, join(c.dir, ".lock"));
  const before = lstatHash(c.dir);
  const r = await cli(["pki", "renew"], c.env);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /\.lock is a symbolic link; inforge never writes through one — remove it/);
  assert.is(readFileSync(c.victim, "utf8"), VICTIM);
  assert.is(lstatHash(c.dir), before);
});

test("planted out/tls.key -> victim is refused before any file is written; planted out/tls.key.inforge-new -> victim is replaced", async () => {
  const c = copy();
  const out = join(c.base, "out");
  mkdirSync(out, { mode: 0o700 });
  symlinkSync(c.victim, join(out, "tls.key"));
  const outBefore = lstatHash(out);
  const r = await cli(deployArgs(out), c.env);
  assert.is(r.code, 1, r.err);
  assertOneLine(r.err, "out/tls.key symlink");
  assert.match(r.err, /out\/tls\.key is a symbolic link; inforge never writes through one — remove it/);
  assert.is(readFileSync(c.victim, "utf8"), VICTIM);
  assert.is(lstatHash(out), outBefore, "a file of the out directory was written");

  rmSync(join(out, "tls.key"));
  symlinkSync(c.victim, join(out, "tls.key.inforge-new"));
  symlinkSync(c.victim, join(out, "secret.yaml.inforge-new"));
  await ok(cli(deployArgs(out), c.env));
  assert.is(readFileSync(c.victim, "utf8"), VICTIM, "the key was written through the planted staging link");
  assert.ok(lstatSync(join(out, "tls.key")).isFile());
  assert.is(lstatSync(join(out, "tls.key")).mode & 0o777, 0o600);
  assert.not.ok(existsSync(join(out, "tls.key.inforge-new")));
});

test("pki init --identity-out with a planted root.key.partial -> victim writes the identity to a new file, never the victim", async () => {
  const fresh = sandbox({ eu: ["payments"] });
  try {
    const victim = join(fresh.base, "victim");
    writeFileSync(victim, VICTIM);
    symlinkSync(victim, fresh.rootKey + ".partial");
    await ok(cli(["pki", "init", "--domain", "mesh.test", "--identity-out", fresh.rootKey], ciEnv(fresh)));
    assert.is(readFileSync(victim, "utf8"), VICTIM);
    assert.ok(lstatSync(fresh.rootKey).isFile());
    assert.match(readFileSync(fresh.rootKey, "utf8"), /^AGE-SECRET-KEY-1/m);
    assert.is(lstatSync(fresh.rootKey).mode & 0o777, 0o600);
    assert.not.ok(existsSync(fresh.rootKey + ".partial"));
  } finally {
    rmSync(fresh.base, { recursive: true, force: true });
  }
});

// Plaintext keys one `git add -A` from the repository.
const GIT = { GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "ci", GIT_AUTHOR_EMAIL: "ci@example.test", GIT_COMMITTER_NAME: "ci", GIT_COMMITTER_EMAIL: "ci@example.test" };
function repo(c: { base: string }): (...args: string[]) => string {
  const git = (...args: string[]) => {
    const r = run("git", args, { cwd: c.base, env: { ...process.env, ...GIT, HOME: c.base } });
    if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  git("init", "--quiet", "--initial-branch=main");
  return git;
}

test("deploy --out inside a git work tree that does not ignore it is refused; --allow-in-repo allows it; an ignored path is allowed", async () => {
  const c = copy();
  repo(c);
  const out = join(c.base, "deploy/eu/payments");
  const r = await cli(deployArgs(out), c.env);
  assert.is(r.code, 1, r.err);
  assertOneLine(r.err, "out in repo");
  assert.match(r.err, /--out ".*deploy\/eu\/payments" is inside the git work tree .*, which does not ignore deploy\/eu\/payments\/tls\.crt: the plaintext private key would be one git add -A from the repository; .*--allow-in-repo/);
  assert.not.ok(existsSync(out));
  const rel = await cli(["releases", "deploy", "r1", "--out", join(c.base, "deploy")], { ...c.env, INFORGE_RELEASES_DIR: join(c.base, "releases") });
  // (no release file: refused for that first — make one)
  assert.is(rel.code, 1);
  mkdirSync(join(c.base, "releases"));
  writeFileSync(join(c.base, "releases/r1.json"), JSON.stringify({ name: "r1", deploy: [{ region: "eu", services: ["payments"] }] }));
  const rel2 = await cli(["releases", "deploy", "r1", "--out", join(c.base, "deploy")], { ...c.env, INFORGE_RELEASES_DIR: join(c.base, "releases") });
  assert.is(rel2.code, 1, rel2.err);
  assert.match(rel2.err, /is inside the git work tree .*, which does not ignore deploy\/eu\/payments\/tls\.crt/);

  await ok(cli([...deployArgs(out), "--allow-in-repo"], c.env));
  assert.ok(existsSync(join(out, "tls.key")));

  rmSync(join(c.base, "deploy"), { recursive: true });
  writeFileSync(join(c.base, ".gitignore"), "/deploy/\n");
  await ok(cli(deployArgs(out), c.env));
  await ok(cli(["releases", "deploy", "r1", "--out", join(c.base, "deploy")], { ...c.env, INFORGE_RELEASES_DIR: join(c.base, "releases") }));
  // Ignoring the certificates but not the key is not enough.
  writeFileSync(join(c.base, ".gitignore"), "*.crt\n");
  const again = await cli(deployArgs(join(c.base, "out2")), c.env);
  assert.is(again.code, 1, again.err);
  assert.match(again.err, /which does not ignore out2\/tls\.key/);
});

test("examples/nightly-renew.mjs commits nothing when verify fails (a plaintext key left under pki/)", () => {
  const c = copy();
  const git = repo(c);
  mkdirSync(join(c.base, "node_modules/.bin"), { recursive: true });
  symlinkSync(ROOT, join(c.base, "node_modules/inforge"));
  symlinkSync(join(ROOT, "node_modules/zx"), join(c.base, "node_modules/zx"));
  symlinkSync("../inforge/bin/inforge.js", join(c.base, "node_modules/.bin/inforge"));
  symlinkSync("../zx/build/cli.js", join(c.base, "node_modules/.bin/zx"));
  writeFileSync(join(c.base, "package.json"), JSON.stringify({ name: "infra", private: true, type: "module" }));
  writeFileSync(join(c.base, "nightly-renew.mjs"), readFileSync(join(ROOT, "examples/nightly-renew.mjs")));
  run("cp", ["-r", sb.regions, join(c.base, "regions")]);
  git("add", "pki");
  git("commit", "--quiet", "-m", "pki: initial tree");
  const head = git("rev-parse", "HEAD");
  // What a deploy through `deploy -> pki` left before this fix: a plaintext key under pki/.
  mkdirSync(join(c.dir, "eu/payments"), { recursive: true });
  writeFileSync(join(c.dir, "eu/payments/tls.key"), SAMPLE_PKCS8, { mode: 0o600 });
  const env = Object.fromEntries(Object.entries({ ...ciEnv(sb), ...GIT, HOME: c.base, INFORGE_PKI_DIR: "pki", INFORGE_REGIONS_DIR: "regions", INFORGE_NOW: iso(T0 + 5.5 * D) }).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
  const r = spawnSync(join(c.base, "node_modules/.bin/zx"), ["nightly-renew.mjs"], { cwd: c.base, env, encoding: "utf8", timeout: 180_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { ok: boolean; verified: boolean; commit: string | null; scopes: { applied: boolean }[] };
  assert.ok(summary.scopes.some((s) => s.applied), "the renewals applied (there was something to commit)");
  assert.is(summary.verified, false);
  assert.is(summary.commit, null);
  assert.match(r.stdout, /not committing pki: verify failed/);
  assert.is(git("rev-parse", "HEAD"), head, "a commit was made");
  assert.is(git("log", "--oneline").split("\n").length, 1);
});

test.after(() => rmSync(sb.base, { recursive: true, force: true }));
test.run();

