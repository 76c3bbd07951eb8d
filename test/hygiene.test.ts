// Issue 15 item 15: a suite file leaves nothing of ours in the temp dir. One suite file runs in a
// child process with a private TMPDIR (other runs share the real one), and afterwards that dir
// holds no inforge-* directory and no age identity — the sandbox helper's exit hook removed what
// the suite did not.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { ROOT } from "./helpers.ts";

/** Every file under `dir` (tsx's own cache is not ours and is skipped). */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir)) {
    if (/^tsx-/.test(n)) continue; // tsx's compile cache (our sources, string literals and all)
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

test("a suite file that builds sandboxes and never removes them (json.test.ts) leaves nothing of ours in TMPDIR", () => {
  const tmp = mkdtempSync(join(tmpdir(), "hygiene-"));
  try {
    const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "node_modules/uvu/bin.js"), "test", "^json\\.test\\.ts$", "-c", "false"], {
      cwd: ROOT, encoding: "utf8", env: { ...process.env, TMPDIR: tmp, NO_COLOR: "1" }, timeout: 300_000,
    });
    assert.is(r.status, 0, r.stdout.slice(-2000) + r.stderr.slice(-2000));
    assert.match(r.stdout, /Passed:\s+[1-9]/, "the suite ran");
    const left = readdirSync(tmp);
    assert.equal(left.filter((n) => n.startsWith("inforge")), [], `left in TMPDIR: ${left.join(", ")}`);
    const identities = walk(tmp).filter((f) => /AGE-SECRET-KEY-1/.test(readFileSync(f, "latin1"))).map((f) => relative(tmp, f));
    assert.equal(identities, [], "age identities left in TMPDIR");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
