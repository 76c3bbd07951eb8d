// A bounded set of promises in flight. `add` waits for a free slot (so ten thousand leaves never
// become ten thousand pending promises holding keys in memory), and the first failure stops the
// pool: nothing new starts, and `add`/`drain` rethrow it once the tasks in flight have settled.
// The one concurrency limiter: apply issues leaves through it, the store stages files through it.

export class Pool {
  private readonly size: number;
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | null = null;

  constructor(size: number) {
    this.size = size;
  }

  /** Start `task` once a slot is free; rethrows an earlier task's failure instead of starting it. */
  async add(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.size && !this.failure) await Promise.race(this.running);
    if (this.failure) {
      await this.drain();
      return;
    }
    const p: Promise<void> = task().then(
      () => void this.running.delete(p),
      (error: unknown) => {
        this.running.delete(p);
        this.failure ??= { error };
      },
    );
    this.running.add(p);
  }

  /** Wait for everything in flight; rethrow the first failure. */
  async drain(): Promise<void> {
    while (this.running.size) await Promise.race(this.running);
    if (this.failure) throw this.failure.error;
  }
}

/** `f` over every item, at most `width` at once, in order of start; the first failure stops the rest. */
export async function eachLimited<T>(items: readonly T[], width: number, f: (item: T, n: number) => Promise<void>): Promise<void> {
  const pool = new Pool(width);
  for (let n = 0; n < items.length; n++) {
    const item = items[n]!;
    await pool.add(() => f(item, n));
  }
  await pool.drain();
}
