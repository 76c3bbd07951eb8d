// Progress of a long apply, on stderr (stdout keeps the plan and --json output clean). Nothing
// is shown for runs that finish within a couple of seconds. On a terminal: one bar redrawn in
// place; elsewhere (CI logs): a plain line every few seconds.

export interface Progress {
  update(done: number, total: number): void;
  end(): void;
}

interface Out {
  readonly isTTY?: boolean;
  write(s: string): unknown;
}

export function progress(label: string, out: Out = process.stderr, o: { afterMs?: number; everyMs?: number } = {}): Progress {
  const start = Date.now();
  const after = o.afterMs ?? 2000;
  const every = o.everyMs ?? (out.isTTY ? 100 : 5000);
  let last = 0;
  let drawn = false;
  const line = (done: number, total: number) => {
    const s = (Date.now() - start) / 1000;
    const rate = done / Math.max(s, 0.001);
    const eta = rate > 0 ? Math.ceil((total - done) / rate) : 0;
    const pct = total ? Math.floor((done / total) * 100) : 100;
    return `${label}: ${done}/${total} (${pct}%), ${Math.round(rate)}/s, ${done < total ? `about ${eta} s left` : `${s.toFixed(1)} s`}`;
  };
  return {
    update(done, total) {
      const now = Date.now();
      if (now - start < after || (now - last < every && done < total)) return;
      last = now;
      if (out.isTTY) {
        const width = 30;
        const fill = total ? Math.round((done / total) * width) : width;
        out.write(`\r[${"#".repeat(fill)}${" ".repeat(width - fill)}] ${line(done, total)}\x1b[K`);
      } else out.write(line(done, total) + "\n");
      drawn = true;
    },
    end() {
      if (drawn && out.isTTY) out.write("\n");
    },
  };
}
