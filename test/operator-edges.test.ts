// Issue 15: operator rough edges found in a full walkthrough — warnings that were missing and
// hints that were wrong, each asserted on the planner's and status's own output.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { all, region, root } from "../lib/dsl/mod.ts";
import { parseService } from "../lib/model/names.ts";
import type { Topology } from "../lib/model/state.ts";
import { InputError } from "../lib/errors.ts";
import { plan } from "../lib/plan/planner.ts";
import { statusReport, renderStatus } from "../lib/cli/status.ts";
import type { Snapshot } from "../lib/model/state.ts";
import { DAY, HOUR, T0, TOPOLOGY, after, applyFake, established, planAt } from "./fixtures/pure-pki.ts";

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

test.run();
