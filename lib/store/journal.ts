import { createHash } from "node:crypto";

// The journal: one JSON line per applied plan, each carrying the hash of the previous line's
// entry, so that editing, reordering or deleting an entry breaks the chain.

export interface JournalEntry {
  readonly seq: number;
  readonly at: string;
  readonly command: string;
  readonly intents: readonly string[];
  readonly steps: number;
  /** Every file the plan wrote, with the sha256 of its new content. */
  readonly files: readonly { readonly path: string; readonly sha256: string }[];
  readonly prev: string;
  readonly hash: string;
}

export const GENESIS = "0".repeat(64);

export const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

export function sealEntry(e: Omit<JournalEntry, "hash">): JournalEntry {
  return { ...e, hash: sha256(JSON.stringify({ ...e, hash: undefined })) };
}

/** Parse and verify a journal's text; returns the entries or the first break in the chain. */
export function readJournal(text: string): { entries: JournalEntry[]; broken: string | null } {
  const entries: JournalEntry[] = [];
  let prev = GENESIS;
  const lines = text.split("\n").filter((l) => l.length);
  for (const [n, line] of lines.entries()) {
    let e: JournalEntry;
    try {
      e = JSON.parse(line) as JournalEntry;
    } catch {
      return { entries, broken: `line ${n + 1} is not JSON` };
    }
    const { hash, ...rest } = e;
    if (sealEntry(rest).hash !== hash) return { entries, broken: `entry ${n + 1} was edited (its hash does not match its content)` };
    if (e.prev !== prev) return { entries, broken: `entry ${n + 1} does not follow entry ${n} (an entry was removed or reordered)` };
    if (e.seq !== n + 1) return { entries, broken: `entry ${n + 1} has sequence number ${e.seq}` };
    prev = hash;
    entries.push(e);
  }
  return { entries, broken: null };
}
