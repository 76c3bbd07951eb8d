// --json outputs are stable data: each validates against its versioned schema, and the JSON
// Schema files published under docs/schemas/ are current.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { DeployReportSchema, ErrorReportSchema, RunReportSchema, StatusReportSchema, TasksReportSchema, VerifyReportSchema } from "../lib/model/reports.ts";
import { jsonSchemas } from "../scripts/schemas.ts";
import { buildTree, ciEnv, cli, rootEnv, sandbox, ROOT } from "./helpers.ts";

const sb = sandbox();
await buildTree(sb, ["global", "eu"]);

const valid = (schema: v.GenericSchema, text: string) => {
  const r = v.safeParse(schema, JSON.parse(text));
  assert.ok(r.success, r.success ? "" : v.summarize(r.issues) + "\n" + text);
  return r.output as Record<string, unknown>;
};

test("a --plan --json run report validates and lists steps, bundle changes and what comes next", async () => {
  const r = await cli(["pki", "rotate", "--intermediate", "eu", "--plan", "--json"], rootEnv(sb));
  assert.is(r.code, 0, r.err);
  const out = valid(RunReportSchema, r.out);
  assert.is(out.applied, false);
  assert.is(out.planOnly, true);
  assert.equal(out.needs, ["root"]);
  assert.ok((out.bundles as { bundle: string }[]).some((b) => b.bundle === "eu"));
  assert.ok((out.next as string[])[0]!.startsWith("in CI after"));
});

test("an applied --json run report records the files written and the journal entry", async () => {
  const r = await cli(["pki", "rotate", "--leaf", "payments", "--region", "eu", "--json"], ciEnv(sb));
  const out = valid(RunReportSchema, r.out);
  assert.is(out.applied, true);
  assert.ok((out.written as string[]).includes("leaves/eu/payments.crt.pem"));
  assert.type(out.journal, "number");
});

test("status --json validates against inforge.status/v1", async () => {
  const r = await cli(["pki", "status", "--json"], sb.env());
  const out = valid(StatusReportSchema, r.out) as v.InferOutput<typeof StatusReportSchema>;
  // regions/us.json is declared but us was never provisioned here: that is the one finding.
  assert.equal(out.findings.map((f) => f.code), ["scope.unprovisioned"]);
  assert.match(out.findings[0]!.message, /inforge pki intermediate us/);
  assert.is(out.health, "warning");
});

test("verify --json, tasks --json and deploy --json validate against their schemas", async () => {
  const ver = await cli(["pki", "verify", "--json"], ciEnv(sb));
  assert.is(ver.code, 0, ver.err + ver.out);
  assert.is(valid(VerifyReportSchema, ver.out).ok, true);
  valid(TasksReportSchema, (await cli(["tasks", "--json"], sb.env())).out);
  const dep = await cli(["deploy", "payments", "--region", "eu", "--out", join(sb.base, "deploy-eu-payments"), "--json"], ciEnv(sb));
  assert.is(dep.code, 0, dep.err);
  valid(DeployReportSchema, dep.out);
});

test("an error under --json is an inforge.error/v1 object on stdout and a sentence on stderr", async () => {
  const r = await cli(["pki", "intermediate", "nowhere", "--json"], rootEnv(sb));
  assert.is(r.code, 1);
  const out = valid(ErrorReportSchema, r.out);
  assert.is(out.error, "InputError");
  assert.match(r.err, /unknown region "nowhere"/);
});

test("the published JSON Schema files match the schemas in code (npm run schemas)", () => {
  for (const [file, text] of Object.entries(jsonSchemas())) {
    assert.is(readFileSync(join(ROOT, "docs/schemas", file), "utf8"), text, `docs/schemas/${file} is stale: run npm run schemas`);
  }
});

test.run();
