import * as v from "valibot";

// The journal's on-disk formats, as schemas for docs/schemas (npm run schemas): a journal entry
// (one JSON line of journal/pki.jsonl or journal/scopes/<scope>.jsonl) and a leaf manifest
// (leaves/<scope>/manifest.json). lib/store/journal.ts and lib/store/manifest.ts read and write
// them; test/journal-bounded.test.ts holds files written by real runs to these schemas.

const Sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "a SHA-256 in lowercase hex"));

export const JournalEntrySchema = v.strictObject({
  /** 1, 2, … within its journal. */
  seq: v.pipe(v.number(), v.integer(), v.minValue(1)),
  at: v.string(),
  command: v.string(),
  intents: v.array(v.string()),
  steps: v.number(),
  /**
   * Every file the run wrote, with the SHA-256 of its new bytes — except leaf certificates
   * (leaves/<scope>/*.crt.pem), which each scope's manifest lists instead; the entry lists the
   * manifest. Entries written before manifests list the certificates here, and are still read.
   */
  files: v.array(v.strictObject({ path: v.string(), sha256: Sha256 })),
  /** The previous entry's hash (64 zeros for the first): the chain. */
  prev: Sha256,
  /** The lock holder that wrote it. */
  run: v.optional(v.string()),
  /** In a scope's journal: the seq of the last journal/pki.jsonl entry when it was committed. */
  base: v.optional(v.number()),
  /** SHA-256 of the entry's JSON without `hash`. */
  hash: Sha256,
});

export const LeafManifestSchema = v.strictObject({
  format: v.literal("inforge.leaf-manifest/v1"),
  scope: v.string(),
  /** Every leaf certificate of the scope the journal vouches for, by file name: the SHA-256 of its bytes. */
  files: v.record(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\.crt\.pem$/)), Sha256),
});

export const FORMAT_SCHEMAS = {
  "inforge.journal-entry/v1": JournalEntrySchema,
  "inforge.leaf-manifest/v1": LeafManifestSchema,
} as const;
