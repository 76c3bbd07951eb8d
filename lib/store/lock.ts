import { open, readdir, stat, unlink } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { join } from "node:path";
import { StateError } from "../errors.ts";
import { lockFile, pendingFile, type Domain } from "./domains.ts";
import { isSymlink, readNoFollow, symlinkRefusal } from "./no-follow.ts";
import { ioFailure } from "./io-errors.ts";

// One writer at a time per lock domain (lib/store/domains.ts): a lock file created with O_EXCL,
// naming its holder. A lock whose holder is a dead process on this host is taken over — under a
// short-lived second lock, so two runs that both find it stale cannot both take it.
// The whole directory (.lock) excludes every scope (.lock-<scope>): its holder first takes .lock,
// then waits until no scope lock is held; a scope's run first takes its own lock, then backs off
// while .lock is held. Each checks after taking its own, so at least one of two racing runs sees
// the other, and the directory-wide run, which never backs off, cannot starve.

export interface Holder {
  pid: number;
  host: string;
  command: string;
  /** When the lock was taken, by the wall clock: what an operator compares with their watch. */
  since: string;
  /** The run's simulated time (--at / INFORGE_NOW), when it differs from the wall clock. */
  at?: string;
  /** A random id of the run, recorded in its journal entries too. */
  run?: string;
}

export interface Lock {
  /**
   * The domain held: the scope asked for, or null for the whole directory — also when a scope
   * was asked for but a dead directory-wide run must be recovered first (only the whole
   * directory's lock may finish its commit).
   */
  readonly domain: Domain;
  /** This run's id (see Holder.run). */
  readonly run: string;
  /** The dead run whose lock this one took over, if any: the pipeline checks whether it had finished. */
  readonly tookOver: Holder | null;
  release(): Promise<void>;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // Only "no such process" proves the holder is gone. Anything else (EPERM, or Deno's
    // NotCapable when --allow-run is not granted) must keep the lock: never take it over on a guess.
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
};

async function create(path: string, h: Holder): Promise<boolean> {
  try {
    const fh = await open(path, "wx", 0o644);
    try {
      await fh.writeFile(JSON.stringify(h) + "\n");
      await fh.sync();
    } catch (e) {
      // A full disk: leave no empty lock file behind (it would hold off the next run for 10 s).
      await fh.close().catch(() => {});
      await unlink(path).catch(() => {});
      throw ioFailure(e, "nothing was changed", path);
    }
    await fh.close();
    return true;
  } catch (e) {
    // O_EXCL never follows a symlink at the name (POSIX open()), so a planted `.lock -> victim`
    // lands here: refuse it rather than read, judge or remove it as a lock.
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      if (await isSymlink(path)) throw symlinkRefusal(path, "remove it (inforge makes its lock files itself)");
      return false;
    }
    throw ioFailure(e, "nothing was changed", path);
  }
}

/** The holder a lock file names (null: none readable, or no file; see settledHolder). */
async function holderOf(path: string): Promise<Holder | null> {
  return (await settledHolder(path)) ?? null;
}

function readHolder(path: string): Promise<Holder | null> {
  return readNoFollow(path).then((t) => JSON.parse(t ?? "") as Holder).catch(() => null);
}

/**
 * The holder of a lock file that may have been created a moment ago: its creator opens it (O_EXCL)
 * and then writes it, and a run that looks in between reads nothing. An unreadable file younger
 * than a second is read again for up to half a second; undefined when there is no file.
 */
async function settledHolder(path: string): Promise<Holder | null | undefined> {
  for (let i = 0; ; i++) {
    const h = await readHolder(path);
    if (h !== null) return h;
    const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => undefined);
    if (age === undefined) return undefined;
    if (age > 1_000 || i >= 50) return null;
    await new Promise((r) => setTimeout(r, 10));
  }
}

const stale = (h: Holder | null) => h !== null && h.host === hostname() && !alive(h.pid);

/** A lock file with no readable holder that is older than this was left by a run killed while creating it. */
const UNREADABLE_STALE_MS = 10_000;
const abandoned = async (path: string) =>
  stat(path).then((s) => Date.now() - s.mtimeMs > UNREADABLE_STALE_MS, () => false);

const who = (h: Holder | null) => (h ? `pid ${h.pid} on ${h.host} (${h.command}, since ${h.since}${h.at ? `, simulating ${h.at}` : ""})` : "another run (its lock file is unreadable)");
const sleep = () => new Promise((r) => setTimeout(r, 100));
const isStale = async (p: string, h: Holder | null) => stale(h) || (h === null && (await abandoned(p)));

export async function acquireLock(dir: string, command: string, now: Date, waitMs = 0, domain: Domain = null): Promise<Lock> {
  // `now` may be simulated (--at): the lock records the real time it was taken, and the simulated one beside it.
  const taken = new Date();
  const simulated = Math.abs(now.getTime() - taken.getTime()) > 60_000;
  const me: Holder = { pid: process.pid, host: hostname(), command, since: taken.toISOString(), ...(simulated ? { at: now.toISOString() } : {}), run: randomUUID() };
  const deadline = Date.now() + waitMs;
  const release = (path: string) => async () => {
    const h = await holderOf(path);
    if (h && h.pid === me.pid && h.host === me.host) await unlink(path).catch(() => {});
  };
  const whole = join(dir, lockFile(null));
  if (domain !== null) {
    for (;;) {
      const path = join(dir, lockFile(domain));
      const { tookOver } = await takeFile(path, me, deadline, dir);
      const h = await holderOf(whole);
      const wholeHeld = h !== null || (await stat(whole).then(() => true, () => false));
      if (!wholeHeld) {
        // A directory-wide commit left pending (its lock file removed by hand): only a
        // directory-wide run may finish it, so this run becomes one.
        if (!(await stat(join(dir, pendingFile(null))).then(() => true, () => false))) {
          return { domain, run: me.run!, tookOver, release: release(path) };
        }
      } else if (!(await isStale(whole, h))) {
        await release(path)();
        if (Date.now() < deadline) {
          await sleep();
          continue;
        }
        throw new StateError(`the pki directory ${dir} is locked by ${who(h)}; wait for it to finish (or pass --wait 60s), and remove ${whole} only if that process is gone`);
      }
      // The directory-wide lock is stale (or its commit is pending): recover under it instead.
      await release(path)();
      break;
    }
  }
  const { tookOver } = await takeFile(whole, me, deadline, dir);
  // Holding .lock, no new scope run starts; wait for those under way to finish.
  for (;;) {
    const busy: Holder[] = [];
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!name.startsWith(".lock-") || name.endsWith(".takeover")) continue;
      const p = join(dir, name);
      const h = await holderOf(p);
      if (await isStale(p, h)) await clearStale(p, me);
      else busy.push(h ?? { pid: 0, host: "?", command: "?", since: "?" });
    }
    if (!busy.length) break;
    if (Date.now() < deadline) {
      await sleep();
      continue;
    }
    await release(whole)();
    throw new StateError(`the pki directory ${dir} is locked by ${who(busy[0]!)}; wait for it to finish (or pass --wait 60s), and remove its .lock-<scope> file only if that process is gone`);
  }
  return { domain: null, run: me.run!, tookOver, release: release(whole) };
}

/** Remove a dead holder's lock file under its takeover guard (a scope run killed mid-way; its pending record is recovered by the directory-wide store). */
async function clearStale(path: string, me: Holder): Promise<void> {
  const guard = path + ".takeover";
  if (await isStale(guard, await holderOf(guard))) await unlink(guard).catch(() => {});
  if (!(await create(guard, me))) return;
  try {
    if (await isStale(path, await holderOf(path))) await unlink(path).catch(() => {});
  } finally {
    await unlink(guard).catch(() => {});
  }
}

/** Create the lock file at `path`, taking it over from a dead holder; wait for a live one until `deadline`. */
async function takeFile(path: string, me: Holder, deadline: number, dir: string): Promise<{ tookOver: Holder | null }> {
  let tookOver: Holder | null = null;
  for (;;) {
    if (await create(path, me)) break;
    const h = await settledHolder(path);
    if (h === undefined) continue; // released meanwhile: try again
    if (await isStale(path, h)) {
      const guard = path + ".takeover";
      if (await isStale(guard, await holderOf(guard))) await unlink(guard).catch(() => {});
      if (await create(guard, me)) {
        try {
          const again = await holderOf(path);
          if (await isStale(path, again)) {
            await unlink(path).catch(() => {});
            tookOver = again;
          }
        } finally {
          await unlink(guard).catch(() => {});
        }
        continue;
      }
      // Another run is taking the stale lock over right now: wait for it like for any holder.
    }
    if (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    throw new StateError(`the pki directory ${dir} is locked by ${who(h)}; wait for it to finish (or pass --wait 60s), and remove ${path} only if that process is gone`);
  }
  return { tookOver };
}
