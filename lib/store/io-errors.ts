import { StateError } from "../errors.ts";

// A failed system call (a full disk, a read-only file system, a permission) is not a bug: it
// gets one sentence naming the path and what to do, and the exit code of a state error — never
// exit 70 with a stack trace. `after` says what state the run left (the caller knows its phase).

const WHY: Record<string, string> = {
  ENOSPC: "no space is left on the device",
  EDQUOT: "the disk quota is exhausted",
  EROFS: "the file system is read-only",
  EACCES: "permission is denied",
  EPERM: "the operation is not permitted",
  ENOTDIR: "a component of the path is not a directory",
  EISDIR: "it is a directory",
  EEXIST: "something already exists there",
  ELOOP: "it is a symbolic link (or a loop of them)",
  EMFILE: "too many files are open",
  ENFILE: "too many files are open",
  EIO: "the device reported an I/O error",
  ENAMETOOLONG: "the path is too long",
  ENOENT: "it does not exist",
};

const FIX: Record<string, string> = {
  ENOSPC: "free some space",
  EDQUOT: "free some space or raise the quota",
  EROFS: "run it where the directory is writable",
  EACCES: "run it as the user that owns the directory, or fix its permissions",
  EPERM: "run it as the user that owns the directory, or fix its permissions",
  EMFILE: "raise the open-file limit (ulimit -n)",
  ENFILE: "raise the open-file limit (ulimit -n)",
};

export interface ErrnoLike {
  readonly code: string;
  readonly syscall?: string;
  readonly path?: string;
}

/** A Node (or Deno's node:fs) system-call error. */
export function isErrno(e: unknown): e is Error & ErrnoLike {
  const x = e as { code?: unknown; syscall?: unknown; errno?: unknown };
  return e instanceof Error && typeof x.code === "string" && /^E[A-Z0-9]+$/.test(x.code) && (typeof x.syscall === "string" || typeof x.errno === "number");
}

/** One sentence for a failed system call: what, where, why, how to fix it, and what was left. */
export function ioMessage(e: ErrnoLike, after: string, path?: string): string {
  const why = WHY[e.code] ?? `the system said ${e.code}`;
  const fix = FIX[e.code] ?? "fix that";
  const at = e.path ?? path;
  const where = at ? ` "${at}"` : "";
  const op = e.syscall ? `${e.syscall}${where}` : `the file${where}`;
  return `cannot ${op}: ${why} (${e.code}); ${fix} and run the command again — ${after}`;
}

/** `e` as a StateError with ioMessage when it is a failed system call; anything else unchanged. `path`: the file, when the error does not name it (a write on an open file). */
export function ioFailure(e: unknown, after: string, path?: string): unknown {
  return isErrno(e) ? new StateError(ioMessage(e, after, path)) : e;
}
