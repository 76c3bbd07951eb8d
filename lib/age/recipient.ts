import { bech32 } from "@scure/base";
import { AgeError, preview, quote } from "./errors.ts";

const HOW_TO_GET_ONE = "the \"# public key:\" line of the identity file, or `age-keygen -y <identity file>`";

/**
 * Checks that `text` is one X25519 age recipient (`age1…`) and returns it trimmed (and lowercased
 * if it was all uppercase, which bech32 allows but the age tools do not print).
 * `origin` names where the text came from and is quoted in errors.
 *
 *   const r = parseRecipient(env.INFORGE_SECRETS_RECIPIENT ?? "", "INFORGE_SECRETS_RECIPIENT");
 */
export function parseRecipient(text: string, origin: string): string {
  const where = quote(origin);
  const trimmed = text.trim();
  if (trimmed === "") {
    throw new AgeError("recipient.malformed", `recipient ${where} is empty; expected an age1… public key (${HOW_TO_GET_ONE})`, { origin });
  }
  // Checked before anything else, and anywhere in the text, so that a secret key (or a whole
  // identity file) pasted where a public key belongs is never echoed back into a log.
  if (/AGE-SECRET-KEY-/i.test(trimmed)) {
    throw new AgeError(
      "recipient.is-identity",
      `${where} holds an age identity (a secret AGE-SECRET-KEY-… key), not a recipient; give its public key instead (${HOW_TO_GET_ONE})`,
      { origin },
    );
  }
  if (/^ssh-/i.test(trimmed)) {
    throw new AgeError("recipient.unsupported", `recipient ${preview(trimmed)} in ${where} is an SSH key, which inforge does not seal to; give an age1… X25519 recipient (${HOW_TO_GET_ONE})`, { origin });
  }
  if (/\s/.test(trimmed)) {
    throw new AgeError("recipient.malformed", `recipient ${where} holds several words (${preview(trimmed)}); expected exactly one age1… public key`, { origin });
  }
  const recipient = trimmed === trimmed.toUpperCase() ? trimmed.toLowerCase() : trimmed;
  if (!recipient.startsWith("age1")) {
    throw new AgeError("recipient.malformed", `recipient ${preview(trimmed)} in ${where} is not an age recipient; expected an age1… public key (${HOW_TO_GET_ONE})`, { origin });
  }
  // bech32's data alphabet has no "1", so the last "1" ends the human-readable part: "age" for
  // X25519, "age1pq" for post-quantum, "age1<plugin>" for plugin and tag recipients.
  const hrp = recipient.slice(0, recipient.lastIndexOf("1"));
  if (hrp === "age1pq" || hrp === "age1tagpq") {
    throw new AgeError(
      "recipient.post-quantum",
      `recipient ${preview(recipient)} in ${where} is post-quantum, which inforge does not support (the age 1.1 CLI cannot open such files, and mixing it with X25519 recipients voids its protection); give an X25519 age1… recipient from age-keygen`,
      { origin },
    );
  }
  if (hrp !== "age") {
    throw new AgeError(
      "recipient.unsupported",
      `recipient ${preview(recipient)} in ${where} is an age plugin or hardware recipient ("${hrp}"), which inforge does not seal to; give an X25519 age1… recipient from age-keygen`,
      { origin },
    );
  }
  try {
    // What age-encryption's X25519Recipient checks (bech32 checksum, 32-byte key), with the same
    // bech32 (its dependency) and messages, without loading the library for it.
    const { prefix, bytes } = bech32.decodeToBytes(recipient);
    if (prefix !== "age" || bytes.length !== 32) throw Error("invalid recipient");
  } catch (cause) {
    throw new AgeError(
      "recipient.malformed",
      `recipient ${quote(recipient)} in ${where} is not a valid X25519 age recipient (${describe(cause)}); copy it again (${HOW_TO_GET_ONE})`,
      { origin, cause },
    );
  }
  return recipient;
}

/** The library's own wording, for the parenthesis in our messages. */
function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
