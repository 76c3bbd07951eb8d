import { armorDecode } from "./armor.ts";
import { AgeError, quote } from "./errors.ts";

// Reading an age file's framing (armor, version line, stanza lines) without any key, so that
// "this is not an age file at all" can be told apart from "this age file is damaged" and from
// "this age file is for someone else". Spec: https://age-encryption.org/v1

const ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----";
const VERSION_LINE = "age-encryption.org/v1";

/** What an age file's header says, read without decrypting. */
export interface SealedHeader {
  /** Whether the file was ASCII-armored (what seal writes) or binary. */
  readonly armored: boolean;
  /**
   * The type of each recipient stanza, in order, e.g. ["X25519", "X25519"]. X25519 stanzas do
   * not name their recipient (only an ephemeral share), so this is all anyone can learn about
   * who may open the file without trying a key.
   */
  readonly stanzas: readonly string[];
}

/** The raw bytes of an age file, armored or not; or why it is not one. */
// The last few armored files decoded, by their text: a key file is decoded to read its header
// (assertSingleRecipient) and again to open it, and a scope's keys.age is hundreds of kB at 500
// leaves (the two decodes were about 0.2 s of `pki verify` at 10,000 leaves). Ciphertext only.
const decoded = new Map<string, Uint8Array>();
const DECODED_MAX = 4;

export function ageBytes(sealed: string | Uint8Array, origin: string): { bytes: Uint8Array; armored: boolean } {
  const text = typeof sealed === "string" ? sealed : startText(sealed);
  if (text.trimStart().startsWith(ARMOR_BEGIN)) {
    const armoredText = typeof sealed === "string" ? sealed : new TextDecoder().decode(sealed);
    const have = decoded.get(armoredText);
    if (have) return { bytes: have, armored: true };
    try {
      // The armor is read strictly (line lengths, footer): any failure here is damage to a file
      // that clearly meant to be age, most often a truncated copy.
      const bytes = armorDecode(armoredText);
      if (decoded.size >= DECODED_MAX) decoded.delete(decoded.keys().next().value!);
      decoded.set(armoredText, bytes);
      return { bytes, armored: true };
    } catch (cause) {
      throw corrupt(origin, `its ASCII armor is broken: ${cause instanceof Error ? cause.message : String(cause)}`, cause);
    }
  }
  if (text.startsWith(`${VERSION_LINE}\n`)) {
    return { bytes: typeof sealed === "string" ? new TextEncoder().encode(sealed) : sealed, armored: false };
  }
  // A file cut off inside its first line still announces itself as age (12 characters are
  // enough to say "-----BEGIN A" or "age-encrypti", and too many for a coincidence).
  const start = text.trimStart();
  if (start.length >= 12 && (ARMOR_BEGIN.startsWith(start) || `${VERSION_LINE}\n`.startsWith(text))) {
    throw corrupt(origin, "it ends inside its first line");
  }
  throw new AgeError(
    "open.not-age",
    `${quote(origin)} is not an age-encrypted file (${sniff(text, sealed)}); expected "${ARMOR_BEGIN}" or a binary age file, so check the path or re-seal it`,
    { origin },
  );
}

/**
 * Reads the header of an armored or binary age file without decrypting it; throws AgeError
 * `open.not-age` or `open.corrupt` when it cannot.
 */
export function inspectSealed(sealed: string | Uint8Array, origin: string): SealedHeader {
  const { bytes, armored } = ageBytes(sealed, origin);
  const lines = headerLines(bytes);
  const stanzas: string[] = [];
  let i = 1; // line 0 is the version line, checked by ageBytes
  for (;;) {
    const line = lines[i++];
    if (line === undefined) throw corrupt(origin, "its header ends before the MAC line");
    if (line.startsWith("--- ")) return { armored, stanzas };
    const args = line.split(" ");
    const type = args[1];
    if (args[0] !== "->" || type === undefined || args.some((a, k) => k > 0 && a === "")) {
      throw corrupt(origin, `its header has a malformed stanza line ${quote(line.slice(0, 40))}`);
    }
    stanzas.push(type);
    // The body is base64 in 64-column lines; the first shorter line (maybe empty) ends it.
    for (;;) {
      const body = lines[i++];
      if (body === undefined) throw corrupt(origin, "its header ends inside a stanza");
      if (!/^[A-Za-z0-9+/]{0,64}$/.test(body)) throw corrupt(origin, "its header has a malformed stanza body");
      if (body.length < 64) break;
    }
  }
}

/**
 * Every key inforge seals goes to exactly one X25519 recipient (lib/apply/keys.ts, leaf-keys.ts).
 * A second stanza means someone who held the plaintext sealed it again for a reader of their
 * own; X25519 stanzas do not name their recipient (age spec, "X25519 recipient stanza"), so the
 * count and the type are what can be checked without an identity. Throws AgeError
 * `sealed.recipients` (or `open.not-age` / `open.corrupt` when it is no age file at all).
 */
export function assertSingleRecipient(sealed: string | Uint8Array, origin: string): void {
  const { stanzas } = inspectSealed(sealed, origin);
  if (stanzas.length === 1 && stanzas[0] === "X25519") return;
  throw new AgeError(
    "sealed.recipients",
    `${quote(origin)} is sealed to ${stanzas.length} recipient(s) of type ${stanzas.join(", ") || "none"}, but inforge seals every key to exactly one X25519 recipient; whoever added the others may hold the key — restore the file from git and rotate what it opens`,
    { origin },
  );
}

/** Whether `sealed` is an age file (armored or binary) with a well-formed header. */
export function looksSealed(sealed: string | Uint8Array): boolean {
  try {
    inspectSealed(sealed, "");
    return true;
  } catch (error) {
    if (error instanceof AgeError) return false;
    throw error;
  }
}

export function corrupt(origin: string, why: string, cause?: unknown): AgeError {
  return new AgeError("open.corrupt", `${quote(origin)} is a damaged age file (${why}); restore it from git`, { origin, cause });
}

/** The header's lines: everything up to the first line starting "--- " (the MAC line). */
function headerLines(bytes: Uint8Array): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let k = 0; k < bytes.length; k++) {
    if (bytes[k] !== 0x0a) continue;
    const line = ascii(bytes.subarray(start, k));
    if (line === undefined) return lines; // binary data before the MAC line: a broken header
    lines.push(line);
    start = k + 1;
    if (line.startsWith("--- ")) return lines;
  }
  return lines;
}

function ascii(bytes: Uint8Array): string | undefined {
  for (const b of bytes) if (b < 0x20 || b > 0x7e) return undefined;
  return String.fromCharCode(...bytes);
}

/** The first few hundred bytes as text, enough to recognise the framing. */
function startText(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, 256));
}

/**
 * Says what the file looks like instead, without quoting its content: it may be a plaintext
 * secret (an unsealed private key is exactly what this check exists to catch).
 */
function sniff(text: string, sealed: string | Uint8Array): string {
  const size = typeof sealed === "string" ? sealed.length : sealed.length;
  if (size === 0) return "it is empty";
  const pem = /^\s*-----BEGIN ([A-Z0-9 ]{1,40})-----/.exec(text);
  if (pem?.[1] !== undefined) {
    return /PRIVATE KEY/.test(pem[1])
      ? `it is an unencrypted PEM "${pem[1]}": treat that key as exposed`
      : `it is a PEM "${pem[1]}"`;
  }
  if (/AGE-SECRET-KEY-/i.test(text)) return "it is an unencrypted age identity: treat that key as exposed";
  return /^[\x09\x0a\x0d\x20-\x7e]*$/.test(text.slice(0, 256)) ? "it is plain text" : "it is binary data";
}
