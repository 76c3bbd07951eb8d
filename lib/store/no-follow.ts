import { constants, lstatSync, readdirSync, realpathSync } from "node:fs";
import { lstat, mkdir, open, rmdir, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, resolve, sep } from "node:path";
import { StateError } from "../errors.ts";

// Writes that never follow a symbolic link. The pki directory sits in a repo many can write to,
// and git stores symlinks: a committed `leaves/eu -> /elsewhere` or a planted
// `tls.key.inforge-new -> victim` would otherwise turn an inforge write into a write of someone
// else's file. So: every component below a root is checked with lstat before anything is
// written, files are created with O_EXCL (which never follows a final symlink, POSIX open()) plus
// O_NOFOLLOW where the platform has it, a stale staging file is unlinked (the link itself, not
// its target) and created anew, and directories are made one level at a time with explicit modes.

/** O_NOFOLLOW where the platform defines it (Linux, macOS, BSDs; 0 elsewhere, e.g. Windows). */
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
const APPEND = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | O_NOFOLLOW;
const READ = constants.O_RDONLY | O_NOFOLLOW;

const code = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

/** The sentence for a symlink found where inforge would write. */
export function symlinkRefusal(path: string, fix = "replace it with a directory or file of its own (git rm it and restore from git)"): StateError {
  return new StateError(`${path} is a symbolic link; inforge never writes through one — ${fix} — nothing was changed`);
}

/**
 * Check every component of `rel` below `root` with lstat: none may be a symlink, and all but the
 * last must be directories. Components that do not exist yet are fine (they will be created, one
 * level at a time, by makeDirs). `root` itself is trusted: it is a real path (realPath below).
 * Synchronous: a commit checks every path it writes (10,000 at a fleet renewal), and one lstat of
 * a cached entry costs a few µs where a promise-based one is a thread-pool round trip (about
 * 0.5 s for 10,000 under load). Returns whether the path is a regular file with one name (a
 * commit overwrites such a leaf certificate in place).
 */
export function assertNoSymlinks(root: string, rel: string, cache?: Set<string>): boolean {
  const parts = rel.split("/").filter((p) => p !== "");
  let cur = root;
  for (const [i, part] of parts.entries()) {
    cur = join(cur, part);
    const last = i === parts.length - 1;
    if (!last && cache?.has(cur)) continue;
    let st;
    try {
      st = lstatSync(cur);
    } catch (e) {
      if (code(e) === "ENOENT") return false;
      throw e;
    }
    if (st.isSymbolicLink()) throw symlinkRefusal(cur);
    if (last) return st.isFile() && st.nlink === 1;
    if (!st.isDirectory()) throw new StateError(`${cur} is not a directory, but inforge keeps files under it; restore it from git — nothing was changed`);
    cache?.add(cur);
  }
  return false;
}

/**
 * assertNoSymlinks for many files of one directory (`dir` below `root`, `names` in it): the
 * directory's components are checked with lstat, then its entries are read once with their types
 * (one getdents instead of an lstat a file: a scope's thousands of leaf certificates). Returns
 * the names that are regular files now — without the one-name test: whoever overwrites such a
 * file in place (lib/store/redo.ts overwrite) checks its link count on the open descriptor.
 */
export function assertNoSymlinksIn(root: string, dir: string, names: readonly string[], cache?: Set<string>): Set<string> {
  const files = new Set<string>();
  assertNoSymlinks(root, dir, cache);
  let entries;
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true });
  } catch (e) {
    if (code(e) === "ENOENT") return files;
    throw e;
  }
  cache?.add(join(root, dir)); // listed: a directory, and (lstat above) not a symlink
  const types = new Map(entries.map((e) => [e.name, e]));
  for (const name of names) {
    const e = types.get(name);
    if (e?.isSymbolicLink()) throw symlinkRefusal(join(root, dir, name));
    if (e?.isFile()) files.add(name);
  }
  return files;
}

/**
 * Create the directory `rel` below `root` one level at a time with `mode` (never the process's
 * umask default: under umask 000 mkdir -p makes 0777 directories), refusing a symlink at any
 * level. Returns the directories it created, deepest last, so a failed run can remove them.
 */
export async function makeDirs(root: string, rel: string, mode: number): Promise<string[]> {
  const created: string[] = [];
  let cur = root;
  for (const part of rel.split("/").filter((p) => p !== "" && p !== ".")) {
    cur = join(cur, part);
    try {
      await mkdir(cur, mode);
      created.push(cur);
      continue;
    } catch (e) {
      if (code(e) !== "EEXIST") throw e;
    }
    const st = await lstat(cur);
    if (st.isSymbolicLink()) throw symlinkRefusal(cur);
    if (!st.isDirectory()) throw new StateError(`${cur} is not a directory, but inforge keeps files under it; restore it from git — nothing was changed`);
  }
  return created;
}

/** Remove directories makeDirs created (deepest first), where they are still empty. */
export async function removeDirs(created: readonly string[]): Promise<void> {
  for (const d of [...created].reverse()) await rmdir(d).catch(() => {});
}

/**
 * Create `path` as a new file, never following a symlink. A stale one (left by a killed run, or
 * planted) is unlinked — the name, not what a link points to — and created anew; it is never
 * reopened for writing.
 */
export async function createNew(path: string, mode: number): Promise<FileHandle> {
  try {
    return await open(path, CREATE_NEW, mode);
  } catch (e) {
    if (code(e) !== "EEXIST") throw e;
  }
  await unlink(path);
  return open(path, CREATE_NEW, mode);
}

/** Open `path` for appending (created if absent), refusing a symlink there (ELOOP with O_NOFOLLOW). */
export async function openAppend(path: string, mode: number): Promise<FileHandle> {
  try {
    return await open(path, APPEND, mode);
  } catch (e) {
    if (code(e) === "ELOOP") throw symlinkRefusal(path);
    throw e;
  }
}

/** Read a small file without following a symlink at its name (null: absent or a symlink). */
export async function readNoFollow(path: string): Promise<string | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, READ);
  } catch {
    return null;
  }
  try {
    return await fh.readFile("utf8");
  } finally {
    await fh.close();
  }
}

/** True when `path` itself (not what it points to) is a symbolic link. */
export async function isSymlink(path: string): Promise<boolean> {
  return lstat(path).then((s) => s.isSymbolicLink(), () => false);
}

/**
 * The physical path `p` names, as the kernel resolves it: symlinks followed and a `..` after a
 * symlinked parent taken physically (`deploy/../x` where deploy -> pki/eu is pki/x, not ./x,
 * which path.resolve would say). A tail that does not exist yet is appended as given (it holds no
 * symlink). For comparing --out and --identity-out with --dir, and for resolving --dir once.
 * Where the path cannot be read (Deno without --allow-read on an ancestor, EACCES) it is taken
 * as given: what cannot be read cannot be resolved, and the runtime's own limits then apply.
 */
export function realPath(p: string): string {
  let cur = isAbsolute(p) ? p : process.cwd() + sep + p;
  const tail: string[] = [];
  for (;;) {
    try {
      // One call on the whole path first: under Deno it needs read access to that path only.
      return resolve(nativeRealpath(cur), ...tail);
    } catch (e) {
      if (code(e) !== "ENOENT" && code(e) !== "ENOTDIR") return resolve(cur, ...tail);
    }
    const up = dirname(cur);
    if (up === cur) return resolve(cur, ...tail);
    tail.unshift(basename(cur));
    cur = up;
  }
}

// realpath(3): Node's JavaScript realpathSync folds `..` lexically (path.resolve) before it
// resolves anything, which is exactly the trick being guarded against; .native asks the kernel.
const nativeRealpath = (p: string): string => (realpathSync.native ?? realpathSync)(p);

/** True when `p` is `dir` or below it (both real paths). */
export const within = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/** What is at `path` without following a final symlink: "dir", "file", "symlink", other, or null. */
export function kindOfSync(path: string): "dir" | "file" | "symlink" | "other" | null {
  try {
    const s = lstatSync(path);
    return s.isSymbolicLink() ? "symlink" : s.isDirectory() ? "dir" : s.isFile() ? "file" : "other";
  } catch {
    return null;
  }
}
