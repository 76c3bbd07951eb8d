// Writes README.md's command list from the table `inforge --help` prints (lib/cli/help.ts USAGE),
// between the markers below, so the two cannot drift. `npm run readme`; a test fails when stale.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { USAGE } from "../lib/cli/help.ts";

const BEGIN = "<!-- commands: generated from lib/cli/help.ts by npm run readme -->";
const END = "<!-- /commands -->";

/** The usage and common-flag lines of `inforge --help`, as a fenced block. */
export function commandBlock(): string {
  const start = USAGE.indexOf("usage:\n");
  const end = USAGE.indexOf("\nidentities");
  if (start < 0 || end < 0) throw new Error("lib/cli/help.ts USAGE has no usage: … identities sections");
  const body = USAGE.slice(start, end).trimEnd(); // exactly as --help prints it
  return `${BEGIN}\n\n\`\`\`\n${body}\n\`\`\`\n\n${END}`;
}

/** README text with its generated block replaced by the current one. */
export function withCommands(readme: string): string {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${BEGIN} … ${END} block`);
  return readme.slice(0, a) + commandBlock() + readme.slice(b + END.length);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = join(import.meta.dirname, "..", "README.md");
  writeFileSync(file, withCommands(readFileSync(file, "utf8")));
  console.log(`wrote the command list of ${file}`);
}
