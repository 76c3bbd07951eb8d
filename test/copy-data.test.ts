// lib/model/copy.ts: the writable copy of a frozen plan's state that planning and apply work on
// (instead of structuredClone, which also copied every string of a fleet's state).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyData } from "../lib/model/copy.ts";
import { StateError } from "../lib/errors.ts";

const frozen = <T>(o: T): T => {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) frozen(v);
    Object.freeze(o);
  }
  return o;
};

test("a copy of frozen state is equal, writable at every level, and leaves the original as it was", () => {
  const after = frozen({
    config: { domain: "mesh.test", recipients: { root: "age1r", ci: "age1c" }, rootKeys: undefined },
    leaves: { eu: { scope: "eu", leaves: { payments: { gen: 1, serial: "", fingerprint: "", notBefore: "2026-01-01T00:00:00Z", notAfter: "2026-01-08T00:00:00Z", names: ["a.eu.mesh.test"] } } } },
    root: { generations: [{ gen: 1, state: "active", crossSigned: null, ok: true }] },
  });
  const state = copyData(after);
  assert.equal(state, after);
  assert.ok("rootKeys" in state.config, "an undefined field is kept, as structuredClone kept it");
  assert.equal(Object.keys(state.leaves.eu.leaves), ["payments"]);
  state.leaves.eu.leaves.payments.serial = "7f";
  state.leaves.eu.leaves.payments.names.push("b.eu.mesh.test");
  state.root.generations[0]!.state = "retired";
  (state.config.recipients as { ci: string }).ci = "age1other";
  assert.is(after.leaves.eu.leaves.payments.serial, "");
  assert.equal(after.leaves.eu.leaves.payments.names, ["a.eu.mesh.test"]);
  assert.is(after.root.generations[0]!.state, "active");
  assert.is(after.config.recipients.ci, "age1c");
});

test("anything that is not plain state data is refused as a bug, not copied by reference", () => {
  for (const [what, bad] of [["Date", new Date(0)], ["Map", new Map()], ["function", () => 1], ["bigint", 1n]] as const) {
    try {
      copyData({ leaves: { eu: { x: bad } } });
      assert.unreachable(`${what} was copied`);
    } catch (e) {
      assert.instance(e, StateError, what);
      assert.match((e as Error).message, new RegExp(`^internal: state data holds a ${what}`), what);
    }
  }
});

test.run();
