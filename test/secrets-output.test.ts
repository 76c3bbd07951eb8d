// Issue 11 part 5: no secret in any output. An identity variable that does not parse (quoted, a
// NAME= or `export NAME=` prefix, a comment on the same line, trailing text, a path that does not
// exist but is made of the key, the key's body without its prefix) is refused with one sentence
// that says what shape was expected — and no 8-character piece of the key's body appears on
// stdout or stderr, in text or --json. `pki init --json` prints one JSON document and no identity.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, sandbox, treeHash } from "./helpers.ts";
import { assertOneLine } from "./safety-helpers.ts";
import { parseIdentity } from "../lib/age/mod.ts";

const sb = sandbox();
await buildTree(sb);
test.after(() => rmSync(sb.base, { recursive: true, force: true }));

const keyOf = (file: string) => readFileSync(file, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-1"))!;
const ciSecret = keyOf(sb.ciKey);
const rootSecret = keyOf(sb.rootKey);

/** Every 8-character window of the key's body (after the public AGE-SECRET-KEY-1 prefix), case-folded. */
function leaks(text: string, secret: string): string[] {
  const body = secret.slice("AGE-SECRET-KEY-1".length).toUpperCase();
  const hay = text.toUpperCase();
  const out: string[] = [];
  for (let i = 0; i + 8 <= body.length; i++) if (hay.includes(body.slice(i, i + 8))) out.push(body.slice(i, i + 8));
  return out;
}

/** Malformed values made of a real key, each a way people paste one. */
const malformed = (name: string, s: string): [string, string][] => [
  ["double quotes", `"${s}"`],
  ["single quotes", `'${s}'`],
  ["a NAME= prefix", `${name}=${s}`],
  ["an export NAME= prefix", `export ${name}=${s}`],
  ["a YAML key", `key: ${s}`],
  ["a comment line first, newlines lost", `# created: 2026-11-30T00:00:00Z # public key: age1xyz ${s}`],
  ["trailing garbage", `${s} trailing`],
  ["trailing garbage glued on", `${s}XYZ`],
  ["a comment on the same line", `${s} # ci key`],
  ["lowercase and quoted", `"${s.toLowerCase()}"`],
  ["the body without its prefix", s.slice("AGE-SECRET-KEY-1".length)],
  ["a mistyped prefix", `AGE-SECRT-KEY-1${s.slice(16)}`],
  ["a path that does not exist but is made of the key", `/run/secrets/${s.slice(16)}`],
  ["a relative path made of the key", `./keys/${s.slice(16, 40)}.key`],
  ["a truncated key", s.slice(0, 40)],
  ["a checksum typo", s.slice(0, 30) + (s[30] === "Q" ? "P" : "Q") + s.slice(31)],
  ["a key between two comment lines, one of them broken", `# created\n${s}\n# public key: age1notakey\n${s.slice(16)}`],
];

for (const [variable, secret, argv] of [
  ["INFORGE_SECRETS_KEY", ciSecret, ["pki", "renew"]],
  ["INFORGE_PKI_ROOT_KEY", rootSecret, ["pki", "crl"]],
] as const) {
  test(`each malformed ${variable} value is refused in one sentence, with no piece of the key in stdout or stderr (text and --json), state unchanged`, async () => {
    const before = treeHash(sb.dir);
    for (const [what, value] of malformed(variable, secret)) {
      for (const json of [false, true]) {
        const r = await cli([...argv, ...(json ? ["--json"] : [])], sb.env({ [variable]: value }));
        const label = `${what}${json ? " (--json)" : ""}`;
        assert.is(r.code, 1, `${label}: exit ${r.code}\n${r.err}`);
        assertOneLine(r.err, label);
        assert.match(r.err, new RegExp(`^inforge: .*${variable}`), `${label}: the variable is not named: ${r.err}`);
        assert.match(r.err, /AGE-SECRET-KEY-1…|identity file|age-keygen/, `${label}: the expected shape is not said: ${r.err}`);
        assert.equal(leaks(r.out + r.err, secret), [], `${label}: the key leaked:\n${r.err}${r.out}`);
        if (json) {
          const doc = JSON.parse(r.out) as { schema: string; message: string };
          assert.is(doc.schema, "inforge.error/v1");
        }
      }
    }
    assert.is(treeHash(sb.dir), before, "a refused run changed the pki directory");
  });
}

test("a path that is plainly a path is still named when it cannot be read; a key-shaped one is not", async () => {
  const r = await cli(["pki", "renew"], sb.env({ INFORGE_SECRETS_KEY: "/nonexistent/ci.key" }));
  assert.match(r.err, /INFORGE_SECRETS_KEY is neither an age secret key \(AGE-SECRET-KEY-1…\) nor a readable identity file: "\/nonexistent\/ci\.key"/);
  const k = await cli(["pki", "renew"], sb.env({ INFORGE_SECRETS_KEY: ciSecret.slice(16) }));
  assert.match(k.err, /its value \(58 characters, not shown: it may be a secret\)/);
});

test("identity-file text in the variable (age-keygen's comment lines first, as a CI secret store keeps it) is accepted", async () => {
  const text = readFileSync(sb.ciKey, "utf8");
  assert.match(text, /^# created: /, "age-keygen writes comment lines first");
  const before = treeHash(sb.dir);
  await ok(cli(["pki", "renew"], sb.env({ INFORGE_SECRETS_KEY: text })));
  await ok(cli(["pki", "renew"], sb.env({ INFORGE_SECRETS_KEY: text.replace(/\n/g, "\r\n") })));
  await ok(cli(["pki", "renew"], ciEnv(sb))); // and the file path, as ever
  assert.is(treeHash(sb.dir), before, "nothing was due");
});

test("parseIdentity never quotes a line that is not a key (a key body without its prefix, in a file)", async () => {
  const body = ciSecret.slice(16);
  for (const text of [`# created\n${body}\n`, `age1${body}`, `${ciSecret} extra`]) {
    const e = await parseIdentity(text, "ci.key").then(() => null, (x: Error) => x);
    assert.ok(e, `accepted: ${text}`);
    assert.equal(leaks(e!.message, ciSecret), [], e!.message);
  }
});

test("pki init --json with --identity-out prints exactly one JSON document and no identity; the identity is in the file", async () => {
  const dir = join(sb.base, "pki-json");
  const idFile = join(sb.base, "root-json.key");
  const r = await ok(cli(["pki", "init", "--json", "--dir", dir, "--domain", "mesh.test", "--identity-out", idFile], ciEnv(sb)));
  const doc = JSON.parse(r.out) as { schema: string; applied: boolean };
  assert.is(doc.schema, "inforge.run/v1");
  assert.ok(doc.applied);
  assert.not.match(r.out, /AGE-SECRET-KEY/i);
  assert.not.match(r.err, /AGE-SECRET-KEY/i);
  const secret = keyOf(idFile);
  assert.equal(leaks(r.out + r.err, secret), []);
  const id = await parseIdentity(readFileSync(idFile, "utf8"), idFile);
  assert.is(id.recipient, JSON.parse(readFileSync(join(dir, "pki.json"), "utf8")).recipients.root);
});

test("pki init --json without --identity-out is refused in one sentence before anything is made", async () => {
  const dir = join(sb.base, "pki-refused");
  const r = await cli(["pki", "init", "--json", "--dir", dir, "--domain", "mesh.test"], ciEnv(sb));
  assert.is(r.code, 1);
  assertOneLine(r.err, "init --json");
  assert.match(r.err, /inforge pki init --json needs --identity-out FILE/);
  assert.is(JSON.parse(r.out).schema, "inforge.error/v1", "stdout is still one JSON document");
  assert.not.ok(existsSync(dir), "the pki directory was created");
  // --plan makes nothing, so it needs no file.
  const p = await ok(cli(["pki", "init", "--json", "--plan", "--dir", dir, "--domain", "mesh.test"], ciEnv(sb)));
  assert.is(JSON.parse(p.out).applied, false);
  assert.not.ok(existsSync(dir));
});

test.run();
