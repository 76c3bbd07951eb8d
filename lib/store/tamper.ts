import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { StateError } from "../errors.ts";
import { latestWrites } from "../check/verify-rules.ts";
import * as P from "../model/paths.ts";
import type { FsStore } from "./fs-store.ts";
import { sha256 } from "./journal.ts";
import { scopeOfPath } from "./domains.ts";
import { expandManifests } from "./manifest.ts";

// The pipeline's tamper check: what the journals recorded against the bytes on disk, before a
// run plans anything (assertUntampered) and for what deploy ships (journalWrites, unrecorded).

/** Files read between two turns of the event loop (about 5 ms of reading and hashing). */
const YIELD_EVERY = 256;

/**
 * The cheap part of verify, run before every apply: the journal's hash chain, and every file it
 * recorded still holds the bytes written. A file changed behind the tool's back (a swapped
 * certificate or bundle) stops the run before anything is planned on top of it. pki.json is
 * exempt: it is the operator's config (verify reports its edits as a warning).
 */
export async function assertUntampered(store: FsStore, o: { shippedLeaves?: boolean; yields?: boolean } = {}): Promise<void> {
  const bad: { path: string; seq: number; command: string; missing: boolean }[] = [];
  // A run locked to one scope checks the shared files and its own: other scopes' runs may be writing theirs.
  const mine = (path: string) => store.domain === null || [null, store.domain].includes(scopeOfPath(path));
  const all = [...(await journalWrites(store))].filter(([path]) => path !== P.CONFIG && mine(path));
  // Read synchronously: this runs before every apply, and small files read through promises cost
  // a thread-pool round trip each (lib/store/disk-walk.ts has the measurement). It runs beside a
  // fleet renewal's steps: every YIELD_EVERY files the event loop gets a turn, so the mint
  // workers' replies are taken and their next batches sent meanwhile. On a mint worker
  // (`yields: false`) it runs through: a batch taken in between made it wait for every batch
  // queued behind, so its last files were read after the last leaf, the commit waiting on them.
  const yields = o.yields ?? true;
  let n = 0;
  for (const [path, w] of all) {
    if (yields && ++n % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
    let now: Uint8Array | null;
    try {
      now = readSmall(store.abs(path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      now = null;
    }
    // With pki.json leafFiles "shipped" the repo does not commit leaf files: absent is not changed.
    if (now === null && o.shippedLeaves && P.isLeafFile(path)) continue;
    if (now === null || sha256(now) !== w.sha256) bad.push({ path, ...w, missing: now === null });
  }
  if (!bad.length) return;
  bad.sort((a, b) => a.path.localeCompare(b.path));
  const b = bad[0]!;
  const more = bad.length > 1 ? ` (and ${bad.length - 1} other file(s))` : "";
  throw new StateError(
    `${b.path} ${b.missing ? "is missing" : "was changed outside inforge"}${more}: it is not what journal entry ${b.seq} ("${b.command}") wrote; nothing was changed — run inforge pki verify for the full report and restore the file(s) from git`,
  );
}

/**
 * A file's bytes, read into one buffer reused from file to file (valid until the next call): an
 * open, a read and a close, where readFileSync adds an fstat and a buffer a file (about 25 % of
 * reading a fleet's certificates). A file that fills the buffer is read whole the usual way.
 */
function readSmall(abs: string): Uint8Array {
  const fd = openSync(abs, "r");
  let n: number;
  try {
    n = readSync(fd, scratch, 0, scratch.length, 0);
  } finally {
    closeSync(fd);
  }
  return n < scratch.length ? scratch.subarray(0, n) : readFileSync(abs);
}
const scratch = new Uint8Array(1 << 18);

/**
 * What the latest journal entry that wrote a file recorded of it (directly, or through the leaf
 * manifest it recorded); `n` is that entry's place in commit order.
 */
export interface Recorded {
  readonly sha256: string;
  readonly seq: number;
  readonly command: string;
  readonly n: number;
}

/**
 * Every file the journals record, with what the latest entry that wrote it recorded — once the
 * hash chain of every journal (journal/pki.jsonl and the scope journals, lib/store/domains.ts, in
 * commit order) is intact; a broken chain is a StateError.
 */
export async function journalWrites(store: FsStore): Promise<Map<string, Recorded>> {
  const { entries, broken } = await store.journalEntries();
  if (broken) {
    throw new StateError(`the journal ${broken.replace(/^(\S+): /, "$1 is broken: ")}; the pki directory may have been tampered with — nothing was changed; run inforge pki verify and restore it from git`);
  }
  const writes = latestWrites(entries);
  // The leaf certificates the latest manifest of each scope lists (lib/store/manifest.ts).
  await expandManifests(writes, (p) => store.read(p));
  return writes;
}

/**
 * Why the bytes at `path` (null: missing) are not what the journal recorded, as the start of a
 * sentence; null when they are. A file no entry records is not vouched for either.
 */
export function unrecorded(writes: ReadonlyMap<string, Recorded>, path: string, bytes: string | Uint8Array | null): string | null {
  const w = writes.get(path);
  if (!w) return `${path} was not written by inforge (no journal entry records it)`;
  if (bytes === null) return `${path} is missing, but journal entry ${w.seq} ("${w.command}") wrote it`;
  if (sha256(bytes) !== w.sha256) return `${path} was changed outside inforge: it is not what journal entry ${w.seq} ("${w.command}") wrote`;
  return null;
}
