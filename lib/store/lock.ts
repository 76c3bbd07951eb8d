import { open, readFile, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { StateError } from "../errors.ts";

// One writer at a time per pki directory: a lock file created with O_EXCL, naming its holder.
// A lock whose holder is a dead process on this host is taken over — under a short-lived
// second lock, so two runs that both find it stale cannot both take it.

interface Holder {
  pid: number;
  host: string;
  command: string;
  since: string;
}

export interface Lock {
  release(): Promise<void>;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

async function create(path: string, h: Holder): Promise<boolean> {
  try {
    const fh = await open(path, "wx", 0o644);
    await fh.writeFile(JSON.stringify(h) + "\n");
    await fh.sync();
    await fh.close();
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

async function holderOf(path: string): Promise<Holder | null> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as Holder;
  } catch {
    return null;
  }
}

const stale = (h: Holder | null) => h !== null && h.host === hostname() && !alive(h.pid);

export async function acquireLock(dir: string, command: string, now: Date, waitMs = 0): Promise<Lock> {
  const path = join(dir, ".lock");
  const me: Holder = { pid: process.pid, host: hostname(), command, since: now.toISOString() };
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (await create(path, me)) break;
    const h = await holderOf(path);
    if (stale(h)) {
      const guard = path + ".takeover";
      const g = await holderOf(guard);
      if (stale(g)) await unlink(guard).catch(() => {});
      if (await create(guard, me)) {
        try {
          if (stale(await holderOf(path))) await unlink(path).catch(() => {});
        } finally {
          await unlink(guard).catch(() => {});
        }
      }
      continue;
    }
    if (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const who = h ? `pid ${h.pid} on ${h.host} (${h.command}, since ${h.since})` : "another run (its lock file is unreadable)";
    throw new StateError(`the pki directory ${dir} is locked by ${who}; wait for it to finish (or pass --wait 60s), and remove ${path} only if that process is gone`);
  }
  return {
    release: async () => {
      const h = await holderOf(path);
      if (h && h.pid === me.pid && h.host === me.host) await unlink(path).catch(() => {});
    },
  };
}
