// lib/age: the only place that imports age-encryption. Keys are X25519 only, files are sealed
// ASCII-armored, and every failure is an AgeError with a `code`. Pure (no `node:` imports), so
// it runs under Node and Deno alike: reading and writing files is the caller's job.

export { AgeError, type AgeErrorCode, type AgeErrorOptions } from "./errors.ts";
export { generateIdentity, identityFileText, parseIdentity, type Identity } from "./identity.ts";
export { parseRecipient } from "./recipient.ts";
export { open, seal } from "./seal.ts";
export { assertSingleRecipient, inspectSealed, looksSealed, type SealedHeader } from "./header.ts";
