// Issue 15 item 14: README's command list is the table `inforge --help` prints (npm run readme),
// and that table names every command and flag the CLI takes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { commandBlock, withCommands } from "../scripts/readme.ts";
import { USAGE } from "../lib/cli/help.ts";
import { ROOT } from "./helpers.ts";

test("README.md's command list is generated from lib/cli/help.ts (run npm run readme after changing --help)", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  assert.is(withCommands(readme), readme, "README.md's command list is stale: run npm run readme");
  assert.ok(readme.includes(commandBlock()));
});

test("the --help table names the commands and flags the walkthrough found missing from the README", () => {
  for (const s of ["inforge pki crl", "inforge pki graph", "--check", "inforge completion", "--name-constraints", "--json: nodes and edges", "inforge pki revoke", "inforge pki config"]) {
    assert.ok(USAGE.includes(s), `--help lacks ${s}`);
  }
});

test("item 8: no documented pki init hands the offline workstation the CI secret, and the demo labels init root posture", () => {
  const docs = ["README.md", "lib/cli/help.ts", "scripts/demo.ts", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
  for (const f of docs) {
    const text = readFileSync(join(ROOT, f), "utf8");
    assert.not.match(text, /INFORGE_SECRETS_KEY=\S+ inforge pki init/, `${f} puts the CI secret on the offline workstation`);
  }
  const demo = readFileSync(join(ROOT, "scripts/demo.ts"), "utf8");
  const init = demo.split("\n").find((l) => /await step\(.*\["pki", "init"/.test(l));
  assert.ok(init, "the demo runs pki init");
  assert.match(init!, /, "offline", \["pki", "init", .*"--ci-recipient"/);
});

test.run();
