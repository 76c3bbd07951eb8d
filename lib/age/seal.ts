import { concat } from "../bytes.ts";
import { armorEncode } from "./armor.ts";
import { AgeError, quote } from "./errors.ts";
import { ageBytes, corrupt, inspectSealed } from "./header.ts";
import { identityRejected, type Identity } from "./identity.ts";
import { parseRecipient } from "./recipient.ts";
import { X25519_PKCS8_PREFIX, bech32Data, openNative, sealNative } from "./native.ts";

/**
 * Encrypts `plaintext` to every recipient and returns an ASCII-armored age file
 * ("-----BEGIN AGE ENCRYPTED FILE-----"), which diffs and reviews cleanly in git and opens with
 * `age -d -i <identity file>`. Recipients are checked with parseRecipient; duplicates are dropped.
 *
 *   const sealedKey = await seal(pkcs8Pem, [rootRecipient, breakGlassRecipient]);
 */
export async function seal(plaintext: Uint8Array | string, recipients: readonly string[]): Promise<string> {
  // The library happily encrypts to nobody, producing a file no key can ever open.
  if (recipients.length === 0) {
    throw new AgeError("seal.no-recipients", "refusing to seal to no recipients, since nobody could ever open the file; pass at least one age1… recipient");
  }
  const seen = new Set<string>();
  for (const [i, text] of recipients.entries()) {
    // parseRecipient also refuses post-quantum recipients, so PQ and X25519 are never mixed
    // (the library would allow it, silently voiding the post-quantum protection).
    seen.add(parseRecipient(text, `recipient ${i + 1} of ${recipients.length}`));
  }
  const bytes = typeof plaintext === "string" ? new TextEncoder().encode(plaintext) : plaintext;
  const native = sealNative(bytes, [...seen].map((r) => bech32Data(r, "age1")));
  if (native) return armorEncode(native);
  // No native crypto here (a browser): the library, loaded when first needed.
  const encrypter = new (await import("age-encryption")).Encrypter();
  for (const r of seen) encrypter.addRecipient(r);
  return armorEncode(await drain(await encrypter.encrypt(streamOf(bytes))));
}

// Given bytes, the library reads its output stream with `new Response(stream)`, which under Node
// loads the fetch implementation (undici): ~40 ms of a renewal's main thread, the first time.
// So it gets a stream and hands one back, read here.
const streamOf = (bytes: Uint8Array) => new ReadableStream<Uint8Array>({ start(c) { c.enqueue(bytes); c.close(); } });

async function drain(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const reader = s.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
  return chunks.length === 1 ? chunks[0]! : concat(chunks);
}

/**
 * Decrypts an armored or binary age file with `identity` and returns the plaintext as text.
 * `origin` (the file's path) and `label` (where the identity came from, e.g.
 * "INFORGE_SECRETS_KEY") name things in errors, which are AgeErrors coded `open.not-age`,
 * `open.corrupt`, `open.wrong-identity` or `open.not-text` (the payload is not UTF-8).
 *
 *   const pem = await open(await readFile(path), secretsKey, path, "INFORGE_SECRETS_KEY");
 */
export async function open(sealed: string | Uint8Array, identity: Identity, origin: string, label?: string): Promise<string> {
  const { bytes } = ageBytes(sealed, origin);
  // Only X25519: the library would also take a post-quantum key here, which parseIdentity refuses.
  if (!identity.secret.startsWith("AGE-SECRET-KEY-1")) {
    throw identityRejected(origin, label, new Error(identity.secret.startsWith("AGE-SECRET-KEY-PQ-") ? "post-quantum" : "not X25519"));
  }
  // The runtime's own crypto first (lib/age/native.ts); the library (loaded then) for anything it does not open.
  let plaintext = nativeOpen(bytes, identity);
  if (!plaintext) {
    const decrypter = new (await import("age-encryption")).Decrypter();
    try {
      decrypter.addIdentity((await identityKey(identity)) ?? identity.secret);
    } catch (cause) {
      throw identityRejected(origin, label, cause);
    }
    try {
      plaintext = await drain(await decrypter.decrypt(streamOf(bytes)));
    } catch (cause) {
      throw openFailure(cause, sealed, identity, origin, label);
    }
  }
  try {
    // The library's "text" output replaces invalid UTF-8 with U+FFFD; a binary payload (a DER
    // key, say) would come back silently mangled, so decode strictly instead.
    return new TextDecoder("utf-8", { fatal: true }).decode(plaintext);
  } catch (cause) {
    throw new AgeError(
      "open.not-text",
      `${quote(origin)} opened, but its contents are binary, not UTF-8 text; inforge seals only PEM and other text, so re-seal the text form`,
      { origin, cause },
    );
  }
}

function nativeOpen(bytes: Uint8Array, identity: Identity): Uint8Array | null {
  try {
    return openNative(bytes, bech32Data(identity.secret, "AGE-SECRET-KEY-1"), bech32Data(identity.recipient, "age1"));
  } catch {
    return null; // a key that does not decode: the library says what is wrong with it
  }
}

// age-encryption throws plain Errors; these are the messages of 0.3.x that we translate.
const NO_MATCH = "no identity matched any of the file's recipients";
const WHY: readonly (readonly [RegExp, string])[] = [
  [/^invalid tag$/, "its contents fail authentication"],
  [/^invalid header HMAC$/, "its header fails authentication"],
  [/^invalid (stanza|header)$|^invalid non-ASCII byte in header$/, "its header is malformed or cut off"],
  [/^stream ended before reading/, "it is cut off right after its header"],
  [/ciphertext|final chunk is empty/, "its contents are cut off"],
];

function openFailure(cause: unknown, sealed: string | Uint8Array, identity: Identity, origin: string, label: string | undefined): AgeError {
  const message = cause instanceof Error ? cause.message : String(cause);
  if (message !== NO_MATCH) {
    const why = WHY.find(([pattern]) => pattern.test(message))?.[1];
    return corrupt(origin, why === undefined ? message : `${why}: ${message}`, cause);
  }

  const where = quote(origin);
  const fix = label === undefined
    ? `check that you gave the right key (its public key is ${identity.recipient})`
    : `check that ${label} holds the right key (its public key is ${identity.recipient})`;
  const which = label === undefined ? "the given identity" : `the ${label} identity`;
  // The header parsed (the library got as far as trying keys), so this cannot throw in practice;
  // it only sharpens the message when the file was never sealed to any X25519 key.
  let types: readonly string[] = [];
  try {
    types = inspectSealed(sealed, origin).stanzas;
  } catch {
    // keep the general message
  }
  if (types.length > 0 && !types.includes("X25519")) {
    return new AgeError(
      "open.wrong-identity",
      `${where} is not sealed to ${which} (its recipients are of type ${[...new Set(types)].join(", ")}, not X25519); re-seal it with inforge`,
      { origin, cause },
    );
  }
  return new AgeError(
    "open.wrong-identity",
    `${where} is not sealed to ${which} (no identity matched its recipients); ${fix}`,
    { origin, cause },
  );
}

// An identity's X25519 key, imported into WebCrypto once per process: given as its string, the
// library decodes and imports it twice for every file it opens (about 1.5 ms; a fleet renewal
// opens dozens). Checked once against the identity's recipient; null (use the string) where
// this runtime's WebCrypto lacks X25519 or the key does not round-trip.
const keys = new WeakMap<Identity, Promise<CryptoKey | null>>();

function identityKey(identity: Identity): Promise<CryptoKey | null> {
  let k = keys.get(identity);
  if (!k) {
    k = (async () => {
      try {
        const pkcs8 = new Uint8Array([...X25519_PKCS8_PREFIX, ...bech32Data(identity.secret, "AGE-SECRET-KEY-1")]);
        const key = await globalThis.crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, false, ["deriveBits"]);
        return (await (await import("age-encryption")).identityToRecipient(key)) === identity.recipient ? key : null;
      } catch {
        return null;
      }
    })();
    keys.set(identity, k);
  }
  return k;
}

