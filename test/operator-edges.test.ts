// Issue 15: operator rough edges found in a full walkthrough — warnings that were missing and
// hints that were wrong, each asserted on the planner's and status's own output.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { all, region, root } from "../lib/dsl/mod.ts";
import { parseService } from "../lib/model/names.ts";
import type { Topology } from "../lib/model/state.ts";
import { InputError } from "../lib/errors.ts";
import { plan } from "../lib/plan/planner.ts";
import { checkPlan } from "../lib/check/check-plan.ts";
import { checkState } from "../lib/check/check-state.ts";
import { statusReport, renderStatus } from "../lib/cli/status.ts";
import type { Snapshot } from "../lib/model/state.ts";
import { DAY, HOUR, SETUP, T0, TOPOLOGY, after, applyFake, established, planAt, stepsOf } from "./fixtures/pure-pki.ts";

/** The root rotation of the lifecycle fixture, up to the renew that retires every old intermediate. */
function overlap() {
  let s: Snapshot = established();
  const go = (p: ReturnType<typeof planAt>) => ((s = applyFake(p)), p);
  go(planAt(root().rotate(), s, after(T0, 8 * DAY)));
  const promoted = s;
  go(planAt(all().leaves().renew(), s, after(T0, 9 * DAY + HOUR)));
  const beforeRetire = s;
  const retire = go(planAt(all().leaves().renew(), s, after(T0, 17 * DAY)));
  return { promoted, beforeRetire, retire, retired: s };
}

test("1: once the last old intermediate retires, renew's next line, status findings and the calendar name rotate --root --finish", () => {
  const o = overlap();
  assert.ok(o.retire.steps.some((st) => st.kind === "set-state" && st.to === "retired"), "the renew retires the old intermediates");
  const finish = /inforge pki rotate --root --finish/;
  assert.ok(o.retire.next.some((n) => finish.test(n) && /ready to finish/.test(n)), o.retire.next.join("\n"));
  // Every later renew repeats it until the overlap is finished.
  const later = planAt(all().leaves().renew(), o.retired, after(T0, 18 * DAY));
  assert.ok(later.next.some((n) => finish.test(n)));
  const r = statusReport(o.retired, after(T0, 18 * DAY));
  const f = r.findings.find((x) => x.code === "root.overlap-finishable");
  assert.ok(f, JSON.stringify(r.findings));
  assert.is(f!.severity, "warning");
  assert.match(f!.message, finish);
  assert.is(r.health, "warning");
  assert.match(renderStatus(o.retired, after(T0, 18 * DAY)), /warning\s+the root overlap is ready to finish/);
  // Before: the calendar says when it can finish, and no finding claims it already can.
  const early = statusReport(o.beforeRetire, after(T0, 9 * DAY + HOUR));
  assert.not.ok(early.findings.some((x) => x.code === "root.overlap-finishable"));
  const ev = early.calendar.find((e) => finish.test(e.event));
  assert.ok(ev, JSON.stringify(early.calendar));
  assert.is(ev!.subject, "root G1");
  // While the new intermediates are still prepared, renew does not suggest finishing.
  const promote = planAt(all().leaves().renew(), o.promoted, after(T0, 8 * DAY + HOUR));
  assert.not.ok(promote.next.some((n) => finish.test(n)));
  // After the finish, nothing more to say.
  const done = applyFake(planAt(root().finish(), o.retired, after(T0, 18 * DAY)));
  assert.not.ok(statusReport(done, after(T0, 18 * DAY)).findings.some((x) => x.code === "root.overlap-finishable"));
  assert.not.ok(planAt(all().leaves().renew(), done, after(T0, 19 * DAY)).next.some((n) => finish.test(n)));
});

/** The fixture's topology plus a declared region "latam" that was never provisioned. */
const WITH_LATAM: Topology = { scopes: { ...TOPOLOGY.scopes, latam: { services: [parseService("payments")] } } };

test("2: a declared but unprovisioned region is a status finding and a renew note naming pki intermediate <r>", () => {
  const s = established();
  const at = after(T0, HOUR);
  const r = statusReport(s, at, { topology: WITH_LATAM });
  const f = r.findings.find((x) => x.code === "scope.unprovisioned");
  assert.ok(f, JSON.stringify(r.findings));
  assert.match(f!.message, /regions\/latam\.json declares "latam".*inforge pki intermediate latam/);
  assert.is(r.health, "warning");
  assert.is(statusReport(s, at, { topology: TOPOLOGY }).health, "ok", "every declared region provisioned: healthy");
  assert.match(renderStatus(s, at, { topology: WITH_LATAM }), /health: warning[\s\S]*inforge pki intermediate latam/);
  const p = plan([all().leaves().renew()], s, WITH_LATAM, at);
  assert.ok(p.notes.some((n) => /inforge pki intermediate latam/.test(n)), p.notes.join("\n"));
  assert.not.ok(planAt(all().leaves().renew(), s, at).notes.some((n) => /pki intermediate/.test(n)));
});

test("2: renew --region / a release for a region with no region file says the file is missing, not pki intermediate", () => {
  for (const intent of [region("nordics").leaves().renew(), region("nordics").leaves().renew({ services: ["payments"] }), region("nordics").service("payments").leaf().rotate()]) {
    try {
      planAt(intent, established(), after(T0, HOUR));
      assert.unreachable("planned a region with no region file");
    } catch (e) {
      assert.instance(e, InputError);
      assert.match((e as Error).message, /unknown region "nordics" .*: its region file is missing; add regions\/nordics\.json$/);
      assert.not.match((e as Error).message, /pki intermediate/);
    }
  }
});

test("5: an expired intermediate is replaced now — no prepared generation, no overlap, no revocation — and status says how long ago", () => {
  const s = established();
  const eu = s.scopes.eu!.generations[0]!;
  const at = new Date(Date.parse(eu.notAfter) + 26 * DAY);
  const r = statusReport(s, at);
  const f = r.findings.find((x) => x.code === "intermediate.expiring" && x.message.startsWith("eu G1"));
  assert.ok(f, JSON.stringify(r.findings));
  assert.match(f!.message, /^eu G1 expired 26d ago \(.*\); replace it now: inforge pki rotate --intermediate eu \(root posture; no overlap, no revocation\)$/);
  const text = renderStatus(s, at);
  assert.match(text, /G1 active\s+expired \S+ \(26d ago\)/);
  assert.not.match(text + JSON.stringify(r), /-\d+[dhm]/, "no negative durations");

  const p = planAt(region("eu").intermediate().rotate(), s, at);
  assert.equal(checkPlan(p), []);
  const states = stepsOf(p, "set-state").map((x) => `${x.scope} G${x.gen} ${x.from}→${x.to}`);
  assert.equal(states, ["eu G1 active→retired"]);
  const issued = stepsOf(p, "issue-intermediate");
  assert.is(issued.length, 1);
  assert.is(issued[0]!.state, "active", "active at once, not prepared");
  assert.is(p.after.root.crl.revoked.length, 0, "not revoked");
  assert.not.ok(stepsOf(p, "sign-crl").some((c) => c.revoked.length), "the root CRL lists nothing");
  assert.ok(p.notes.some((n) => /expired 26d ago .*no overlap .*no revocation/.test(n)), p.notes.join("\n"));
  assert.ok(p.next.some((n) => /in CI now: inforge pki renew --region eu/.test(n)), p.next.join("\n"));
  const bundleEu = stepsOf(p, "write-bundle").find((b) => b.bundle === "eu")!;
  assert.equal(bundleEu.leave.map((x) => `${x.scope}/G${x.gen}`), ["eu/G1"]);
  assert.equal(bundleEu.enter.map((x) => `${x.scope}/G${x.gen}`), ["eu/G2"]);
  // CI renews under G2 at once; the resulting tree passes every invariant.
  const after1 = applyFake(p);
  const renew = planAt(region("eu").leaves().renew(), after1, after(at, HOUR));
  assert.equal(checkPlan(renew), []);
  assert.ok(stepsOf(renew, "issue-leaf").every((l) => l.gen === 2));
  assert.equal(checkState(applyFake(renew)), []);
  // Before it expires the planned rotation is unchanged: a prepared generation.
  assert.is(stepsOf(planAt(region("eu").intermediate().rotate(), s, after(SETUP, 100 * DAY)), "issue-intermediate")[0]!.state, "prepared");
});

test("12: findings come criticals first, one line per scope and condition, grouped per scope with counts", () => {
  const s = established();
  const at = after(T0, 8 * DAY); // every 7-day leaf has expired; latam is declared but never provisioned
  const r = statusReport(s, at, { topology: WITH_LATAM });
  const sev = r.findings.map((f) => f.severity);
  assert.equal(sev, [...sev].sort((a, b) => (a === b ? 0 : a === "critical" ? -1 : 1)), "criticals first");
  const expired = r.findings.filter((f) => f.code === "leaf.expired");
  assert.equal(expired.map((f) => f.scope), ["eu", "global", "us"], "one per scope, not one per leaf");
  assert.match(expired[0]!.message, /^2 leaf\(s\) of eu expired \(payments, ledger\); run inforge pki renew --region eu in CI$/);
  const text = renderStatus(s, at, { topology: WITH_LATAM });
  const crit = r.findings.filter((f) => f.severity === "critical").length;
  const warn = r.findings.filter((f) => f.severity === "warning").length;
  assert.ok(crit > 0 && warn > 0);
  assert.ok(text.includes(`findings  ${crit} critical, ${warn} warning`), text);
  const lines = text.split("\n");
  const head = lines.indexOf(lines.find((l) => l.startsWith("findings"))!);
  const eu = lines.findIndex((l) => l === "  eu  2 critical"); // the CRL and the leaves; "due" is not repeated for expired leaves
  assert.not.ok(r.findings.some((f) => f.code === "leaf.due"), "an expired leaf is not also reported as due");
  assert.ok(eu > head, text);
  assert.match(lines[eu + 1]!, /^    critical /);
  // latam has only a warning: its group comes after every group with a critical.
  const latam = lines.findIndex((l) => /^  latam  1 warning$/.test(l));
  assert.ok(latam > eu, text);
  assert.match(lines[latam + 1]!, /^    warning  regions\/latam\.json declares/);
});

test("12: a calendar cut at --calendar N says how many entries it left out", () => {
  const s = established();
  const at = after(T0, HOUR);
  const all = statusReport(s, at).calendar.length;
  assert.ok(all > 3);
  const text = renderStatus(s, at, { calendar: 3 });
  assert.is(text.split("\n").filter((l) => /^  \d{4}-\d{2}-\d{2}  /.test(l)).length, 3);
  assert.match(text, new RegExp(`\\n  … ${all - 3} more within 400 days \\(--calendar ${all} shows all, --json lists them\\)$`));
  assert.not.match(renderStatus(s, at, { calendar: all }), /more within/);
});

test.run();
