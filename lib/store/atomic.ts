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

/** Write `data` to `path` durably (temp file + fsync), without renaming it into place. */
export async function writeDurable(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, "w", mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // the umask may have narrowed or widened the mode given to open
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
