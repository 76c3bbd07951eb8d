import { readFile, readdir, rename, unlink, stat, mkdir, open } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { StateError } from "../errors.ts";
import { fsyncDir, writeAtomic, writeDurable } from "./atomic.ts";
import { GENESIS, readJournal, sealEntry, sha256, type JournalEntry } from "./journal.ts";
import { JOURNAL } from "../model/paths.ts";

export interface FileWrite {
  readonly path: string; // relative to the pki directory
  readonly content: string;
  readonly mode: number;
}

export interface CommitInfo {
  readonly at: string;
  readonly command: string;
  readonly intents: readonly string[];
  readonly steps: number;
}

/** The pki directory. The only place (with lib/cli) that touches the file system. */
export interface Store {
  readonly dir: string;
  read(path: string): Promise<string | null>;
  list(dir: string): Promise<string[]>;
  /** Write every file or none: a crash at any instant leaves the old set or the new set. */
  commit(writes: readonly FileWrite[], info: CommitInfo): Promise<JournalEntry>;
}

const PENDING = "journal/pending.json";
const TMP = ".inforge-new";

function safeRel(rel: string): string {
  if (!rel || rel.startsWith("/") || rel.includes("\0") || rel.split("/").some((p) => p === ".." || p === "." || p === "")) {
    throw new StateError(`refusing the path "${rel}": it is not a plain path inside the pki directory`);
  }
  return rel;
}

export class FsStore implements Store {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  abs(rel: string): string {
    const p = join(this.dir, safeRel(rel));
    if (!p.startsWith(this.dir + sep)) throw new StateError(`refusing the path "${rel}": it leaves the pki directory`);
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
      return (await readdir(this.abs(rel))).filter((n) => !n.startsWith(".") && !n.endsWith(TMP) && !n.endsWith(".tmp")).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
  }

  /**
   * Redo-log commit. (1) every new file is written durably beside its target; (2) a pending
   * record naming them and their hashes is written atomically — the commit point; (3) each is
   * renamed into place; (4) the journal gets its entry; (5) the record is removed. `recover()`
   * finishes (3)–(5) after a crash past the commit point, or discards the files before it.
   */
  async commit(writes: readonly FileWrite[], info: CommitInfo): Promise<JournalEntry> {
    const seen = new Set<string>();
    for (const w of writes) {
      if (seen.has(w.path)) throw new StateError(`internal: the plan writes "${w.path}" twice`);
      seen.add(w.path);
      await writeDurable(this.abs(w.path) + TMP, w.content, w.mode);
    }
    const last = await this.lastEntry();
    const entry = sealEntry({
      seq: (last?.seq ?? 0) + 1, at: info.at, command: info.command, intents: info.intents, steps: info.steps,
      files: writes.map((w) => ({ path: w.path, sha256: sha256(w.content) })), prev: last?.hash ?? GENESIS,
    });
    await mkdir(this.abs("journal"), { recursive: true });
    await writeAtomic(this.abs(PENDING), JSON.stringify({ entry, modes: Object.fromEntries(writes.map((w) => [w.path, w.mode])) }) + "\n", 0o644);
    await this.finish(entry);
    return entry;
  }

  private async finish(entry: JournalEntry): Promise<void> {
    const dirs = new Set<string>();
    for (const f of entry.files) {
      const target = this.abs(f.path);
      const tmp = target + TMP;
      let moved = false;
      try {
        await rename(tmp, target);
        moved = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      }
      if (!moved) {
        // Already renamed by the run that died: the target must hold exactly the new bytes.
        const have = await readFile(target).catch(() => null);
        if (!have || sha256(have) !== f.sha256) {
          throw new StateError(`cannot finish the interrupted run: "${f.path}" is neither the new file nor staged; restore the pki directory from git and re-run`);
        }
      }
      dirs.add(dirname(target));
    }
    for (const d of dirs) await fsyncDir(d);
    const last = await this.lastEntry();
    if (last?.hash !== entry.hash) {
      const fh = await open(this.abs(JOURNAL), "a", 0o644);
      try {
        await fh.appendFile(JSON.stringify(entry) + "\n");
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await unlink(this.abs(PENDING));
    await fsyncDir(this.abs("journal"));
  }

  /** After a crash: roll a committed run forward, or discard the staged files of one that never committed. */
  async recover(): Promise<"clean" | "rolled-forward" | "discarded"> {
    const pending = await this.read(PENDING);
    if (pending) {
      let rec: { entry: JournalEntry };
      try {
        rec = JSON.parse(pending);
      } catch {
        throw new StateError(`"${PENDING}" is damaged; restore the pki directory from git`);
      }
      await this.finish(rec.entry);
      return "rolled-forward";
    }
    const stray = await this.staged();
    for (const f of stray) await unlink(f);
    return stray.length ? "discarded" : "clean";
  }

  private async staged(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (d: string) => {
      for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.name.endsWith(TMP)) out.push(p);
      }
    };
    await walk(this.dir);
    return out;
  }

  async lastEntry(): Promise<JournalEntry | null> {
    const text = await this.read(JOURNAL);
    if (!text) return null;
    const { entries, broken } = readJournal(text);
    if (broken) throw new StateError(`the journal ${JOURNAL} is broken: ${broken}; the pki directory may have been tampered with — run inforge pki verify and restore from git`);
    return entries.at(-1) ?? null;
  }

  async exists(): Promise<boolean> {
    return stat(this.dir).then((s) => s.isDirectory(), () => false);
  }
}

