import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { eachLimited } from "../pool.ts";
import { TMP } from "./fs-store.ts";

// The disk side of verify: every entry of the pki directory (lstat, never followed), and the
// batched reads that keep a fleet's tens of thousands of files from being read one at a time.
// The walk and its reads are synchronous: for small files in the page cache each promise-based
// call costs a thread-pool round trip, and at 10,000 leaves walking and reading every file took
// 1,350 ms that way against 210 ms with the synchronous calls (measured warm, same machine).

export interface DiskFile {
  readonly rel: string;
  readonly mode: number;
  readonly dir: boolean;
  readonly symlink: boolean;
}

export async function walk(root: string): Promise<DiskFile[]> {
  const out: DiskFile[] = [];
  const go = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (r === ".git") continue;
      const st = lstatSync(join(root, r));
      out.push({ rel: r, mode: st.mode, dir: st.isDirectory(), symlink: st.isSymbolicLink() });
      if (st.isDirectory()) go(r);
    }
  };
  go("");
  return out;
}

/** The bytes of every regular file the walk found (null for directories and symlinks, never followed), in its order. */
export function readWalked(root: string, disk: readonly DiskFile[]): (Buffer | null)[] {
  return disk.map((f) => (f.dir || f.symlink ? null : readFileSync(join(root, f.rel))));
}

/** `f` over every item, up to 64 at once; results in the items' order. */
export async function mapBatched<T, R>(items: readonly T[], f: (item: T) => Promise<R>, width = 64): Promise<R[]> {
  const out: R[] = new Array(items.length);
  await eachLimited(items, width, async (item, n) => {
    out[n] = await f(item);
  });
  return out;
}

/** Files that are the tool's own bookkeeping, not recorded by the journal. */
export const isBookkeeping = (rel: string) => rel.startsWith("journal/") || /^\.lock(-[a-z0-9-]+)?(\.takeover)?$/.test(rel);
/** Files staged by a run (lib/store/fs-store.ts, redo.ts, atomic.ts) that has not reached its commit point (a redo log with a pending record is that record's). */
export const isStaged = (rel: string) => rel.endsWith(TMP) || /\.\d+\.tmp$/.test(rel) || /^journal\/(scopes\/[^/]+\.)?pending\.redo$/.test(rel);
