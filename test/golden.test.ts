// Golden output: the plan, status and graph renderings of fixed states at fixed times, compared
// byte for byte with files under test/golden/ (plain text: NO_COLOR). Regenerate deliberately
// with UPDATE_GOLDEN=1 and review the diff like code.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import * as v from "valibot";
import { region, root, all } from "../lib/mod.ts";
import { renderPlan } from "../lib/term/render-plan.ts";
import { renderStatus, statusReport, checkExitCode } from "../lib/cli/status.ts";
import { renderGraph } from "../lib/cli/graph.ts";
import { StatusReportSchema } from "../lib/model/reports.ts";
import { DAY, HOUR, T0, after, applyFake, established, planAt, step } from "./fixtures/pure-pki.ts";

const dir = join(dirname(fileURLToPath(import.meta.url)), "golden");
// Origins carry this file's line numbers; pin them so the goldens do not move with edits above.
const pin = (s: string) => s.replace(/golden\.test\.ts:\d+/g, "golden.test.ts:N");

function golden(name: string, actual: string) {
  const file = join(dir, name);
  if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, actual + "\n");
  assert.fixture(actual + "\n", readFileSync(file, "utf8"), name);
}

const ids = { ci: { secret: "", recipient: "age1" } } as never;
const base = established();

test("a planned intermediate rotation renders its steps, bundle changes and what comes next", () => {
  const p = planAt(region("eu").intermediate().rotate(), base, after(T0, HOUR));
  golden("plan-rotate-intermediate.txt", pin(renderPlan(p, {}, "rotate-intermediate")));
});

test("a compromise recovery renders the blast radius and the CRL signature", () => {
  const p = planAt(region("eu").intermediate().recover(), base, after(T0, HOUR));
  golden("plan-recover.txt", pin(renderPlan(p, {}, "recover-intermediate")));
});

test("a root rotation renders the new root, the cross-signed certificate and every scope's prepared intermediate", () => {
  const p = planAt(root().rotate(), base, after(T0, HOUR));
  golden("plan-rotate-root.txt", pin(renderPlan(p, {}, "rotate-root")));
});

test("a CI renew of the promotion renders set-state steps and grouped leaves", () => {
  const rotated = step(region("eu").intermediate().rotate(), base, after(T0, HOUR));
  const p = planAt(all().leaves().renew(), rotated, after(T0, 26 * HOUR));
  golden("plan-promote.txt", pin(renderPlan(p, ids, "renew")));
});

test("status renders the tree, the health and the calendar mid-rotation", () => {
  const rotated = applyFake(planAt(region("eu").intermediate().rotate(), base, after(T0, HOUR)));
  golden("status-mid-rotation.txt", renderStatus(rotated, after(T0, 2 * HOUR)));
});

test("status --json validates against its versioned schema", () => {
  const r = statusReport(base, after(T0, HOUR));
  const parsed = v.safeParse(StatusReportSchema, JSON.parse(JSON.stringify(r)));
  assert.ok(parsed.success, parsed.success ? "" : v.summarize(parsed.issues));
  assert.is(r.health, "ok");
});

test("status --check is ok before the thresholds, warning inside the intermediate's last 60 days, critical in its last 30", () => {
  // The fixture's intermediates expire at T0 + 334 days. Renew the leaves and re-sign the CRL at
  // each instant so that only the intermediate's age speaks.
  const at = (days: number) => {
    const s = step([all().leaves().renew(), root().crl()], base, after(T0, days * DAY));
    return statusReport(s, after(T0, days * DAY));
  };
  assert.is(checkExitCode(statusReport(base, after(T0, DAY))), 0);
  assert.is(checkExitCode(statusReport(base, after(T0, 5 * DAY))), 1, "leaves past their renewal point are a warning");
  assert.is(checkExitCode(at(270)), 0);
  assert.is(checkExitCode(at(280)), 1);
  assert.ok(at(280).findings.some((f) => f.code === "intermediate.expiring" && f.severity === "warning"));
  assert.is(checkExitCode(at(310)), 2);
  assert.ok(at(310).findings.some((f) => f.code === "intermediate.expiring" && f.severity === "critical"));
});

test("the graph renders as mermaid and as dot", () => {
  const rotated = applyFake(planAt(root().rotate(), base, after(T0, HOUR)));
  golden("graph.mmd", renderGraph(rotated, "mermaid"));
  golden("graph.dot", renderGraph(rotated, "dot"));
});

test("NO_COLOR output carries no escape codes", () => {
  const p = planAt(region("eu").intermediate().recover(), base, after(T0, HOUR));
  assert.not.match(renderPlan(p, {}, "x") + renderStatus(base, T0), /\x1b\[/);
});

test.run();
