// Writes docs/schemas/<name>.schema.json from the valibot schemas of every --json output and of the journal formats
// (lib/model/reports.ts). `npm run schemas`; a test fails when the files are stale.
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { toJsonSchema } from "@valibot/to-json-schema";
import { REPORT_SCHEMAS } from "../lib/model/reports.ts";
import { FORMAT_SCHEMAS } from "../lib/model/formats.ts";

export function jsonSchemas(): Record<string, string> {
  const out: Record<string, string> = {};
  // The --json reports, and the journal's on-disk formats (an entry line, a leaf manifest).
  for (const [id, schema] of Object.entries({ ...REPORT_SCHEMAS, ...FORMAT_SCHEMAS })) {
    const js = { $id: `https://inforge.dev/schemas/${id.replace("/", ".")}.json`, title: id, ...toJsonSchema(schema, { errorMode: "ignore" }) };
    out[`${id.replace("inforge.", "").replace("/", ".")}.schema.json`] = JSON.stringify(js, null, 2) + "\n";
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = join(import.meta.dirname, "..", "docs", "schemas");
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(jsonSchemas())) writeFileSync(join(dir, file), text);
  console.log(`wrote ${Object.keys(jsonSchemas()).length} schemas to ${dir}`);
}
