import { closeSync, constants, fchmodSync, fdatasync, fstatSync, fsync, ftruncateSync, openSync, unlinkSync, writeSync } from "node:fs";
import { StateError } from "../errors.ts";
import { sha256 } from "./journal.ts";
import type { FileHandle } from "node:fs/promises";
import { createNew, symlinkRefusal } from "./no-follow.ts";

// The redo log of a commit. A commit used to stage every file it wrote as a new file beside its
// target and rename it into place: at 10,000 leaves that is 10,000 inodes created, fsynced and
// renamed, 3.4–4.3 s of a 6.7 s fleet renewal on this VM's disk (creating a small file costs
// 0.2–0.5 ms whether or not it is fsynced). Now the commit writes ONE file, the redo log (every
// new file's path, mode and bytes, fsynced), then the pending record (the
// commit point, lib/store/fs-store.ts), then puts each file: an existing leaf certificate is
// overwritten in its own inode (10,000 in about 0.2 s, their fdatasyncs 64 in flight 0.3–0.8 s);
// the few others (and new leaves) were staged beside their targets before the commit point, as
// before, and are renamed into place. After a crash past the commit point recover() puts them all
// again from the log. Before the commit point no target has been touched; after it, a leaf certificate may
// hold old, new or torn bytes until the log is replayed, and verify judges the tree from the log
// (lib/store/rolled-forward.ts).

// Each file is a JSON line of its path, mode and length, then its text as it is, then "\n": its
// bytes are not escaped into JSON (v1 did, one JSON line a file: ~40 ms of a 10,000-leaf commit's
// main thread for 16 MB of PEM, against ~5 ms here). v1 logs, of a run killed by an older
// inforge, are still read.
export const REDO_FORMAT = "inforge.redo/v2";
const REDO_V1 = "inforge.redo/v1";

export interface RedoFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/** The log's first line binds it to the pending record's entry: a log left by another run is refused. */
const header = (entry: string, count: number) => JSON.stringify({ format: REDO_FORMAT, entry, count }) + "\n";
/** A file's record: a line of its path, mode and length (in UTF-16 code units, as the reader slices the decoded text), its text, "\n". */
const meta = (f: RedoFile) => JSON.stringify({ path: f.path, mode: f.mode, length: f.content.length }) + "\n";
const record = (f: RedoFile) => meta(f) + f.content + "\n";

/**
 * Records into `fd` through one 1 MB buffer each piece is encoded straight into: few system
 * calls, never the log twice in memory, and no rope of a fleet's PEMs flattened before it was
 * encoded (that copied 16 MB twice: ~35 ms of a 10,000-leaf commit, now ~15).
 */
class RecordWriter {
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  private at = 0;
  /** Bytes handed to the file so far. */
  written = 0;
  private readonly fd: number;
  constructor(fd: number) {
    this.fd = fd;
  }

  put(text: string): void {
    const n = Buffer.byteLength(text, "utf8");
    if (this.at + n > this.buf.length) this.drain();
    if (n > this.buf.length) {
      const big = Buffer.from(text, "utf8");
      for (let off = 0; off < n;) off += writeSync(this.fd, big, off, n - off);
      this.written += n;
      return;
    }
    this.at += this.buf.write(text, this.at, "utf8");
  }

  records(files: readonly RedoFile[]): void {
    for (const f of files) {
      this.put(meta(f)); // record(f), without the concatenation
      this.put(f.content);
      this.put("\n");
    }
  }

  drain(): void {
    for (let off = 0; off < this.at;) off += writeSync(this.fd, this.buf, off, this.at - off);
    this.written += this.at;
    this.at = 0;
  }
}

/**
 * Create the redo log at `abs` (anew, never through a planted name) and write it into the page
 * cache now, on this thread; its flush (fsync) is under way on the thread pool when this
 * returns, and `flushed` settles once it is durable and closed. A commit checks its other paths
 * meanwhile. (A RedoStream sealed at once: one way of writing a log, whole or streamed.)
 */
export async function writeRedoNow(abs: string, entry: string, files: readonly RedoFile[]): Promise<{ flushed: Promise<void> }> {
  return (await RedoStream.open(abs)).seal(entry, files, files.length);
}

/** Width of a log's header line: room for the real one, written over a placeholder at the end. */
const STREAM_HEADER = 160;
const padded = (line: string) => {
  if (line.length > STREAM_HEADER) throw new StateError("internal: a redo log header longer than its room");
  return line.slice(0, -1).padEnd(STREAM_HEADER - 1, " ") + "\n";
};
/** Bytes of a streamed log's records from which a flush is started while more are written. */
const FLUSH_EVERY = 2 << 20;

/**
 * A redo log, written while a fleet run's leaves are still being made so that its bulk is on
 * disk by the commit (at 10,000 leaves the log is 16 MB: written whole at the commit, its
 * encoding was ~25 ms of the main thread and its flush was waited for before the commit point),
 * or sealed at once (writeRedoNow: the same file, one way of writing it). The file starts with a
 * placeholder header no pending record can match (so a log left by a killed run is discarded, as
 * any log without a record is), records are added as files are made (each batch straight to the
 * page cache, a flush started on the thread pool every 2 MB), and `seal` adds the rest and writes
 * the real header over the placeholder, padded to the same width — the format readRedo reads —
 * before the last flush.
 */
export class RedoStream {
  /** The files in the log so far, by path: a commit checks its writes are these very objects. */
  readonly files = new Map<string, RedoFile>();
  private readonly w: RecordWriter;
  private unflushed = 0;
  private syncing: Promise<void> = Promise.resolve();
  private failed: unknown = null;
  private done = false;

  private readonly fh: FileHandle;
  private constructor(fh: FileHandle) {
    this.fh = fh;
    this.w = new RecordWriter(fh.fd);
  }

  /** Create the log at `abs` (anew, never through a planted name) with its placeholder header. */
  static async open(abs: string): Promise<RedoStream> {
    const fh = await createNew(abs, 0o600); // it holds sealed keys' text, like the key files it will write
    const s = new RedoStream(fh);
    try {
      s.w.put(padded(JSON.stringify({ format: REDO_FORMAT, entry: "", count: -1 }) + "\n"));
    } catch (e) {
      await fh.close();
      throw e;
    }
    return s;
  }

  /** Whether `seal` may finish this log: nothing failed while it was written (else the commit writes its log whole). */
  get usable(): boolean {
    return !this.done && this.failed === null;
  }

  /** Add these files' records (each path once; a second time stops the stream: the commit then writes its log whole). */
  add(files: readonly RedoFile[]): void {
    this.append(files, true);
  }

  /** `flushing`: start a flush every FLUSH_EVERY bytes (while more are made; not for the last records, flushed by seal). */
  private append(files: readonly RedoFile[], flushing: boolean): void {
    if (!this.usable) return;
    try {
      for (const f of files) {
        if (this.files.has(f.path)) throw new StateError(`internal: "${f.path}" streamed into the redo log twice`);
        this.files.set(f.path, f);
      }
      const before = this.w.written;
      this.w.records(files);
      this.unflushed += this.w.written - before;
      if (flushing && this.unflushed >= FLUSH_EVERY) {
        this.unflushed = 0;
        this.syncing = this.syncing.then(() => this.fh.sync());
        this.syncing.catch((e: unknown) => (this.failed ??= e));
      }
    } catch (e) {
      this.failed = e; // the stream stops here
    }
  }

  /**
   * Add `rest`, write the real header (`entry`, `count` records in all) over the placeholder and
   * start the last flush; `flushed` settles once the log is durable and closed.
   */
  async seal(entry: string, rest: readonly RedoFile[], count: number): Promise<{ flushed: Promise<void> }> {
    this.append(rest, false);
    this.done = true;
    try {
      if (this.failed) throw this.failed;
      if (count !== this.files.size) throw new StateError(`internal: a redo log of ${this.files.size} files sealed as ${count}`);
      this.w.drain();
      const head = Buffer.from(padded(header(entry, count)), "utf8");
      for (let off = 0; off < head.length;) off += writeSync(this.fh.fd, head, off, head.length - off, off);
      await this.syncing;
    } catch (e) {
      await this.fh.close().catch(() => {});
      throw e;
    }
    const flushed = this.fh.sync().finally(() => this.fh.close());
    flushed.catch(() => {}); // the caller awaits it
    return { flushed };
  }

  /** Stop writing and close it (its caller removes the file): the run failed, or commits another way. */
  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.syncing.catch(() => {});
    await this.fh.close().catch(() => {});
  }
}

/**
 * Write the redo log at `abs` and fsync it. `each` (fault injection) runs before each file's
 * record is written, the records before it already written: one write per record then.
 */
export async function writeRedo(abs: string, entry: string, files: readonly RedoFile[], each?: (n: number, text: string) => void): Promise<void> {
  if (!each) return (await writeRedoNow(abs, entry, files)).flushed;
  const fh = await createNew(abs, 0o600);
  try {
    await fh.write(header(entry, files.length));
    for (const [n, f] of files.entries()) {
      const r = record(f);
      each(n, r);
      await fh.write(r);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * The files of a redo log, each checked against the digest the pending record's entry gives
 * its path; a StateError naming what is wrong when the log is not the one of that entry.
 */
export function readRedo(text: string, where: string, entry: string, expected: ReadonlyMap<string, string>): RedoFile[] {
  const bad = (why: string) => new StateError(`${where} ${why}, so the interrupted run cannot be finished; restore the pki directory from git`);
  const json = (line: string, why: string): Record<string, unknown> => {
    try {
      const v = JSON.parse(line) as unknown;
      if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // below
    }
    throw bad(why);
  };
  const firstEnd = text.indexOf("\n");
  const head = json(firstEnd < 0 ? text : text.slice(0, firstEnd), "is damaged (no header)");
  if ((head.format !== REDO_FORMAT && head.format !== REDO_V1) || head.entry !== entry) throw bad("is not the log of the pending run");
  const files = head.format === REDO_V1 ? v1Records(text.slice(firstEnd + 1), json) : v2Records(text, firstEnd + 1, head.count, json, bad);
  if (head.count !== files.length || files.length !== expected.size) throw bad("is cut off");
  for (const f of files) {
    if (typeof f.path !== "string" || typeof f.content !== "string" || typeof f.mode !== "number" || !(f.mode === 0o600 || f.mode === 0o644)) throw bad("is damaged");
    if (expected.get(f.path) !== sha256(f.content)) throw bad(`holds bytes for "${f.path}" that the pending record does not name`);
  }
  return files.map((f) => ({ path: f.path as string, content: f.content as string, mode: f.mode as number }));
}

type Untrusted = { path?: unknown; mode?: unknown; content?: unknown };

function v1Records(rest: string, json: (line: string, why: string) => Record<string, unknown>): Untrusted[] {
  const lines = rest.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((l) => json(l, "is damaged"));
}

function v2Records(text: string, from: number, count: unknown, json: (line: string, why: string) => Record<string, unknown>, bad: (why: string) => Error): Untrusted[] {
  const out: Untrusted[] = [];
  let at = from;
  // A cut-off log ends inside a record, or after fewer records than its header counts.
  while (at < text.length) {
    if (typeof count !== "number" || out.length >= count) throw bad("is damaged");
    const end = text.indexOf("\n", at);
    if (end < 0) throw bad("is cut off");
    const meta = json(text.slice(at, end), "is damaged");
    const length = meta.length;
    if (typeof length !== "number" || !Number.isSafeInteger(length) || length < 0) throw bad("is damaged");
    const stop = end + 1 + length;
    if (stop >= text.length) throw bad("is cut off");
    if (text[stop] !== "\n") throw bad("is damaged");
    out.push({ path: meta.path, mode: meta.mode, content: text.slice(end + 1, stop) });
    at = stop + 1;
  }
  return out;
}

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
const OVERWRITE = constants.O_WRONLY | O_NOFOLLOW | O_NONBLOCK;
const code = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

/**
 * Overwrites handed to another thread before a commit point (a fleet run's mint worker): written
 * on `go`, past it — the answer is each file's Overwritten, in order — or forgotten on `drop`.
 */
export interface HeldOverwrites {
  go(): Promise<readonly Overwritten[]>;
  drop(): void;
}

/** A file written into the page cache and closed: `syncFile` (or a flush of its file system) makes it durable. */
export interface Overwritten {
  /** Created, or its mode changed: metadata, so fsync rather than fdatasync. */
  readonly full: boolean;
  readonly created: boolean;
}

export function overwrite(abs: string, content: string, mode: number, torn?: () => void): Overwritten {
  let created = false;
  let fd = -1;
  // Opened first and judged by fstat (one lookup a file, not two): O_NOFOLLOW refuses a symlink,
  // O_NONBLOCK keeps a FIFO from blocking the open.
  try {
    fd = openSync(abs, OVERWRITE);
  } catch (e) {
    if (code(e) === "ELOOP") throw symlinkRefusal(abs);
    if (code(e) === "EISDIR") throw new StateError(`${abs} is a directory where inforge keeps a file; remove it and run again`);
    // Absent; or a file we may not write but may replace (read-only mode, another owner), as a
    // rename would; or a FIFO without a reader: created anew below.
    if (code(e) !== "ENOENT") {
      if (code(e) !== "EACCES" && code(e) !== "EPERM" && code(e) !== "ENXIO") throw e;
      unlinkSync(abs);
    }
  }
  let st = fd === -1 ? null : fstatSync(fd);
  if (st) {
    if (!st.isFile() || st.nlink > 1) {
      closeSync(fd);
      fd = -1;
      st = null;
      unlinkSync(abs); // the name only: the other file it shares an inode with keeps its bytes
    }
  }
  if (fd === -1) {
    try {
      fd = openSync(abs, CREATE, mode);
      created = true;
    } catch (e) {
      if (code(e) === "ELOOP" || code(e) === "EEXIST") throw new StateError(`${abs} changed while inforge was writing it; run again`);
      throw e;
    }
  }
  try {
    // A created file: its mode is the one given, narrowed by the umask (checked below).
    const now = st ?? fstatSync(fd);
    const bytes = Buffer.from(content, "utf8");
    if (torn) {
      writeSync(fd, bytes, 0, Math.ceil(bytes.length / 2), 0);
      torn();
    }
    for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off, off);
    if (now.size > bytes.length) ftruncateSync(fd, bytes.length); // a longer file grew with the write
    const chmod = (now.mode & 0o7777) !== mode;
    if (chmod) fchmodSync(fd, mode);
    return { full: created || chmod, created };
  } finally {
    closeSync(fd);
  }
}

/**
 * Make a file written by `overwrite` durable: fdatasync covers the bytes and the size; a created
 * file or a new mode is metadata (fsync). Opened again read-only, never through a symlink.
 */
export async function syncFile(abs: string, w: Overwritten): Promise<void> {
  const fd = openSync(abs, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  try {
    await new Promise<void>((resolve, reject) => (w.full ? fsync : fdatasync)(fd, (e) => (e ? reject(e) : resolve())));
  } finally {
    closeSync(fd);
  }
}
