import { readFile, readdir, rename, unlink, stat } from "node:fs/promises";
import { readFileSync, readdirSync, writeFileSync, type Dirent } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { StateError } from "../errors.ts";
import { fsyncDir, syncFileSystems, writeAtomic, writeDurable } from "./atomic.ts";
import { GENESIS, mergeJournals, readJournal, sealEntry, sha256, tornTail, type JournalEntry } from "./journal.ts";
import { REDO, journalFile, pendingFile, redoFile, scopeOfPath, type Domain } from "./domains.ts";
import { assertNoSymlinks, assertNoSymlinksIn, makeDirs, openAppend, removeDirs } from "./no-follow.ts";
import { granted } from "../runtime.ts";
import { ioFailure } from "./io-errors.ts";
import { eachLimited } from "../pool.ts";
import { foldWrites, manifestScope, manifestsOf, pendingFolded } from "./manifest.ts";
import { overwrite, readRedo, RedoStream, syncFile, writeRedo, writeRedoNow, type HeldOverwrites, type Overwritten, type RedoFile } from "./redo.ts";

export interface FileWrite {
  readonly path: string; // relative to the pki directory
  readonly content: string;
  readonly mode: number;
  /** SHA-256 (hex) of `content` as UTF-8, where its maker had it already (a minted leaf's, from the mint thread). */
  readonly sha256?: string;
}

export interface CommitInfo {
  readonly at: string;
  readonly command: string;
  readonly intents: readonly string[];
  readonly steps: number;
  /**
   * Awaited once everything is staged, before the commit point: a rejection takes the staging
   * back and is rethrown as it is (a run's tamper check, run meanwhile on another thread).
   */
  readonly beforeCommitPoint?: () => Promise<unknown>;
  /** The log this commit's files were streamed into (Store.streamLog); the commit writes the rest. */
  readonly log?: StreamedLog;
  /**
   * Another thread that overwrites certificates as this one would (a fleet run's mint worker,
   * idle by then): handed half of a fleet's before the commit point, it writes them past it
   * while this thread writes the other half. Should it fail, this thread writes its half too
   * (an overwrite may be repeated).
   */
  readonly helper?: { hold(files: readonly { abs: string; content: string; mode: number }[]): HeldOverwrites };
}

/** The pki directory. The only place (with lib/cli) that touches the file system. */
export interface Store {
  readonly dir: string;
  read(path: string): Promise<string | null>;
  list(dir: string): Promise<string[]>;
  /** Write every file or none: a crash at any instant leaves the old set or the new set. */
  commit(writes: readonly FileWrite[], info: CommitInfo): Promise<JournalEntry>;
  /**
   * Begin the next commit's redo log now, for a run that makes many files (null where a commit
   * writes its log whole: fault injection, a tree without its journal directory yet).
   */
  streamLog?(): Promise<StreamedLog | null>;
}

/**
 * The redo log of a commit to come, written while the run makes its files (lib/store/redo.ts
 * RedoStream): `add` the files as they are made — the very objects the commit is then given —
 * and pass it to commit as `log`; `drop` removes it when the run ends without committing.
 */
export interface StreamedLog {
  add(files: readonly FileWrite[]): void;
  drop(): Promise<void>;
}

export const PENDING = "journal/pending.json";
/** Suffix of a file staged beside its target, before the commit point. */
export const TMP = ".inforge-new";
/** Temp files of writeAtomic (`<file>.<pid>.tmp`): only ever written under the lock. */
const ATOMIC_TMP = /\.\d+\.tmp$/;

/**
 * Test-only fault injection (test/faults.test.ts): with INFORGE_CRASH_AT=<point> set, the process
 * SIGKILLs itself at that instant of a commit, so the tests can prove a run killed there
 * recovers. Points: stage:<n> (n files in the redo log), stage-torn:<n> (half of file n's line
 * written), beside:<n> (n files staged beside their targets), pending-torn, pending (the commit
 * point), write:<n> (n files put in place), write-torn:<n> (half of file n written over the old
 * bytes), journal-torn, journal, committed.
 * `torn` first writes half, as a power cut in the middle of a write would. Never set outside tests.
 */
// Under Deno, --allow-env lists only the variables a run reads; this test hook is not one of
// them, so it counts as unset unless granted (reading it would fail, or prompt, mid-commit).
// Read once a process: a fleet commit asks per certificate, and process.env is a lookup in C++.
let crashSetting: { readonly at: string | undefined } | undefined;
function crashAt(): string | undefined {
  crashSetting ??= { at: granted({ name: "env", variable: "INFORGE_CRASH_AT" }) ? process.env.INFORGE_CRASH_AT : undefined };
  return crashSetting.at;
}

function crashPoint(point: string, torn?: { path: string; content: string; append?: boolean }): void {
  if (crashAt() !== point) return;
  if (torn) writeFileSync(torn.path, torn.content.slice(0, Math.ceil(torn.content.length / 2)), { flag: torn.append ? "a" : "w" });
  process.kill(process.pid, "SIGKILL");
}

/**
 * Write many files at once. Each is fsynced before the pending record goes, and a fleet renewal
 * writes one per leaf: one at a time, every fsync waits alone (0.4 ms each on a VM disk, 4 s for
 * 10,000 leaves); with many in flight the file system folds them into shared journal commits.
 * Order does not matter for safety: after the commit point any subset of writes is redone by
 * recover() from the log. Under fault injection it stays one at a time, so a crash point names
 * exactly one instant.
 */
async function inParallel<T>(items: readonly T[], f: (item: T, n: number) => Promise<void>): Promise<void> {
  await eachLimited(items, crashAt() === undefined ? IO_WIDTH : 1, f);
}

/** Directories inforge creates in the pki directory: explicit, never the umask's default (0777 under umask 000). */
export const DIR_MODE = 0o755;

/** Files of one directory from which the commit's guard reads its entries once instead of an lstat each. */
const LISTED_FROM = 32;

/** Leaf certificates a commit overwrites from which one flush of the file system beats an fdatasync each (spawning `sync` costs a few ms). */
const SYNCFS_FROM = 256;

/**
 * Staged files a commit writes beside its redo log, and renames it starts at once while it
 * overwrites the certificates, at most: a renewal's few per scope. A fleet's first leaves (all
 * staged beside, all renamed) go one after the other, 64 in flight: a 100,000-leaf first renewal
 * with all of them started at once peaked above 600 MB.
 */
const OVERLAP_MAX = 1024;

/** Leaf certificates a commit overwrites from which a helper thread takes half (posting them costs a few ms). */
export const HELPED_FROM = 2048;

/** Files in flight at once (the thread pool is sized for it in bin/inforge.js): 64 fsyncs of a fleet's files, 0.3 s at 10,000 leaves against 0.6 s at 16. */
const IO_WIDTH = 64;

/** The entry on the last complete line of a journal's text (null: none, or not JSON). */
function lastLine(text: string): JournalEntry | null {
  const end = text.endsWith("\n") ? text.length - 1 : text.lastIndexOf("\n");
  if (end <= 0) return null;
  try {
    return JSON.parse(text.slice(text.lastIndexOf("\n", end - 1) + 1, end)) as JournalEntry;
  } catch {
    return null;
  }
}

/** A directory's entries as `list` gives them: no hidden, staged or temporary files; sorted. */
const listed = (names: string[]) => names.filter((n) => !n.startsWith(".") && !n.endsWith(TMP) && !n.endsWith(".tmp")).sort();

/** An empty, "." or ".." component of a relative path (at its start, between slashes, or at its end). */
const NOT_PLAIN = /(?:^|\/)\.{0,2}(?:\/|$)/;

function safeRel(rel: string): string {
  // One regular expression, not a split: every file a fleet run reads or writes passes here (a
  // split and an array a path were ~30 ms of a 10,000-leaf tamper check).
  if (!rel || rel.startsWith("/") || rel.includes("\0") || NOT_PLAIN.test(rel)) {
    throw new StateError(`refusing the path "${rel}": it is not a plain path inside the pki directory`);
  }
  return rel;
}

export class FsStore implements Store {
  readonly dir: string;
  /** `dir` and a separator: every path of the store starts with it. */
  private readonly under: string;
  /** The run (lock holder) whose commits this store records, so a re-run can tell its work was done. */
  readonly run: string | undefined;
  /** The entry recover() rolled forward, if it did. */
  recovered: JournalEntry | null = null;
  /** How the last commit made its overwritten leaf certificates durable (INFORGE_TIMINGS says it). */
  flushed: "syncfs" | "file by file" | null = null;
  /** Whether the last commit sealed a redo log streamed while its files were made (INFORGE_TIMINGS says it). */
  logStreamed = false;
  /**
   * The lock domain this store commits in (lib/store/domains.ts): null for the whole directory
   * (journal/pki.jsonl), or a scope, whose runs may only write that scope's files and journal to
   * journal/scopes/<scope>.jsonl, each with its own pending record — so two regions' runs commit
   * side by side.
   */
  readonly domain: Domain;
  /** This domain's journal and pending record. */
  readonly journal: string;
  readonly pending: string;
  constructor(dir: string, o: { run?: string; domain?: Domain } = {}) {
    this.dir = resolve(dir);
    this.under = this.dir.endsWith(sep) ? this.dir : this.dir + sep;
    this.run = o.run;
    this.domain = o.domain ?? null;
    this.journal = journalFile(this.domain);
    this.pending = pendingFile(this.domain);
  }

  abs(rel: string): string {
    // A plain relative path (safeRel) below a resolved directory: joined by hand where "/" is the
    // separator (path.join normalizes what needs no normalizing: ~1 µs a path, 10,000 a tamper check).
    const p = sep === "/" ? this.under + safeRel(rel) : join(this.dir, safeRel(rel));
    if (!p.startsWith(this.under)) throw new StateError(`refusing the path "${rel}": it leaves the pki directory`);
    return p;
  }

  async read(rel: string): Promise<string | null> {
    try {
      return await readFile(this.abs(rel), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
  }

  async list(rel: string): Promise<string[]> {
    try {
      return listed(await readdir(this.abs(rel)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
  }

  /** `read`, synchronously (a getter's read: lib/store/snapshot.ts readSnapshotSync). */
  readSync(rel: string): string | null {
    try {
      return readFileSync(this.abs(rel), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
  }

  /** `list`, synchronously. */
  listSync(rel: string): string[] {
    try {
      return listed(readdirSync(this.abs(rel)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
  }

  /** Store.streamLog: the redo log at this domain's path, begun now (RedoStream). */
  async streamLog(): Promise<StreamedLog | null> {
    // As commit checks them before its log: no symlink on the way to the journal's files.
    const redo = redoFile(this.domain);
    const { dirs } = this.guard([this.journal, this.pending, redo]);
    if (crashAt() !== undefined || !dirs.has(join(this.dir, dirname(redo)))) return null;
    return new StreamedRedo(this, await RedoStream.open(this.abs(redo)));
  }

  /**
   * Redo-log commit (lib/store/redo.ts). (1) every new file goes into the domain's redo log,
   * fsynced, and every file that will not be overwritten in place is also staged beside its
   * target, so all the space the commit needs is taken before (2) a pending record naming the
   * files and their hashes is written atomically — the commit point; (3) the staged files are
   * renamed into place and existing leaf certificates overwritten in place; (4) the journal gets
   * its entry; (5) the record and the log are removed. `recover()` finishes (3)–(5) from the log
   * after a crash past the commit point, or discards the log and staged files before it. No
   * target is touched before the commit point.
   */
  async commit(writes: readonly FileWrite[], info: CommitInfo): Promise<JournalEntry> {
    const streamed = info.log === undefined ? null : info.log instanceof StreamedRedo && info.log.store.dir === this.dir && info.log.store.domain === this.domain ? info.log.stream : null;
    if (info.log && !streamed) throw new StateError("internal: a commit given the redo log of another directory or domain");
    try {
      return await this.commitWith(writes, info, streamed);
    } catch (e) {
      // Refused before its commit point (a pending record names the log past it: kept for recovery).
      if (streamed && !(await this.read(this.pending).catch(() => "unknown"))) await unlink(this.abs(redoFile(this.domain))).catch(() => {});
      throw e;
    } finally {
      await streamed?.close(); // sealed and closed by now, or this commit wrote none of it
    }
  }

  private async commitWith(writes: readonly FileWrite[], info: CommitInfo, streamed: RedoStream | null): Promise<JournalEntry> {
    const seen = new Set<string>();
    for (const w of writes) {
      if (seen.has(w.path)) throw new StateError(`internal: the plan writes "${w.path}" twice`);
      if (this.domain !== null && scopeOfPath(w.path) !== this.domain) {
        throw new StateError(`internal: a run locked to scope "${this.domain}" would write "${w.path}", outside that scope`);
      }
      seen.add(w.path);
    }
    const redo = redoFile(this.domain);
    const faults = crashAt() !== undefined;
    // Nothing is written before every path this commit touches has been checked: no symlink
    // anywhere below the pki directory (a committed `leaves/eu -> /elsewhere` would carry the
    // writes out of it). The journal's files first: the redo log is written (and flushed, on the
    // thread pool) while this thread checks the others, which no byte reaches before the commit
    // point. (The log of a commit refused there is taken back, as on any refusal.)
    const { dirs: journalDirs } = this.guard([this.journal, this.pending, redo]);
    const early = !faults && journalDirs.has(join(this.dir, dirname(redo)));
    // Leaf certificates go into their scopes' manifests, which the entry records instead
    // (lib/store/manifest.ts): an entry stays O(scopes) lines however many leaves the run wrote.
    const { staged: all, journaled, folded } = await foldWrites(writes, (p) => this.read(p));
    // The chains were verified before anything was applied (the pipeline's tamper check); here
    // only the last entry of each journal is needed, read off its last line.
    const last = await this.tail(this.domain);
    // A scope's entry records where the directory's journal stood, which orders the two (mergeJournals).
    const base = this.domain === null ? null : ((await this.tail(null))?.seq ?? 0);
    const entry = sealEntry({
      seq: (last?.seq ?? 0) + 1, at: info.at, command: info.command, intents: info.intents, steps: info.steps,
      files: journaled, prev: last?.hash ?? GENESIS,
      ...(this.run ? { run: this.run } : {}),
      ...(base === null ? {} : { base }),
    });
    let logged: Promise<void> | null = null;
    // A log streamed while the files were made holds most of them: the rest go after them, then
    // the header — unless a write is not the object streamed (then it is written whole, anew).
    const rest = streamed ? all.filter((f) => streamed.files.get(f.path) !== f) : null;
    const resume = early && streamed !== null && streamed.usable && rest !== null && all.length - rest.length === streamed.files.size;
    if (streamed && !resume) await streamed.close();
    if (early) {
      try {
        logged = (resume ? await streamed!.seal(entry.hash, rest!, all.length) : await writeRedoNow(this.abs(redo), entry.hash, all)).flushed;
        this.logStreamed = resume;
      } catch (e) {
        await unlink(this.abs(redo)).catch(() => {});
        throw ioFailure(e, "nothing was changed");
      }
    }
    let guarded: ReturnType<FsStore["guard"]>;
    try {
      guarded = this.guard([...writes.map((w) => w.path), ...manifestsOf(writes.map((w) => w.path))]);
    } catch (e) {
      await logged?.catch(() => {});
      await unlink(this.abs(redo)).catch(() => {});
      throw e;
    }
    const { lone } = guarded;
    const checked = new Set([...journalDirs, ...guarded.dirs]);
    // Existing leaf certificates (regular files) are overwritten in place after the commit point;
    // in the same block (a certificate is under 4 KB) that takes no new space. (One with a second
    // name — a hard link, which git never makes — is replaced by a new file then: overwrite.)
    // Everything else — state files, bundles, key files, new leaves — is staged beside its target
    // now, so a full disk is met before the commit point and changes nothing.
    const inPlace = new Set(all.filter((w) => manifestScope(w.path) !== null && lone.has(w.path)).map((w) => w.path));
    const beside = all.filter((w) => !inPlace.has(w.path));
    // A fleet's certificates: the first half goes to the helper's thread now, to copy in while
    // the log is flushed, and is written there past the commit point (not under fault injection,
    // whose crash points are one write each, in order).
    const helped = info.helper && !faults && inPlace.size >= HELPED_FROM ? all.filter((w) => inPlace.has(w.path)).slice(0, inPlace.size >> 1) : [];
    const held = helped.length ? { files: helped, on: info.helper!.hold(helped.map((f) => ({ abs: this.abs(f.path), content: f.content, mode: f.mode }))) } : undefined;
    // A fleet renewal's few staged files are not fsynced one by one: the log holds their bytes
    // (a crash past the commit point writes them again from it), and the flush of the file
    // system that makes the certificates durable makes them durable too — or, where there is
    // none, an fsync each once they are in place (finish).
    const flushLater = early && inPlace.size >= SYNCFS_FROM && beside.length <= OVERLAP_MAX;
    const created: string[] = [];
    const staged: string[] = [];
    // Before the commit point: take back the log and the staged files, so a refusal (a full
    // disk, a read-only file system, a tampered tree) leaves the directory as it was.
    const takeBack = async () => {
      held?.on.drop();
      await unlink(this.abs(redo)).catch(() => {});
      for (const f of staged) await unlink(f).catch(() => {});
      await removeDirs(created);
    };
    const undo = async (e: unknown) => {
      await takeBack();
      throw ioFailure(e, "nothing was changed");
    };
    try {
      // Only those the guard did not just find as directories of their own: the rest are made, one level at a time.
      for (const d of new Set([...all.map((w) => dirname(w.path)), dirname(this.journal)])) {
        if (!checked.has(join(this.dir, d))) created.push(...(await makeDirs(this.dir, d, DIR_MODE)));
      }
      logged ??= writeRedo(this.abs(redo), entry.hash, all, faults ? (n, text) => {
        crashPoint(`stage-torn:${n + 1}`, { path: this.abs(redo), content: text, append: true });
        if (n > 0) crashPoint(`stage:${n}`);
      } : undefined);
      const stageBeside = () => inParallel(beside, async (w, n) => {
        staged.push(this.abs(w.path) + TMP);
        await writeDurable(this.abs(w.path) + TMP, w.content, w.mode, { flushLater });
        crashPoint(`beside:${n + 1}`);
      });
      if (faults || beside.length > OVERLAP_MAX) {
        // (A fleet's first leaves are all staged beside: one after the other, as the memory allows.)
        await logged;
        crashPoint(`stage:${all.length}`);
        await stageBeside();
      } else {
        // A renewal's few staged files are written and fsynced while the log is (neither is a
        // target: the order between them does not matter), both settled before a failure is taken back.
        const [log, staging] = await Promise.allSettled([logged, stageBeside()]);
        for (const r of [log, staging]) if (r.status === "rejected") throw r.reason;
      }
    } catch (e) {
      return undo(e);
    }
    if (info.beforeCommitPoint) {
      try {
        await info.beforeCommitPoint();
      } catch (e) {
        await takeBack();
        throw e;
      }
    }
    // The pending record also names the certificates only the manifests record: recover() writes them too.
    const record = JSON.stringify({ entry, folded, redo: true }) + "\n";
    crashPoint("pending-torn", { path: `${this.abs(this.pending)}.${process.pid}.tmp`, content: record });
    try {
      await writeAtomic(this.abs(this.pending), record, 0o644);
    } catch (e) {
      return undo(e);
    }
    crashPoint("pending");
    await this.finish(entry, this.domain, all, new Set(beside.map((w) => w.path)), held, flushLater).catch((e: unknown) => {
      throw ioFailure(e, "the run is committed but not finished; run any inforge command on this directory again to finish it");
    });
    crashPoint("committed");
    return entry;
  }

  /**
   * Put a committed run's files in place, append its entry, remove its pending record and log.
   * `beside`: the files a commit staged beside their targets (it checked every path just now);
   * a recovery passes none, and puts every file from the log. `unflushed`: they were staged
   * without an fsync, for the flush of the file system here to cover (or an fsync each after).
   */
  private async finish(entry: JournalEntry, domain: Domain, files: readonly RedoFile[], beside?: ReadonlySet<string>, held?: { files: readonly RedoFile[]; on: HeldOverwrites }, unflushed = false): Promise<void> {
    const journal = journalFile(domain);
    if (!beside) this.guard([...files.map((f) => f.path), journal, pendingFile(domain)]);
    const dirs = new Set<string>();
    // Leaf certificates — the bulk of a fleet's files, read only under the lock or through the
    // log (rolled-forward) — are written in place. Every other file (state, bundles, keys,
    // manifests: a few dozen) replaces its target atomically, so a reader without the lock
    // (status, a task's context, openPki) never meets a half-written one, even mid-commit.
    const numbered = files.map((f, n) => ({ f, n }));
    const atomic = (f: RedoFile) => (beside ? beside.has(f.path) : manifestScope(f.path) === null);
    const toRename = numbered.filter(({ f }) => atomic(f));
    // A renewal's few staged files are renamed on the thread pool while this thread overwrites
    // the certificates (all started at once: their continuations would wait for the loop below).
    const renamed = beside && crashAt() === undefined && toRename.length <= OVERLAP_MAX ? Promise.all(toRename.map(async ({ f }) => {
      const target = this.abs(f.path);
      await rename(target + TMP, target);
      dirs.add(dirname(target));
    })) : null;
    renamed?.catch(() => {}); // awaited below, after the overwrites
    if (!renamed) await inParallel(toRename, async ({ f, n }) => {
      const target = this.abs(f.path);
      if (beside) crashPoint(`write-torn:${n + 1}`); // staged already: a rename is never torn
      else {
        crashPoint(`write-torn:${n + 1}`, { path: target + TMP, content: f.content });
        await writeDurable(target + TMP, f.content, f.mode);
      }
      await rename(target + TMP, target);
      dirs.add(dirname(target));
      crashPoint(`write:${n + 1}`);
    });
    // Written synchronously into the page cache, each closed at once, then made durable
    // together: one flush of the file system (syncfs) for a fleet's certificates, or an
    // fdatasync each, many in flight, where that cannot be had or the commit is small.
    const certs = numbered.filter(({ f }) => !atomic(f));
    const written: { abs: string; w: Overwritten }[] = [];
    // A fleet's certificates: the first half on the helper's thread, which holds them already.
    const there = held ? certs.slice(0, held.files.length) : [];
    if (there.some(({ f }, i) => f !== held!.files[i])) throw new StateError("internal: the helper holds other certificates than the commit's first half");
    const away = held?.on.go() ?? null;
    away?.catch(() => {}); // awaited below
    const faults = crashAt() !== undefined;
    for (const { f, n } of certs.slice(there.length)) {
      const target = this.abs(f.path);
      const torn = faults && crashAt() === `write-torn:${n + 1}` ? () => process.kill(process.pid, "SIGKILL") : undefined;
      const w = overwrite(target, f.content, f.mode, torn);
      written.push({ abs: target, w });
      if (w.created) dirs.add(dirname(target));
      if (faults) crashPoint(`write:${n + 1}`);
    }
    const theirs = away ? await away.catch(() => null) : null;
    there.forEach(({ f }, i) => {
      const target = this.abs(f.path);
      const w = theirs?.[i] ?? overwrite(target, f.content, f.mode);
      written.push({ abs: target, w });
      if (w.created) dirs.add(dirname(target));
    });
    await renamed;
    const flush = async () => {
      if (written.length >= SYNCFS_FROM && (await syncFileSystems([this.dir, ...new Set(written.map((x) => dirname(x.abs))), ...dirs]))) {
        dirs.clear();
        this.flushed = "syncfs";
      } else {
        await inParallel(written, (x) => syncFile(x.abs, x.w));
        // Staged without an fsync for the flush that did not come (unflushed): each one now.
        if (unflushed) await inParallel(toRename, ({ f }) => syncFile(this.abs(f.path), { full: true, created: false }));
        if (written.length) this.flushed = "file by file";
      }
      await inParallel([...dirs], (d) => fsyncDir(d));
    };
    // The entry is appended while the files are flushed: a crash in between leaves the pending
    // record (removed below, after both), which rolls the run forward and finds its entry there.
    // Under fault injection one after the other, so each crash point is one instant.
    if (crashAt() !== undefined) {
      await flush();
      await this.appendEntry(journal, entry);
    } else {
      const done = await Promise.allSettled([flush(), this.appendEntry(journal, entry)]);
      for (const r of done) if (r.status === "rejected") throw r.reason;
    }
    crashPoint("journal");
    // The record first: a log without one is discarded by the next run, a record without its log is not finishable.
    await unlink(this.abs(pendingFile(domain)));
    await unlink(this.abs(redoFile(domain))).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    });
    await fsyncDir(dirname(this.abs(journal)));
  }

  /**
   * Append `entry` to `journal` once: a torn last line (a power cut mid-append) is cut off first,
   * and an entry already there (a recovery's second try) is not appended again.
   */
  private async appendEntry(journal: string, entry: JournalEntry): Promise<void> {
    const line = JSON.stringify(entry) + "\n";
    // A power cut in the middle of the append below leaves a torn last line: the start of this
    // very entry. Cut it off (atomically) before appending it again whole.
    const text = await this.read(journal);
    const torn = text === null ? null : tornTail(text, line);
    if (text !== null && torn !== null) await writeAtomic(this.abs(journal), text.slice(0, text.length - torn.length), 0o644);
    const kept = text === null ? "" : torn === null ? text : text.slice(0, text.length - torn.length);
    if (kept !== "" && !kept.endsWith("\n")) {
      throw new StateError(`the journal ${journal} is broken: its last line is cut off; the pki directory may have been tampered with — run inforge pki verify and restore from git`);
    }
    const last = lastLine(kept);
    if (last?.hash !== entry.hash) {
      crashPoint("journal-torn", { path: this.abs(journal), content: line, append: true });
      const fh = await openAppend(this.abs(journal), 0o644);
      try {
        await fh.appendFile(line);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  }

  /**
   * The files a pending record commits, from its redo log; or, for a record written before redo
   * logs, from the files staged beside their targets (a target already holding its new bytes is
   * left alone). A StateError when they cannot all be found.
   */
  private async pendingFiles(rec: { entry: JournalEntry; redo?: unknown }, d: Domain, folded: readonly { path: string; sha256: string }[]): Promise<{ files: RedoFile[]; legacy: string[] }> {
    const expected = new Map([...rec.entry.files, ...folded].map((f) => [f.path, f.sha256]));
    if (rec.redo === true) {
      const log = redoFile(d);
      const text = await this.read(log);
      if (text === null) throw new StateError(`cannot finish the interrupted run: its log ${log} is missing; restore the pki directory from git and re-run`);
      return { files: readRedo(text, log, rec.entry.hash, expected), legacy: [] };
    }
    const files: RedoFile[] = [];
    const legacy: string[] = [];
    for (const [path, digest] of expected) {
      const have = await this.read(path);
      if (have !== null && sha256(have) === digest) continue;
      const staged = await this.read(path + TMP).catch(() => null);
      if (staged === null || sha256(staged) !== digest) {
        throw new StateError(`cannot finish the interrupted run: "${path}" is neither the new file nor staged; restore the pki directory from git and re-run`);
      }
      files.push({ path, content: staged, mode: /\.age$/.test(path) ? 0o600 : 0o644 });
      legacy.push(this.abs(path + TMP));
    }
    return { files, legacy };
  }

  /**
   * Refuse (before anything is written) when any component of these paths is a symlink. Returns
   * the paths that are regular files (with one name, where each was lstat'ed; a directory of
   * many is listed instead: lib/store/no-follow.ts), and the directories found on the way
   * (absolute paths), each a directory of its own.
   */
  private guard(rels: readonly string[]): { lone: Set<string>; dirs: Set<string> } {
    const dirs = new Set<string>();
    const lone = new Set<string>();
    const byDir = new Map<string, string[]>();
    for (const rel of rels) {
      const at = safeRel(rel).lastIndexOf("/");
      const [dir, name] = at < 0 ? [".", rel] : [rel.slice(0, at), rel.slice(at + 1)];
      let names = byDir.get(dir);
      if (!names) byDir.set(dir, (names = []));
      names.push(name);
    }
    for (const [dir, names] of byDir) {
      // A scope's leaf certificates: the directory's entries, read once with their types.
      if (dir !== "." && names.length >= LISTED_FROM) {
        for (const name of assertNoSymlinksIn(this.dir, dir, names, dirs)) lone.add(`${dir}/${name}`);
        continue;
      }
      for (const name of names) {
        const rel = dir === "." ? name : `${dir}/${name}`;
        if (assertNoSymlinks(this.dir, rel, dirs)) lone.add(rel);
      }
    }
    return { lone, dirs };
  }

  /**
   * After a crash: roll a committed run forward, or discard the staged files of one that never
   * committed. The whole directory's store does it for every domain (it holds every lock); a
   * scope's store only for its scope, leaving other scopes' runs, which may be live, alone.
   */
  async recover(): Promise<"clean" | "rolled-forward" | "discarded"> {
    const domains: Domain[] = this.domain !== null ? [this.domain] : [null, ...(await this.list("journal/scopes")).filter((n) => n.endsWith(".pending.json")).map((n) => n.slice(0, -".pending.json".length))];
    let rolled = false;
    for (const d of domains) {
      const path = pendingFile(d);
      const pending = await this.read(path);
      if (!pending) continue;
      let rec: { entry: JournalEntry; folded?: unknown; redo?: unknown };
      try {
        rec = JSON.parse(pending);
      } catch {
        throw new StateError(`"${path}" is damaged; restore the pki directory from git`);
      }
      // Records written before leaf manifests have no `folded`: their entry lists every file.
      const folded = pendingFolded(rec);
      if (!folded) throw new StateError(`"${path}" is damaged (its certificate list is malformed); restore the pki directory from git`);
      const { files, legacy } = await this.pendingFiles(rec, d, folded);
      await this.finish(rec.entry, d, files);
      // A new leaf the killed commit staged beside its target was written in place from the log: its staged copy goes.
      for (const f of [...legacy, ...files.filter((x) => manifestScope(x.path) !== null).map((x) => this.abs(x.path) + TMP)]) await unlink(f).catch(() => {});
      if (d === this.domain) this.recovered = rec.entry;
      rolled = true;
    }
    if (rolled) return "rolled-forward";
    const stray = await this.staged();
    for (const f of stray) await unlink(f);
    return stray.length ? "discarded" : "clean";
  }

  private async staged(): Promise<string[]> {
    const out: string[] = [];
    // Listed synchronously: a fleet's tree is dozens of directories, each a thread-pool round
    // trip through promises, and nothing else runs while a run starts.
    const walk = async (d: string) => {
      let entries: Dirent[] = [];
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch {
        // gone or unreadable: nothing staged there
      }
      for (const e of entries) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.name.endsWith(TMP) || ATOMIC_TMP.test(e.name) || (e.name.endsWith(REDO) && p.startsWith(this.abs("journal") + sep))) out.push(p);
      }
    };
    if (this.domain === null) await walk(this.dir);
    else {
      if (await stat(this.abs(redoFile(this.domain))).then(() => true, () => false)) out.push(this.abs(redoFile(this.domain)));
      // Only this scope's files: another scope's run may be staging its own right now.
      for (const d of [`leaves/${this.domain}`, `scopes/${this.domain}`]) await walk(this.abs(d));
      for (const b of ["bundles", "bundles/trust-domains", "probes"]) {
        for (const e of await readdir(this.abs(b)).catch(() => [] as string[])) {
          if ((e.endsWith(TMP) || ATOMIC_TMP.test(e)) && scopeOfPath(`${b}/${e.replace(TMP, "").replace(ATOMIC_TMP, "")}`) === this.domain) out.push(this.abs(`${b}/${e}`));
        }
      }
    }
    return out;
  }

  /** The last entry of a domain's journal, unverified: its last complete line. */
  private async tail(domain: Domain): Promise<JournalEntry | null> {
    return lastLine((await this.read(journalFile(domain))) ?? "");
  }

  /** The last entry of a domain's journal (this store's, unless given). */
  async lastEntry(domain: Domain = this.domain): Promise<JournalEntry | null> {
    const journal = journalFile(domain);
    const text = await this.read(journal);
    if (!text) return null;
    const { entries, broken } = readJournal(text);
    if (broken) throw new StateError(`the journal ${journal} is broken: ${broken}; the pki directory may have been tampered with — run inforge pki verify and restore from git`);
    return entries.at(-1) ?? null;
  }

  /**
   * Every journal's entries, in commit order (mergeJournals): journal/pki.jsonl and, for the whole
   * directory, every scope journal, or for a scope's store, its own. Null and the first break when
   * one is broken.
   */
  async journalEntries(): Promise<{ entries: JournalEntry[]; broken: string | null }> {
    const scopes = this.domain !== null ? [this.domain] : (await this.list("journal/scopes")).filter((n) => n.endsWith(".jsonl")).map((n) => n.slice(0, -".jsonl".length));
    const read = async (d: Domain) => {
      const { entries, broken } = readJournal((await this.read(journalFile(d))) ?? "");
      return { entries, broken: broken && `${journalFile(d)}: ${broken}` };
    };
    const whole = await read(null);
    const parts = await Promise.all(scopes.map(read));
    const broken = [whole, ...parts].find((p) => p.broken)?.broken ?? null;
    return { entries: mergeJournals(whole.entries, parts.map((p) => p.entries)), broken };
  }

  async exists(): Promise<boolean> {
    return stat(this.dir).then((s) => s.isDirectory(), () => false);
  }
}

/** FsStore's StreamedLog: the log at the store's redo path. */
class StreamedRedo implements StreamedLog {
  readonly store: FsStore;
  readonly stream: RedoStream;
  constructor(store: FsStore, stream: RedoStream) {
    this.store = store;
    this.stream = stream;
  }

  add(files: readonly FileWrite[]): void {
    this.stream.add(files);
  }

  async drop(): Promise<void> {
    await this.stream.close();
    await unlink(this.store.abs(redoFile(this.store.domain))).catch(() => {});
  }
}
