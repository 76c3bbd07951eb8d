import { bech32 } from "@scure/base";
import { AgeError, quote } from "./errors.ts";
import { x25519PublicKey } from "./native.ts";
import { parseRecipient } from "./recipient.ts";

/**
 * An X25519 age key pair. `secret` is not enumerable, so JSON.stringify, console.log and
 * structured clones of an Identity (or of a plan holding one by mistake) show only the recipient.
 */
export interface Identity {
  /** The secret key, `AGE-SECRET-KEY-1…` (uppercase, as age-keygen writes it). */
  readonly secret: string;
  /** The matching public key, `age1…`: what files are sealed to. */
  readonly recipient: string;
}

function makeIdentity(secret: string, recipient: string): Identity {
  const identity = { recipient } as Identity;
  Object.defineProperty(identity, "secret", { value: secret, enumerable: false });
  return Object.freeze(identity);
}

/**
 * Generates a fresh X25519 identity (never post-quantum: the age 1.1 CLI cannot read those).
 *
 *   const root = await generateIdentity();
 *   await writeFile(path, identityFileText(root), { mode: 0o600 });
 */
export async function generateIdentity(): Promise<Identity> {
  const secret = await (await import("age-encryption")).generateX25519Identity();
  return makeIdentity(secret, await identityToRecipient(secret));
}

/**
 * The recipient (`age1…`) of an X25519 secret key, checked as age-encryption's
 * identityToRecipient checks it (bech32 checksum, prefix, 32 bytes; its messages) and derived
 * with node:crypto's X25519 where there is one: the library itself (its post-quantum and scrypt
 * code, ~27 ms of a run's start) is loaded only where there is not.
 */
export async function identityToRecipient(secret: string): Promise<string> {
  const res = bech32.decodeToBytes(secret);
  if (!secret.startsWith("AGE-SECRET-KEY-1") || res.prefix.toUpperCase() !== "AGE-SECRET-KEY-" || res.bytes.length !== 32) {
    throw Error("invalid identity");
  }
  const pub = x25519PublicKey(res.bytes);
  return pub ? bech32.encodeFromBytes("age", pub) : (await import("age-encryption")).identityToRecipient(secret);
}

/**
 * The text of an identity file exactly as `age-keygen -o` writes it, so the age CLI, other age
 * tools and parseIdentity all read it.
 */
export function identityFileText(identity: Identity, created: Date = new Date()): string {
  // age-keygen prints RFC 3339 seconds without fractions.
  const stamp = created.toISOString().replace(/\.\d+Z$/, "Z");
  return `# created: ${stamp}\n# public key: ${identity.recipient}\n${identity.secret}\n`;
}

const EXPECTED = "expected an AGE-SECRET-KEY-1… key or the text of an identity file written by age-keygen";

/**
 * Reads one X25519 identity from a bare `AGE-SECRET-KEY-1…` string or from the text of an
 * identity file as age-keygen writes it (comment and blank lines are skipped). `origin` names
 * where the text came from (an environment variable or a path) and is quoted in errors; no
 * character of the text is, except a well-formed age1… recipient given by mistake.
 *
 *   const root = await parseIdentity(env.INFORGE_PKI_ROOT_KEY ?? "", "INFORGE_PKI_ROOT_KEY");
 */
export async function parseIdentity(text: string, origin: string): Promise<Identity> {
  const where = quote(origin);
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  // Line numbers only help when the text really was a file.
  const at = (n: number): string => (lines.length > 1 ? `line ${n} of ${where}` : where);

  const keys: { secret: string; line: number }[] = [];
  let claimed: { recipient: string; line: number } | undefined;
  let comments = 0;
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    const n = index + 1;
    if (line === "") continue;
    if (line.startsWith("#")) {
      comments++;
      const m = /^#\s*public key:\s*(\S+)\s*$/i.exec(line);
      if (m?.[1] !== undefined) claimed = { recipient: m[1], line: n };
      continue;
    }
    const upper = line.toUpperCase();
    if (upper.startsWith("AGE-SECRET-KEY-PQ-")) {
      throw new AgeError(
        "identity.post-quantum",
        `${at(n)} holds a post-quantum identity (AGE-SECRET-KEY-PQ-1…), which inforge does not support because the age 1.1 CLI cannot read it; generate an X25519 key with age-keygen`,
        { origin },
      );
    }
    if (upper.startsWith("AGE-SECRET-KEY-") && !/\s/.test(line)) {
      keys.push({ secret: line, line: n });
      continue;
    }
    if (upper.startsWith("AGE-SECRET-KEY-")) {
      throw new AgeError(
        "identity.malformed",
        `${at(n)} holds an AGE-SECRET-KEY-… key with other text after it; the line must be the key alone, as age-keygen writes it (its characters are not shown)`,
        { origin },
      );
    }
    if (upper.includes("AGE-SECRET-KEY-")) {
      // Something wraps the key (KEY=…, quotes, YAML): say so without quoting any of it, since
      // a 16-character preview of this line could already show key characters.
      throw new AgeError(
        "identity.malformed",
        `${at(n)} holds an AGE-SECRET-KEY-… key with other text around it; the line must be the key alone, as age-keygen writes it`,
        { origin },
      );
    }
    if (line.toLowerCase().startsWith("age1")) {
      // A valid recipient is public and quoted in full; anything else (it could be "age1" typed
      // in front of a key's body) is not shown at all.
      const shown = isRecipient(line) ? quote(line) : "a line starting with age1";
      throw new AgeError(
        "identity.is-recipient",
        `${shown} in ${where} is an age recipient (public key), not an identity; give the AGE-SECRET-KEY-1… line or the identity file`,
        { origin },
      );
    }
    // Not even a prefix of the line is shown: a key pasted without its AGE-SECRET-KEY-1 prefix is all secret.
    throw new AgeError("identity.malformed", `${at(n)} is not an age identity (its ${[...line].length} characters are not shown, since they may be a secret); ${EXPECTED}`, { origin });
  }

  const [key, ...extra] = keys;
  if (key === undefined) {
    const what = comments > 0 ? "holds only comments, no AGE-SECRET-KEY-1… line" : "is empty";
    throw new AgeError("identity.malformed", `identity ${where} ${what}; ${EXPECTED}`, { origin });
  }
  if (extra.length > 0) {
    const keyLines = keys.map((k) => k.line).join(", ");
    throw new AgeError(
      "identity.multiple",
      `${where} holds ${keys.length} identities (lines ${keyLines}); expected exactly one AGE-SECRET-KEY-1… key, so keep one identity per file or variable`,
      { origin },
    );
  }

  // Bech32 allows an all-lowercase key; store the uppercase form age-keygen writes and the
  // library requires. Mixed case stays as given and fails the checksum below, as it should.
  const secret = key.secret === key.secret.toLowerCase() ? key.secret.toUpperCase() : key.secret;
  let recipient: string;
  try {
    recipient = await identityToRecipient(secret);
  } catch (cause) {
    // The library's messages quote the whole key ("Invalid checksum in AGE-SECRET-KEY-1…"), so
    // neither its message nor the error itself (as `cause`) may travel into ours.
    throw new AgeError(
      "identity.malformed",
      `the AGE-SECRET-KEY-… key in ${where} is not a valid X25519 age key (${redactedReason(cause)}); copy the whole line again from the identity file`,
      { origin },
    );
  }

  // age ignores comments, but a "# public key:" line that disagrees with the key means the file
  // was edited by hand: whoever sealed to the advertised key cannot be opened with this one.
  if (claimed !== undefined && claimed.recipient.toLowerCase() !== recipient) {
    throw new AgeError(
      "identity.public-key-mismatch",
      `line ${claimed.line} of ${where} says "# public key: ${claimed.recipient}", but its key belongs to ${quote(recipient)}; the file was edited by hand, so restore it or fix the comment with \`age-keygen -y\``,
      { origin },
    );
  }
  return makeIdentity(secret, recipient);
}

function isRecipient(text: string): boolean {
  try {
    parseRecipient(text, "");
    return true;
  } catch {
    return false;
  }
}

function redactedReason(cause: unknown): string {
  const message = cause instanceof Error ? cause.message : "";
  if (/checksum/i.test(message)) return "bad checksum: a typo or a cut-off copy";
  if (/length/i.test(message)) return "wrong length: a cut-off or padded copy";
  if (/mixed-case/i.test(message)) return "it mixes upper and lower case";
  if (message === "post-quantum") return "a post-quantum key, which inforge does not support";
  return "not a bech32-encoded 32-byte key";
}

/** For open(): an Identity that did not come from parseIdentity, refused without echoing its key. */
export function identityRejected(origin: string, label: string | undefined, cause: unknown): AgeError {
  const which = label === undefined ? "the identity" : `the ${label} identity`;
  return new AgeError(
    "identity.malformed",
    `${which} used to open ${quote(origin)} is not a valid X25519 age key (${redactedReason(cause)}); load it with parseIdentity`,
    { origin },
  );
}
