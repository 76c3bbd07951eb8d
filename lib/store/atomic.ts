import { open, rename, mkdir, unlink } from "node:fs/promises";
import { dirname } from "node:path";

// Atomic file replacement: write a temp file beside the target, fsync it, rename it over the
// target, fsync the directory. A reader (or a crash) sees the old bytes or the new, never half.

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

// The process's umask, read once (process.umask() without an argument reads it); unknown → assume it alters every mode.
const UMASK = (() => {
  try {
    const m = process.umask();
    return typeof m === "number" ? m : 0o777;
  } catch {
    return 0o777;
  }
})();

/** Write `data` to `path` durably (temp file + fsync), without renaming it into place. */
export async function writeDurable(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  // A new file gets the mode given to open() narrowed by the umask; an existing one keeps its
  // own. chmod only when either may differ: a fleet renewal writes thousands of files.
  let created = true;
  const fh = await open(path, "wx", mode).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== "EEXIST") throw e;
    created = false;
    return open(path, "w", mode);
  });
  try {
    await fh.writeFile(data);
    if (!created || (mode & ~UMASK) !== mode) await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function writeAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeDurable(tmp, data, mode);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fsyncDir(dirname(path));
}
