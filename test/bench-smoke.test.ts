// A tiny run of the fleet benchmark (scripts/bench.ts), so `npm run bench` keeps working: 40
// leaves in 4 regions, every measurement taken once, the JSON line last with every key. Timing
// is not asserted here (it belongs to the benchmark, on a quiet machine), only that each
// measurement happened and the runs it compares succeeded.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./helpers.ts";

const KEYS = [
  "leaves", "renew_leaves_per_s", "ceiling_leaves_per_s", "ceiling_ratio", "naive_x509_ratio", "noop_renew_s",
  "status_s", "verify_s", "peak_rss_mb", "cold_start_ms", "cold_start_status_ms", "openssl_loop_ratio",
];

test("the benchmark builds a small fleet, measures everything once and ends with one JSON line carrying every key", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts/bench.ts"), "--leaves", "40", "--regions", "4", "--quick", "--no-build"], {
    cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 240_000,
  });
  assert.is(r.status, 0, r.stderr.slice(-3000));
  const lines = r.stdout.trim().split("\n");
  const result = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
  for (const k of KEYS) assert.ok(k in result, `the JSON line lacks "${k}"`);
  assert.is(result.leaves, 40);
  for (const k of KEYS.filter((k) => k !== "verify_s" && k !== "openssl_loop_ratio")) {
    assert.ok(typeof result[k] === "number" && (result[k] as number) > 0, `${k} is ${JSON.stringify(result[k])}`);
  }
  assert.ok(result.verify_s === null || (result.verify_s as number) > 0);
  assert.equal((result.parallel_regions as { ok: boolean }).ok, true, "two regions' renewals in parallel failed");
  assert.match(lines.slice(0, -1).join("\n"), /\| full renew \(40 leaves due\)\s+\|/);
});

test.run();
