// Helpers of the symlink and exit-code tests: a fingerprint of a directory that does not follow
// symlinks (so a link and its target are told apart), and a small tmpfs for real ENOSPC/EROFS.
import { createHash } from "node:crypto";
import { lstatSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { join, relative } from "node:path";
import { run } from "./helpers.ts";

/** Every entry under `dir` — files (mode + bytes), directories, symlinks (their text) — hashed without following a link. */
export function lstatHash(dir: string, skip: (rel: string) => boolean = () => false): string {
  const h = createHash("sha256");
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = relative(dir, p);
      if (skip(rel)) continue;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) h.update(`L ${rel} -> ${readlinkSync(p)}\0`);
      else if (st.isDirectory()) {
        h.update(`D ${rel} ${st.mode}\0`);
        walk(p);
      } else h.update(`F ${rel} ${st.mode}\0`).update(readFileSync(p)).update("\0");
    }
  };
  try {
    walk(dir);
  } catch {
    h.update("<missing>");
  }
  return h.digest("hex");
}

/** Mount a tmpfs of `size` at `at` (root only); false when this machine does not allow it. */
export function mountTmpfs(at: string, size: string): boolean {
  return run("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", at]).status === 0;
}

export function remountReadOnly(at: string): void {
  const r = run("mount", ["-o", "remount,ro", at]);
  if (r.status !== 0) throw new Error(`remount ro ${at}: ${r.stderr}`);
}

export function unmount(at: string): void {
  run("umount", [at]);
}
