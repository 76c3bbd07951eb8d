// The one error class of lib/age. Callers branch on `code`, never on the message; the message is
// one sentence for the operator: lowercase, the bad value quoted (secrets only as a short prefix),
// what was expected and how to fix it.

export type AgeErrorCode =
  | "identity.malformed"
  | "identity.is-recipient"
  | "identity.post-quantum"
  | "identity.multiple"
  | "identity.public-key-mismatch"
  | "recipient.malformed"
  | "recipient.is-identity"
  | "recipient.post-quantum"
  | "recipient.unsupported"
  | "seal.no-recipients"
  | "open.wrong-identity"
  | "open.corrupt"
  | "open.not-age"
  | "open.not-text"
  | "sealed.recipients";

export interface AgeErrorOptions {
  /** Where the bad value came from: an environment variable name or a file path. */
  readonly origin?: string;
  /** The age-encryption error this one translates, kept for debugging. */
  readonly cause?: unknown;
}

/** Anything that went wrong reading keys or sealing/opening files; `code` says what. */
export class AgeError extends Error {
  override name = "AgeError";
  readonly code: AgeErrorCode;
  readonly origin: string | undefined;
  constructor(code: AgeErrorCode, message: string, options: AgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.origin = options.origin;
  }
}

/** How many characters of a possibly secret value may appear in a message. */
const PREVIEW_CHARS = 16;

/**
 * Quotes a value that might be secret: at most its first 16 characters, then "…". For an
 * AGE-SECRET-KEY-1… line that is exactly the fixed prefix, so no key bits ever reach a log.
 */
export function preview(value: string): string {
  const chars = [...value];
  return JSON.stringify(chars.length > PREVIEW_CHARS ? `${chars.slice(0, PREVIEW_CHARS).join("")}…` : value);
}

/** Quotes a public value (a recipient, a path, a variable name) in full. */
export function quote(value: string): string {
  return JSON.stringify(value);
}
