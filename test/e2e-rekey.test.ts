// `inforge pki rekey`: every key an identity holds is re-sealed to a new recipient in one commit.
// The age CLI is the judge: the new identity opens every re-sealed key, the old one none. A run
// SIGKILLed mid-commit (the store's crash points) leaves the old set or, after the next run, the
// new one — never a key sealed to nobody.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, files, ok, rootEnv, ROOT, run, sandbox, type Sandbox } from "./helpers.ts";

const newIdentity = (sb: Sandbox, name: string) => {
  const path = join(sb.base, name);
  run("age-keygen", ["-o", path]);
  return { path, recipient: run("age-keygen", ["-y", path]).stdout.trim() };
};
const opens = (sb: Sandbox, identity: string, rel: string) => run("age", ["-d", "-i", identity, join(sb.dir, rel)]).status === 0;
const ciKeys = (sb: Sandbox) => files(sb.dir).filter((f) => /^(scopes\/.*\.key\.age|leaves\/.*\.age)$/.test(f));
const recipients = (sb: Sandbox) => JSON.parse(readFileSync(join(sb.dir, "pki.json"), "utf8")).recipients;
/** The offline workstation accepts a new CI recipient into the root-signed custody record (pki.json + pki config). */
const acceptCi = async (sb: Sandbox, recipient: string, env = rootEnv(sb)) => {
  const path = join(sb.dir, "pki.json");
  const cfg = JSON.parse(readFileSync(path, "utf8"));
  cfg.recipients.ci = recipient;
  writeFileSync(path, JSON.stringify(cfg, null, 2) + "\n");
  return ok(cli(["pki", "config"], env));
};

// One tree for the first three tests (CI re-key, then root re-key, then refusals).
const sb = sandbox();
await buildTree(sb);
const ci2 = newIdentity(sb, "ci2.key");

test("rekey --ci-recipient re-seals every intermediate and leaf key to the recipient the root signed: the age CLI opens them with the new identity and not the old", async () => {
  const next = ci2;
  const keys = ciKeys(sb);
  assert.ok(keys.length >= 6, keys.join(", "));
  // CI cannot sign: a recipient the custody record does not hold is refused, nothing moves.
  const unsigned = await cli(["pki", "rekey", "--ci-recipient", next.recipient], ciEnv(sb));
  assert.is(unsigned.code, 1);
  assert.match(unsigned.err, /is not the CI recipient the root signed .*inforge pki config \(root posture\)/);
  for (const k of keys) assert.ok(opens(sb, sb.ciKey, k), `${k} moved on a refused rekey`);
  const review = await acceptCi(sb, next.recipient);
  assert.match(review.out, /recipients\.ci/);
  assert.match(review.out, new RegExp(`inforge pki rekey --ci-recipient ${next.recipient}`));
  // Between pki config and the re-seal, CI refuses work rather than mixing recipients.
  assert.match((await cli(["pki", "renew"], ciEnv(sb))).err, /INFORGE_SECRETS_KEY holds the identity of .*but this pki directory seals ci keys to/);
  const r = await ok(cli(["pki", "rekey", "--ci-recipient", next.recipient], ciEnv(sb)));
  assert.match(r.out, new RegExp(`applied: ${keys.length} key\\(s\\) re-sealed to ${next.recipient}, pki.json and custody.json already name it, in one commit`));
  for (const k of keys) {
    assert.ok(opens(sb, next.path, k), `new identity cannot open ${k}`);
    assert.not.ok(opens(sb, sb.ciKey, k), `old identity still opens ${k}`);
  }
  assert.not.ok(opens(sb, next.path, "root/G1.key.age"), "root keys are not CI's");
  assert.is(recipients(sb).ci, next.recipient);
  // CI goes on with the new identity; the old one is refused by name.
  await ok(cli(["pki", "rotate", "--leaf", "payments", "--region", "eu"], sb.env({ INFORGE_SECRETS_KEY: next.path })));
  const old = await cli(["pki", "renew"], ciEnv(sb));
  assert.match(old.err, /INFORGE_SECRETS_KEY holds the identity of .*but this pki directory seals ci keys to/);
  const again = await ok(cli(["pki", "rekey", "--ci-recipient", next.recipient], ciEnv(sb)));
  assert.match(again.out, /nothing to do: no intermediate or leaf keys opens with INFORGE_SECRETS_KEY .*sealed to .* already/);
  const done = await ok(cli(["pki", "rekey", "--ci-recipient", next.recipient], sb.env({ INFORGE_SECRETS_KEY: next.path })));
  assert.match(done.out, /nothing to do: pki\.json already seals the intermediate and leaf keys/);
});

test("rekey --root-recipient re-seals the root keys in root posture; the CI identity cannot do it", async () => {
  const next = newIdentity(sb, "root2.key");
  const ci = await cli(["pki", "rekey", "--root-recipient", next.recipient], sb.env({ INFORGE_SECRETS_KEY: ci2.path }));
  assert.is(ci.code, 3);
  assert.match(ci.err, /needs the current offline root identity to open them: set INFORGE_PKI_ROOT_KEY \(root posture\)/);
  const r = await ok(cli(["pki", "rekey", "--root-recipient", next.recipient], rootEnv(sb)));
  assert.match(r.out, /pki\.json and custody\.json updated, in one commit/);
  assert.is(JSON.parse(readFileSync(join(sb.dir, "custody.json"), "utf8")).config.recipients.root, next.recipient);
  assert.ok(opens(sb, next.path, "root/G1.key.age"));
  assert.not.ok(opens(sb, sb.rootKey, "root/G1.key.age"));
  assert.ok(opens(sb, ci2.path, "scopes/global/G1.key.age"), "CI keys untouched");
  writeFileSync(join(sb.regions, "ap.json"), JSON.stringify({ name: "ap", services: ["search"] }));
  await ok(cli(["pki", "intermediate", "ap"], sb.env({ INFORGE_PKI_ROOT_KEY: next.path })));
});

test("rekey refuses the other posture's recipient, a malformed recipient, and two flags at once", async () => {
  const same = await cli(["pki", "rekey", "--ci-recipient", recipients(sb).root], sb.env({ INFORGE_SECRETS_KEY: ci2.path }));
  assert.match(same.err, /is the offline root recipient; the two identities must stay separate/);
  const bad = await cli(["pki", "rekey", "--ci-recipient", "age1nope"], ciEnv(sb));
  assert.is(bad.code, 1);
  assert.match(bad.err, /--ci-recipient/);
  const both = await cli(["pki", "rekey", "--ci-recipient", "x", "--root-recipient", "y"], ciEnv(sb));
  assert.match(both.err, /needs exactly one of --ci-recipient/);
});

/** The CLI as a real process (so a crash point can SIGKILL it). */
const child = (argv: string[], env: Record<string, string | undefined>) =>
  spawnSync(process.execPath, [join(ROOT, "bin/inforge.js"), ...argv], { env: env as NodeJS.ProcessEnv, encoding: "utf8" });

test("a rekey killed before its commit point changes nothing; one killed after it is finished by the next run", async () => {
  const sb = sandbox();
  await buildTree(sb, ["global", "eu"]);
  const next = newIdentity(sb, "ci2.key");
  const keys = ciKeys(sb);
  const argv = ["pki", "rekey", "--ci-recipient", next.recipient];
  await acceptCi(sb, next.recipient);

  const early = child(argv, ciEnv(sb, { INFORGE_CRASH_AT: "stage:3" }));
  assert.is(early.signal, "SIGKILL", early.stderr);
  await ok(cli(["pki", "status"], ciEnv(sb)));
  await ok(cli(["pki", "crl"], rootEnv(sb))); // recovers (discards the redo log) and runs
  for (const k of keys) assert.ok(opens(sb, sb.ciKey, k) && !opens(sb, next.path, k), `${k} after a crash before the commit point`);

  const late = child(argv, ciEnv(sb, { INFORGE_CRASH_AT: "write:2" }));
  assert.is(late.signal, "SIGKILL", late.stderr);
  const resumed = await ok(cli(argv, ciEnv(sb))); // rolls the commit forward, then has nothing left to do
  assert.match(resumed.out, /nothing to do/);
  for (const k of keys) assert.ok(opens(sb, next.path, k) && !opens(sb, sb.ciKey, k), `${k} after a crash past the commit point`);
  assert.is(recipients(sb).ci, next.recipient);
});

test.run();
