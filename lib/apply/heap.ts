import { setFlagsFromString } from "node:v8";

// A fleet renewal's live heap only grows until its one commit: every certificate, key file and
// the new state are held for it. After each full collection V8 lets the old generation grow to
// a multiple of what survived (a factor between 1.1 and 4 it picks for throughput), and on such a
// run the heap ran about 1.8× ahead of what was live — at 100,000 leaves about 300 MB live,
// 540 MB of heap, 658 MB peak RSS. Growing by 20 % per collection instead: 567–599 MB over three
// runs, for 5–15 % more CPU time (more full collections; bench --scale, Node 20, a shared 2-core
// VM, issue 16). 10 % gained nothing more: the peak is then the commit's. Below LARGE_RUN leaves
// the heap stays small either way and V8 keeps its own choice: bounded from 10,000 leaves, a
// 10,000-leaf renewal peaked at the same 184–194 MB and took ~0.1 s longer (2.3 s; its commit
// 0.56–0.62 s against 0.49–0.56 s unbounded, the full collections falling on it).

/** Leaves issued by one apply from which the heap's growth is bounded. */
export const LARGE_RUN = 25_000;
const GROWTH_PERCENT = 20;

/** Large applies running in this process (a library caller may run several at once). */
let bounded = 0;

/**
 * Run `f` with the heap's growth bounded when it issues `leaves` ≥ LARGE_RUN, and give V8 back its
 * own choice (0) when the last such run ends, however it ends. A runtime whose V8 refuses the
 * switch (flags frozen after start, or not V8's API) runs `f` as it is.
 */
export async function withBoundedHeap<T>(leaves: number, f: () => Promise<T>): Promise<T> {
  if (leaves < LARGE_RUN || (bounded === 0 && !setFlag(`--heap-growing-percent=${GROWTH_PERCENT}`))) return f();
  bounded++;
  try {
    return await f();
  } finally {
    if (--bounded === 0) setFlag("--heap-growing-percent=0");
  }
}

function setFlag(flag: string): boolean {
  try {
    setFlagsFromString(flag);
    return true;
  } catch {
    return false;
  }
}
