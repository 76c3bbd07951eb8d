// A bounded set of promises in flight. `add` waits for a free slot (so ten thousand leaves never
// become ten thousand pending promises holding keys in memory), and the first failure stops the
// pool: nothing new starts, and `add`/`drain` rethrow it once the tasks in flight have settled.

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
