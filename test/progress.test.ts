// The progress display of long applies (lib/term/progress.ts): silent for short runs, a bar
// redrawn in place on a terminal, a plain periodic line in CI logs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { progress } from "../lib/term/progress.ts";

const sink = (isTTY: boolean) => {
  const out: string[] = [];
  return { isTTY, out, write: (s: string) => out.push(s) };
};
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a run that ends before the delay prints nothing", () => {
  const s = sink(false);
  const p = progress("renew", s, { afterMs: 10_000 });
  for (let i = 1; i <= 100; i++) p.update(i, 100);
  p.end();
  assert.equal(s.out, []);
});

test("off a terminal, a longer run prints a plain line per interval with counts, rate and time left", async () => {
  const s = sink(false);
  const p = progress("renew", s, { afterMs: 0, everyMs: 20 });
  p.update(10, 100);
  p.update(11, 100); // within the interval: not printed
  await wait(30);
  p.update(60, 100);
  p.update(100, 100); // the last one always prints
  p.end();
  assert.is(s.out.length, 3);
  assert.match(s.out[0]!, /^renew: 10\/100 \(10%\), \d+\/s, about \d+ s left\n$/);
  assert.match(s.out[2]!, /^renew: 100\/100 \(100%\), \d+\/s, \d+\.\d s\n$/);
  assert.not.ok(s.out.join("").includes("\r"));
});

test("on a terminal, the bar is redrawn in place and the line ended once", () => {
  const s = sink(true);
  const p = progress("renew", s, { afterMs: 0, everyMs: 0 });
  p.update(50, 100);
  p.update(100, 100);
  p.end();
  assert.match(s.out[0]!, /^\r\[#{15} {15}\] renew: 50\/100 \(50%\)/);
  assert.match(s.out[1]!, /^\r\[#{30}\] renew: 100\/100/);
  assert.is(s.out.at(-1), "\n");
});

test.run();
