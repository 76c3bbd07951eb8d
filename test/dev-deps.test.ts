// The test runner is a devDependency (issue 15 item 18): an install with --omit=dev must still
// run inforge, so nothing it loads (lib/, bin/) may import uvu.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";

const root = fileURLToPath(new URL("..", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.isFile() && /\.(ts|js)$/.test(e.name) ? [join(root, dir, e.name)] : []);
}

test("uvu is listed under devDependencies only", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  assert.ok(pkg.devDependencies?.uvu, "uvu is a devDependency");
  assert.is(pkg.dependencies?.uvu, undefined);
});

test("nothing under lib/ or bin/ imports uvu", () => {
  const files = [...sources("lib"), ...sources("bin")];
  assert.ok(files.length > 50, `found ${files.length} source files`);
  const offenders = files.filter((f) => /from\s+["']uvu(\/[^"']*)?["']|import\(\s*["']uvu/.test(readFileSync(f, "utf8")));
  assert.equal(offenders, []);
});

test.run();
