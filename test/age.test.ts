// lib/age end to end: our sealing against the real age 1.1 CLI in both directions, and the
// AgeError codes (and message hygiene) for every way an operator can get keys and files wrong.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  AgeError,
  type AgeErrorCode,
  generateIdentity,
  identityFileText,
  inspectSealed,
  looksSealed,
  open,
  parseIdentity,
  parseRecipient,
  seal,
} from "../lib/age/mod.ts";
import { SAMPLE_PKCS8 } from "./fixtures/pem.ts";
import { Decrypter, Encrypter, armor, generateX25519Identity, identityToRecipient as libraryRecipient } from "age-encryption";
import { identityToRecipient } from "../lib/age/identity.ts";
import { bech32Data, nativeSealing, openNative } from "../lib/age/native.ts";
import { armorDecode } from "../lib/age/armor.ts";

const dir = mkdtempSync(join(tmpdir(), "inforge-age-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const path = (name: string): string => join(dir, name);
const age = (args: string[], input?: string | Uint8Array): Buffer =>
  execFileSync("age", args, { input, stdio: ["pipe", "pipe", "pipe"] });

/** A fresh identity file written by the real age-keygen. */
function keygen(name: string): { file: string; text: string; recipient: string } {
  const file = path(name);
  execFileSync("age-keygen", ["-o", file], { stdio: "ignore" });
  const recipient = execFileSync("age-keygen", ["-y", file]).toString().trim();
  return { file, text: readFileSync(file, "utf8"), recipient };
}

async function rejects(run: () => unknown, code: AgeErrorCode): Promise<AgeError> {
  try {
    await run();
  } catch (error) {
    assert.instance(error, AgeError);
    const e = error as AgeError;
    assert.is(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    assert.match(e.message, /^[a-z"]/, `message should start lowercase: ${e.message}`);
    return e;
  }
  assert.unreachable(`expected AgeError ${code}, but nothing was thrown`);
  throw new Error("unreachable");
}

/** A plausible PEM private key: what inforge actually seals. */
const PEM = SAMPLE_PKCS8;

test("a key we seal opens with the age CLI and the identity file we write", async () => {
  const id = await generateIdentity();
  const idFile = path("ours.key");
  writeFileSync(idFile, identityFileText(id, new Date("2030-01-02T03:04:05.678Z")));
  assert.match(readFileSync(idFile, "utf8"), /^# created: 2030-01-02T03:04:05Z\n# public key: age1/);
  assert.is(execFileSync("age-keygen", ["-y", idFile]).toString().trim(), id.recipient);

  const sealed = await seal(PEM, [id.recipient]);
  assert.ok(sealed.startsWith("-----BEGIN AGE ENCRYPTED FILE-----\n"));
  const sealedFile = path("ours.age");
  writeFileSync(sealedFile, sealed);
  assert.is(age(["-d", "-i", idFile, sealedFile]).toString(), PEM);
  assert.is(await open(sealed, id, sealedFile), PEM);
});

test("a payload of several 64 KiB chunks (a scope's key file) goes both ways between us and the age CLI", async () => {
  const id = await generateIdentity();
  const idFile = path("big.key");
  writeFileSync(idFile, identityFileText(id));
  const text = Array.from({ length: 900 }, (_, i) => `${i} ${randomBytes(120).toString("base64")}`).join("\n"); // ~150 kB
  const sealedFile = path("big.age");
  writeFileSync(sealedFile, await seal(text, [id.recipient]));
  assert.is(age(["-d", "-i", idFile, sealedFile]).toString(), text);
  const theirs = age(["-r", id.recipient, "-a"], text).toString();
  assert.is(await open(theirs, id, "theirs.age"), text);
});

test("sealed natively, at every 64 KiB chunk boundary and to two recipients, a file opens with the age CLI and with the library's own decrypter", async () => {
  assert.ok(nativeSealing, "Node has node:crypto: seal() must encrypt natively here");
  const a = keygen("native-a.key");
  const b = keygen("native-b.key");
  for (const size of [0, 1, 65535, 65536, 65537, 131072, 200_000]) {
    const text = randomBytes(Math.ceil(size / 2)).toString("hex").slice(0, size);
    const sealed = await seal(text, [a.recipient, b.recipient]);
    assert.equal(inspectSealed(sealed, "native.age").stanzas, ["X25519", "X25519"]);
    const file = path(`native-${size}.age`);
    writeFileSync(file, sealed);
    for (const k of [a, b]) assert.is(age(["-d", "-i", k.file, file]).toString(), text, `age CLI, ${size} bytes`);
    const d = new Decrypter();
    d.addIdentity(b.text.trim().split("\n").at(-1)!);
    assert.is(await d.decrypt(armor.decode(sealed), "text"), text, `library, ${size} bytes`);
  }
});

test("opened natively: what the age CLI and the library seal, at chunk boundaries; a changed byte, a cut or an extra byte anywhere, or another identity, is left to the library", async () => {
  const k = keygen("open-native.key");
  const other = keygen("open-native-other.key");
  const id = await parseIdentity(k.text, k.file);
  const secret = bech32Data(id.secret, "AGE-SECRET-KEY-1");
  const pub = bech32Data(id.recipient, "age1");
  const text = (n: number) => randomBytes(Math.ceil(n / 2)).toString("hex").slice(0, n);
  for (const size of [1, 65535, 65536, 65537, 140_000]) {
    const t = text(size);
    const cli = new Uint8Array(age(["-r", other.recipient, "-r", k.recipient], t));
    assert.is(new TextDecoder().decode(openNative(cli, secret, pub)!), t, `age CLI, ${size} bytes`);
    const e = new Encrypter();
    e.addRecipient(k.recipient);
    const lib = await e.encrypt(t);
    assert.is(new TextDecoder().decode(openNative(lib, secret, pub)!), t, `library, ${size} bytes`);
    assert.is(openNative(cli, bech32Data((await parseIdentity(other.text, other.file)).secret, "AGE-SECRET-KEY-1"), bech32Data(other.recipient, "age1")) !== null, true);
  }
  const file = armorDecode(await seal(text(70_000), [k.recipient]));
  assert.ok(openNative(file, secret, pub));
  for (let i = 0; i < file.length; i += 61) {
    const bad = file.slice();
    bad[i] = bad[i]! ^ 0x04;
    assert.is(openNative(bad, secret, pub), null, `byte ${i} changed`);
  }
  for (const n of [0, 20, 100, file.length - 17, file.length - 1]) assert.is(openNative(file.subarray(0, n), secret, pub), null, `cut at ${n}`);
  assert.is(openNative(new Uint8Array([...file, 0]), secret, pub), null, "an extra byte");
  const stranger = await parseIdentity(keygen("open-native-stranger.key").text, "stranger");
  assert.is(openNative(file, bech32Data(stranger.secret, "AGE-SECRET-KEY-1"), bech32Data(stranger.recipient, "age1")), null, "another identity");
  // open() still says why, in the library's words.
  const broken = file.slice();
  broken[file.length - 5]! ^= 1;
  await rejects(() => open(broken, id, "broken.age"), "open.corrupt");
});

test("an identity file from age-keygen opens what the age CLI sealed, armored or binary, and what we sealed", async () => {
  const k = keygen("cli.key");
  const id = await parseIdentity(k.text, k.file);
  assert.is(id.recipient, k.recipient);
  assert.is(id.secret, k.text.trim().split("\n").at(-1));

  const armored = age(["-r", k.recipient, "-a"], PEM).toString();
  assert.is(await open(armored, id, "cli.age"), PEM);
  const binary = new Uint8Array(age(["-r", k.recipient], PEM));
  assert.is(await open(binary, id, "cli.bin.age"), PEM);
  // Armored text read as bytes (readFile without an encoding) opens too.
  assert.is(await open(new TextEncoder().encode(armored), id, "cli.age"), PEM);

  assert.is(await open(await seal(PEM, [parseRecipient(k.recipient, "cli.key.pub")]), id, "ours.age"), PEM);
  // The bare key line works as well as the whole file.
  assert.is((await parseIdentity(`  ${id.secret}\r\n`, "INFORGE_PKI_ROOT_KEY")).recipient, k.recipient);
});

test("an identity never shows its secret key when logged or serialised", async () => {
  const id = await generateIdentity();
  assert.not.match(JSON.stringify({ id }), /AGE-SECRET-KEY/);
  assert.equal(Object.keys(id), ["recipient"]);
  assert.ok(id.secret.startsWith("AGE-SECRET-KEY-1"));
});

test("opening with the wrong identity fails as open.wrong-identity naming the file and the key's label", async () => {
  const right = await generateIdentity();
  const wrong = await generateIdentity();
  const sealed = await seal(PEM, [right.recipient]);
  const e = await rejects(() => open(sealed, wrong, "secrets/eu/intermediate.key.age", "INFORGE_SECRETS_KEY"), "open.wrong-identity");
  assert.is(e.origin, "secrets/eu/intermediate.key.age");
  assert.ok(
    e.message.startsWith(
      `"secrets/eu/intermediate.key.age" is not sealed to the INFORGE_SECRETS_KEY identity (no identity matched its recipients); check that INFORGE_SECRETS_KEY holds the right key`,
    ),
    e.message,
  );
  assert.ok(e.message.includes(wrong.recipient));
  const bare = await rejects(() => open(sealed, wrong, "x.age"), "open.wrong-identity");
  assert.match(bare.message, /^"x\.age" is not sealed to the given identity/);
});

test("a damaged payload, a damaged header MAC and truncated files fail as open.corrupt", async () => {
  const k = keygen("corrupt.key");
  const id = await parseIdentity(k.text, k.file);
  const binary = new Uint8Array(age(["-r", k.recipient], PEM));

  const body = binary.slice();
  body[body.length - 1]! ^= 0x01;
  const e = await rejects(() => open(body, id, "body.age"), "open.corrupt");
  assert.is(e.message, `"body.age" is a damaged age file (its contents fail authentication: invalid tag); restore it from git`);

  // Change one base64 character of the MAC line ("--- <mac>\n") to another valid one.
  const text = new TextDecoder("latin1").decode(binary);
  const macAt = text.indexOf("\n--- ") + 5;
  const header = binary.slice();
  header[macAt] = header[macAt] === 0x41 ? 0x42 : 0x41;
  const h = await rejects(() => open(header, id, "header.age"), "open.corrupt");
  assert.match(h.message, /header fails authentication/);

  for (const cut of [15, macAt - 10, macAt + 50, binary.length - 20]) {
    await rejects(() => open(binary.subarray(0, cut), id, `cut-${cut}.age`), "open.corrupt");
  }
  const armored = await seal(PEM, [id.recipient]);
  const cut = await rejects(() => open(armored.slice(0, armored.length / 2), id, "half.age"), "open.corrupt");
  assert.match(cut.message, /^"half\.age" is a damaged age file \(its ASCII armor is broken.*\); restore it from git$/);
  assert.not.ok(looksSealed(armored.slice(0, armored.length / 2)));
});

test("files that are not age at all fail as open.not-age without quoting their content", async () => {
  const id = await generateIdentity();
  const cert = execFileSync("openssl", [
    "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", path("cert.key"), "-subj", "/CN=foreign", "-days", "1",
  ], { stdio: ["ignore", "pipe", "ignore"] }).toString();
  const e = await rejects(() => open(cert, id, "certs/eu.pem"), "open.not-age");
  assert.ok(e.message.startsWith(`"certs/eu.pem" is not an age-encrypted file (it is a PEM "CERTIFICATE")`), e.message);

  const leaked = await rejects(() => open(PEM, id, "secrets/root.key.age"), "open.not-age");
  assert.match(leaked.message, /unencrypted PEM "PRIVATE KEY": treat that key as exposed/);
  assert.not.match(leaked.message, /MC4CAQ/);

  const noise = await rejects(() => open(new Uint8Array(randomBytes(512)), id, "noise.bin"), "open.not-age");
  assert.match(noise.message, /binary data/);
  await rejects(() => open("", id, "empty.age"), "open.not-age");
  assert.not.ok(looksSealed(cert));
  assert.not.ok(looksSealed(new Uint8Array(randomBytes(64))));
});

test("a sealed binary payload is refused as open.not-text rather than returned mangled", async () => {
  const k = keygen("binary.key");
  const id = await parseIdentity(k.text, k.file);
  const sealed = await seal(new Uint8Array([0x30, 0x82, 0xff, 0xfe, 0x00]), [id.recipient]);
  await rejects(() => open(sealed, id, "der.age"), "open.not-text");
  assert.is(await open(await seal(new TextEncoder().encode("ünïcödé ✓"), [id.recipient]), id, "u.age"), "ünïcödé ✓");
});

test("the header shows one X25519 stanza per recipient without any key", async () => {
  const a = await generateIdentity();
  const b = await generateIdentity();
  const sealed = await seal("x", [a.recipient, b.recipient, a.recipient]);
  assert.equal(inspectSealed(sealed, "two.age"), { armored: true, stanzas: ["X25519", "X25519"] });
  assert.ok(looksSealed(sealed));
  const k = keygen("header.key");
  const binary = new Uint8Array(age(["-r", k.recipient], "x"));
  assert.equal(inspectSealed(binary, "one.age"), { armored: false, stanzas: ["X25519"] });
});

test("a recipient given where an identity belongs is refused as identity.is-recipient", async () => {
  const k = keygen("swap.key");
  const e = await rejects(() => parseIdentity(k.recipient, "INFORGE_PKI_ROOT_KEY"), "identity.is-recipient");
  assert.is(
    e.message,
    `"${k.recipient}" in "INFORGE_PKI_ROOT_KEY" is an age recipient (public key), not an identity; give the AGE-SECRET-KEY-1… line or the identity file`,
  );
  const pub = execFileSync("age-keygen", ["-y", k.file]).toString();
  await rejects(() => parseIdentity(pub, "root.pub"), "identity.is-recipient");
});

test("an identity given where a recipient belongs is refused without echoing the secret", async () => {
  const k = keygen("swap2.key");
  const secret = k.text.trim().split("\n").at(-1)!;
  for (const text of [secret, k.text, ` ${secret.toLowerCase()} `]) {
    const e = await rejects(() => parseRecipient(text, "regions/eu.ts"), "recipient.is-identity");
    assert.not.ok(e.message.includes(secret.slice(16, 30)), e.message);
    assert.not.ok(e.message.toUpperCase().includes(secret.slice(16, 30)), e.message);
    assert.match(e.message, /^"regions\/eu\.ts" holds an age identity .*age-keygen -y/);
  }
});

test("a mistyped secret key is refused as identity.malformed without echoing it", async () => {
  const id = await generateIdentity();
  const typo = id.secret.slice(0, 30) + (id.secret[30] === "Q" ? "P" : "Q") + id.secret.slice(31);
  for (const text of [typo, id.secret.slice(0, 40), `INFORGE_PKI_ROOT_KEY=${id.secret}`]) {
    const e = await rejects(() => parseIdentity(text, "INFORGE_PKI_ROOT_KEY"), "identity.malformed");
    assert.not.ok(e.message.includes(id.secret.slice(16, 24)), e.message);
    assert.is(e.cause, undefined, "the library error quotes the key, so it must not ride along as cause");
    assert.ok(e.message.includes(`"INFORGE_PKI_ROOT_KEY"`));
  }
  await rejects(() => parseIdentity("", "INFORGE_PKI_ROOT_KEY"), "identity.malformed");
  await rejects(() => parseIdentity("# created: today\n\n", "root.key"), "identity.malformed");
  await rejects(() => parseIdentity("hunter2", "root.key"), "identity.malformed");
});

test("post-quantum identities and recipients are refused", async () => {
  const pqKey = "AGE-SECRET-KEY-PQ-1" + "Q".repeat(58);
  const e = await rejects(() => parseIdentity(`# public key: age1pq1…\n${pqKey}\n`, "pq.key"), "identity.post-quantum");
  assert.not.ok(e.message.includes("QQQQQQ"));
  const pqRecipient = "age1pq1" + "q".repeat(1900);
  await rejects(() => parseRecipient(pqRecipient, "pq.pub"), "recipient.post-quantum");
  const id = await generateIdentity();
  // seal checks every recipient, so PQ can never be mixed in with X25519.
  await rejects(() => seal("x", [id.recipient, pqRecipient]), "recipient.post-quantum");
});

test("an identity file with two keys is refused as identity.multiple", async () => {
  const a = keygen("multi-a.key");
  const b = keygen("multi-b.key");
  const e = await rejects(() => parseIdentity(a.text + b.text, "both.key"), "identity.multiple");
  assert.match(e.message, /^"both\.key" holds 2 identities \(lines 3, 6\)/);
});

test("an identity file whose public key comment disagrees with its key is refused", async () => {
  const a = keygen("mismatch-a.key");
  const b = keygen("mismatch-b.key");
  const edited = a.text.replace(a.recipient, b.recipient);
  await rejects(() => parseIdentity(edited, "edited.key"), "identity.public-key-mismatch");
});

test("an identity's recipient is derived natively exactly as the library derives it, and refused where the library refuses", async () => {
  for (let i = 0; i < 20; i++) {
    const secret = await generateX25519Identity();
    assert.is(await identityToRecipient(secret), await libraryRecipient(secret));
  }
  const k = keygen("native-recipient.key");
  assert.is(await identityToRecipient(k.text.split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!), k.recipient, "age-keygen's own public key");
  const secret = await generateX25519Identity();
  const typo = secret.slice(0, 20) + (secret[20] === "Q" ? "P" : "Q") + secret.slice(21);
  for (const bad of [typo, secret.slice(0, -1), "AGE-SECRET-KEY-PQ-1" + secret.slice(16), secret.toLowerCase().replace("age-secret-key-1", "AGE-SECRET-KEY-1")]) {
    const mine = await identityToRecipient(bad).then(() => "accepted", (e: Error) => e.message);
    const theirs = await libraryRecipient(bad).then(() => "accepted", (e: Error) => e.message);
    assert.is(mine, theirs, "the same verdict and message as the library's");
    assert.is.not(mine, "accepted");
  }
});

test("junk recipients are refused as recipient.malformed and normalised when valid", async () => {
  const id = await generateIdentity();
  assert.is(parseRecipient(`  ${id.recipient}\n`, "r"), id.recipient);
  assert.is(parseRecipient(id.recipient.toUpperCase(), "r"), id.recipient);
  const flipped = id.recipient.slice(0, -1) + (id.recipient.endsWith("q") ? "p" : "q");
  const e = await rejects(() => parseRecipient(flipped, "regions/eu.ts"), "recipient.malformed");
  assert.ok(e.message.includes(flipped), "a recipient is public, so it is quoted in full");
  await rejects(() => parseRecipient("", "r"), "recipient.malformed");
  await rejects(() => parseRecipient("hello world", "r"), "recipient.malformed");
  await rejects(() => parseRecipient("ssh-ed25519 AAAAC3Nza", "r"), "recipient.unsupported");
  await rejects(() => parseRecipient("age1yubikey1qwerty", "r"), "recipient.unsupported");
});

test("sealing to no recipients is refused instead of producing a file nobody can open", async () => {
  await rejects(() => seal("x", []), "seal.no-recipients");
});

test("a file sealed to two recipients opens with either identity, here and with the age CLI", async () => {
  const a = keygen("two-a.key");
  const b = keygen("two-b.key");
  const sealed = await seal(PEM, [a.recipient, b.recipient]);
  const file = path("two.age");
  writeFileSync(file, sealed);
  for (const k of [a, b]) {
    assert.is(await open(sealed, await parseIdentity(k.text, k.file), file), PEM);
    assert.is(age(["-d", "-i", k.file, file]).toString(), PEM);
  }
  const stranger = keygen("two-c.key");
  assert.throws(() => age(["-d", "-i", stranger.file, file]));
});

test.run();
