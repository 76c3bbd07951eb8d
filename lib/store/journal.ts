import { digestHex } from "../node-crypto.ts";

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
  /** The run (lock holder) that wrote it: lets a re-run see that a killed run had finished. */
  readonly run?: string;
  /**
   * In a scope's journal (journal/scopes/<scope>.jsonl, lib/store/domains.ts): the seq of the last
   * entry of journal/pki.jsonl when this one was committed (0: none yet). Directory-wide runs
   * exclude scope runs, so this places the entry between pki.jsonl's entries `base` and `base + 1`.
   */
  readonly base?: number;
  readonly hash: string;
}

export const GENESIS = "0".repeat(64);

export const sha256 = (data: string | Uint8Array): string => digestHex("sha256", data);

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

/**
 * The entries of journal/pki.jsonl and of the scope journals, interleaved in an order that agrees
 * with when they were committed (each scope entry after the directory entry it names as `base`).
 * Scope entries of different scopes wrote disjoint files, so their relative order is immaterial.
 * For "which entry last wrote this file" over the whole directory.
 */
export function mergeJournals(whole: readonly JournalEntry[], scopes: readonly (readonly JournalEntry[])[]): JournalEntry[] {
  const out: JournalEntry[] = [];
  const at = scopes.map(() => 0);
  const upTo = (seq: number) => {
    scopes.forEach((list, i) => {
      while (at[i]! < list.length && (list[at[i]!]!.base ?? 0) < seq) out.push(list[at[i]!++]!);
    });
  };
  for (const e of whole) {
    upTo(e.seq);
    out.push(e);
  }
  upTo(Infinity);
  return out;
}

/**
 * The unterminated last line of a journal, when it is the start of `line` (the entry being
 * appended): what an append cut short by a power failure leaves. Null when there is none.
 * Anything else unterminated is damage, and readJournal reports it.
 */
export function tornTail(text: string, line: string): string | null {
  if (text === "" || text.endsWith("\n")) return null;
  const tail = text.slice(text.lastIndexOf("\n") + 1);
  return line.startsWith(tail) ? tail : null;
}
