import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { StateError } from "../errors.ts";
import { error, type Finding } from "../check/verify-rules.ts";
import { FsStore, TMP, type Store } from "./fs-store.ts";
import { GENESIS, mergeJournals, readJournal, sealEntry, sha256, tornTail, type JournalEntry } from "./journal.ts";
import { journalFile, pendingFile, redoFile, type Domain } from "./domains.ts";
import { readRedo } from "./redo.ts";
import { pendingFolded } from "./manifest.ts";

// The tree as the next run will see it: verify judges what recover() will finish, reading an
// interrupted run's files from its redo log and its journal entry as it will be appended.

/**
 * A read-only view of the pki directory as the next run will see it: when an interrupted run
 * left a pending record, its files are read from where they are staged, so verify judges the
 * tree that recover() will finish (and can say whether anything would be missing).
 */
export class RolledForward implements Store {
  readonly dir: string;
  readonly base: FsStore;
  readonly overlay = new Map<string, string>();
  constructor(base: FsStore) {
    this.base = base;
    this.dir = base.dir;
  }
  async read(rel: string): Promise<string | null> {
    return this.overlay.get(rel) ?? this.base.read(rel);
  }
  list(rel: string): Promise<string[]> {
    return this.base.list(rel);
  }
  commit(): Promise<JournalEntry> {
    throw new StateError("internal: verify never writes");
  }
}

/** A pending record's entry and the leaf certificates it names beside it (lib/store/manifest.ts); null when damaged. */
function parsePending(text: string): { entry: JournalEntry; folded: { path: string; sha256: string }[]; redo: boolean } | null {
  try {
    const rec = JSON.parse(text) as { entry?: JournalEntry; folded?: unknown; redo?: unknown };
    const e = rec.entry;
    if (!e || !Array.isArray(e.files)) return null;
    const { hash, ...rest } = e;
    const folded = pendingFolded(rec);
    return sealEntry(rest).hash === hash && folded ? { entry: e, folded, redo: rec.redo === true } : null;
  } catch {
    return null;
  }
}

/**
 * Fills `view`'s overlay from each domain's pending record (an interrupted run): the files it
 * wrote are read where they are staged. Returns the pending entries by domain; a damaged
 * record, or a file neither written nor staged, is a finding.
 */
export async function rollForward(base: FsStore, view: RolledForward, domains: readonly Domain[], add: (f: Finding) => void): Promise<Map<Domain, JournalEntry>> {
  const pendings = new Map<Domain, JournalEntry>();
  for (const d of domains) {
    const file = pendingFile(d);
    const text = await base.read(file);
    if (text === null) continue;
    const parsed = parsePending(text);
    if (!parsed) {
      add(error("commit.pending-damaged", `${file} is damaged, so the interrupted run it records cannot be finished; restore the pki directory from git`, file));
      continue;
    }
    const pending = parsed.entry;
    pendings.set(d, pending);
    add(error("commit.pending", `an interrupted run ("${pending.command}", entry ${pending.seq} of ${journalFile(d)}) has not finished; run any inforge pki command that applies (the same one is best) to finish it — the checks below describe the tree as it will be then`, file));
    // Where the run's new bytes are: its redo log (lib/store/redo.ts), or, for a record written
    // before redo logs, the files staged beside their targets.
    const files = [...pending.files, ...parsed.folded];
    let logged: Map<string, string> | null = null;
    if (parsed.redo) {
      const log = redoFile(d);
      try {
        const text = await base.read(log);
        if (text === null) throw new StateError(`its log ${log} is missing`);
        logged = new Map(readRedo(text, log, pending.hash, new Map(files.map((f) => [f.path, f.sha256]))).map((f) => [f.path, f.content]));
      } catch (e) {
        add(error("commit.unrecoverable", `the interrupted run recorded in ${file} cannot be finished (${(e as Error).message.replace(/, so the interrupted run.*$/, "")}); restore the pki directory from git`, log));
        continue;
      }
    }
    for (const f of files) {
      const now = await base.read(f.path);
      if (now !== null && sha256(now) === f.sha256) continue;
      const next = logged ? (logged.get(f.path) ?? null) : await readFile(join(base.dir, f.path + TMP), "utf8").catch(() => null);
      if (next !== null && sha256(next) === f.sha256) view.overlay.set(f.path, next);
      else add(error("commit.unrecoverable", `${f.path} is neither the file the interrupted run wrote nor staged beside it, so that run cannot be finished; restore the pki directory from git`, f.path));
    }
  }
  return pendings;
}

/**
 * Every journal's entries (journal/pki.jsonl and each scope's), with interrupted runs' entries as
 * they will be appended, merged in commit order; null when there is no journal at all.
 */
export async function journalEntries(base: FsStore, domains: readonly Domain[], pendings: ReadonlyMap<Domain, JournalEntry>, add: (f: Finding) => void): Promise<JournalEntry[] | null> {
  const lists = new Map<Domain, JournalEntry[]>();
  for (const d of domains) {
    const file = journalFile(d);
    const pending = pendings.get(d);
    let text = await base.read(file);
    if (text === null && !pending) continue;
    text ??= "";
    if (pending) {
      // recover() cuts off a torn append of the pending entry before appending it again.
      const torn = tornTail(text, JSON.stringify(pending) + "\n");
      if (torn !== null) text = text.slice(0, text.length - torn.length);
    }
    const { entries, broken } = readJournal(text);
    if (broken) {
      add(error("journal.broken", `the journal's hash chain is broken: ${broken}; an entry was edited, removed or reordered — restore ${file} (and what it records) from git`, file));
    }
    if (pending && !broken && entries.at(-1)?.hash !== pending.hash) {
      if (pending.prev !== (entries.at(-1)?.hash ?? GENESIS)) {
        add(error("commit.pending-foreign", `${pendingFile(d)} does not follow the last entry of ${file}, so it is not from the last run; restore the pki directory from git`, pendingFile(d)));
      } else entries.push(pending);
    }
    lists.set(d, entries);
  }
  if (!lists.size) return null;
  return mergeJournals(lists.get(null) ?? [], [...lists].filter(([d]) => d !== null).map(([, e]) => e));
}
