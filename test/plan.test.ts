// lib/plan on pure data: intents + a hand-built or fake-applied snapshot + a fixed clock → steps.
// No disk, no crypto, no clock: each state is the previous plan's `after`, with serials filled in
// by applyFake (see test/fixtures/pure-pki.ts).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { all, global, region, root } from "../lib/dsl/mod.ts";
import { InputError } from "../lib/errors.ts";
import { checkPlan } from "../lib/check/check-plan.ts";
import { EMPTY_SNAPSHOT, type Snapshot } from "../lib/model/state.ts";
import type { Plan } from "../lib/plan/step.ts";
import {
  CI_RECIPIENT, DAY, DOMAIN, HOUR, MINUTE, R, SERVICES, SETUP, T0,
  after, applyFake, established, initIntent, initialised, isRegionFile, iso, lifecycle, planAt, refs, step, stepsOf, withScopes, writesOf,
} from "./fixtures/pure-pki.ts";

const throwsInput = (fn: () => unknown, ...parts: (string | RegExp)[]) => {
  try {
    fn();
  } catch (e) {
    assert.instance(e, InputError);
    const msg = (e as Error).message;
    for (const p of parts) {
      if (typeof p === "string") assert.ok(msg.includes(p), `expected ${JSON.stringify(p)} in: ${msg}`);
      else assert.match(msg, p);
    }
    return;
  }
  assert.unreachable("expected an InputError");
};

const genOf = (s: Snapshot, scope: string, gen: number) =>
  (scope === "root" ? s.root.generations : s.scopes[scope]!.generations).find((g) => g.gen === gen)!;

const noteMatching = (p: Plan, re: RegExp) => p.notes.some((n) => re.test(n));

test("a plan is frozen all the way down: steps, their arrays, the states before and after", () => {
  const p = planAt(all().leaves().renew(), established(), new Date(T0.getTime() + 6 * DAY));
  assert.ok(p.steps.some((s) => s.kind === "issue-leaf"), "the plan renews leaves");
  let objects = 0;
  const walk = (o: unknown, at: string): void => {
    if (o === null || typeof o !== "object") return;
    objects++;
    assert.ok(Object.isFrozen(o), `${at} is not frozen`);
    for (const [k, v] of Object.entries(o)) walk(v, `${at}.${k}`);
  };
  walk(p, "plan");
  assert.ok(objects > 100, `only ${objects} objects walked`);
});

// ---- init ----------------------------------------------------------------------------------

test("init from an empty directory plans the root identity, the root, its CRL, the custody record, root.pem and the two state files, in that order", () => {
  const p = planAt(initIntent(), EMPTY_SNAPSHOT, SETUP);
  assert.equal(p.steps.map((s) => s.kind), ["create-root-identity", "create-root", "sign-crl", "sign-custody", "write-bundle", "write-state", "write-state"]);
  // The record is signed by the root made in this plan: no identity is needed to open it.
  assert.equal(stepsOf(p, "sign-custody").map((s) => [s.rootGen, s.identity, s.writes]), [[1, null, ["custody.json"]]]);
  assert.equal(stepsOf(p, "write-bundle").map((s) => s.bundle), ["root"]);
  assert.equal(refs(stepsOf(p, "write-bundle")[0]!.members), ["root/G1"]);
  assert.equal(stepsOf(p, "write-state").map((s) => s.file), ["pki.json", "root/root.json"]);
  const [cr] = stepsOf(p, "create-root");
  assert.is(cr!.gen, 1);
  assert.is(cr!.notBefore, iso(SETUP.getTime() - 5 * MINUTE));
  assert.is(cr!.notAfter, iso(SETUP.getTime() - 5 * MINUTE + 3650 * DAY));
  assert.is(p.after.config?.domain, DOMAIN);
  assert.equal(checkPlan(p), []);
});

test("init on an initialised directory is refused as already initialised", () => {
  throwsInput(() => planAt(initIntent(), initialised(), after(SETUP, HOUR)), "already initialised");
});

// ---- scope.add -------------------------------------------------------------------------------

test("adding a region issues one active intermediate under the root, constrained to the region's own names", () => {
  const before = step(global().add(), initialised(), SETUP);
  const p = planAt(region("eu").add(), before, SETUP);
  const issued = stepsOf(p, "issue-intermediate");
  assert.is(issued.length, 1);
  const i = issued[0]!;
  assert.is(i.scope, "eu");
  assert.is(i.gen, 1);
  assert.is(i.rootGen, 1);
  assert.is(i.state, "active");
  assert.is(i.identity, "root");
  assert.equal(i.permittedDns, [`eu.${DOMAIN}`]);
  assert.equal(i.permittedUriHosts, [], "the default mode (dns) leaves URIs to the per-trust-domain bundles");
  assert.is(genOf(p.after, "eu", 1).state, "active");
  assert.equal(checkPlan(p), []);
});

test("init writes the constraint mode explicitly (dns by default); dns+uri is an opt-in whose caveats the plan states", () => {
  assert.is(planAt(initIntent(), EMPTY_SNAPSHOT, SETUP).after.config?.nameConstraints, "dns");
  assert.not.ok(noteMatching(planAt(initIntent(), EMPTY_SNAPSHOT, SETUP), /rustls/));
  const opt = planAt(root().init({ name: "acme mesh", domain: DOMAIN, ciRecipient: CI_RECIPIENT, nameConstraints: "dns+uri" }), EMPTY_SNAPSHOT, SETUP);
  assert.is(opt.after.config?.nameConstraints, "dns+uri");
  assert.ok(noteMatching(opt, /rustls .*refuses every leaf.*GnuTLS ignores URI constraints.*Go reads them as "host or any subdomain"/), opt.notes.join("\n"));
  const eu = planAt(region("eu").add(), step(global().add(), applyFake(opt), SETUP), SETUP);
  assert.equal(stepsOf(eu, "issue-intermediate")[0]!.permittedUriHosts, [`eu.${DOMAIN}`]);
  assert.equal(checkPlan(eu), []);
});

test("a tree made before the mode was written (no nameConstraints in pki.json) keeps its meaning: DNS and URI constraints", () => {
  const old = initialised();
  delete old.config!.nameConstraints;
  const eu = planAt(region("eu").add(), step(global().add(), old, SETUP), SETUP);
  assert.equal(stepsOf(eu, "issue-intermediate")[0]!.permittedUriHosts, [`eu.${DOMAIN}`]);
  assert.equal(checkPlan(eu), []);
});

test("adding a region writes its bundle with its own and global's intermediate, refreshes global.pem, and no other region's file", () => {
  let s: Snapshot = step(global().add(), initialised(), SETUP);
  s = step(region("us").add(), s, SETUP);
  const p = planAt(region("eu").add(), s, SETUP);
  const bundles = Object.fromEntries(stepsOf(p, "write-bundle").map((b) => [b.bundle, refs(b.members)]));
  assert.equal(bundles, { eu: ["eu/G1", "global/G1"], global: ["global/G1", "eu/G1", "us/G1"], [`trust-domains/eu.${DOMAIN}`]: ["eu/G1"] });
  assert.equal(writesOf(p).filter(isRegionFile("us")), []);
  assert.ok(!writesOf(p).some((w) => w.includes("/us/") || w.includes("us.pem")));
});

test("a region added before global gets a bundle of its own intermediate only", () => {
  const p = planAt(region("eu").add(), initialised(), SETUP);
  assert.equal(stepsOf(p, "write-bundle").map((b) => [b.bundle, refs(b.members)]), [["eu", ["eu/G1"]], [`trust-domains/eu.${DOMAIN}`, ["eu/G1"]]]);
});

test("adding an unknown region is refused, naming the region file to add and the known regions", () => {
  throwsInput(() => planAt(region("mars").add(), initialised(), SETUP), `"mars"`, "regions/mars.json", "known: eu, global, us");
});

test("adding a scope that already has an intermediate is refused", () => {
  throwsInput(() => planAt(region("eu").add(), withScopes(), SETUP), `"eu"`, "already has an intermediate");
});

test("adding a region before init is refused", () => {
  throwsInput(() => planAt(region("eu").add(), EMPTY_SNAPSHOT, SETUP), "not initialised");
});

// ---- leaves.renew ------------------------------------------------------------------------------

test("renewal mints every missing leaf of the scope under the CI identity, 7 days long, backdated by the 5-minute clock skew", () => {
  const p = planAt(region("eu").leaves().renew(), withScopes(), T0);
  const leaves = stepsOf(p, "issue-leaf");
  assert.equal(leaves.map((l) => l.service).sort(), [...SERVICES.eu].sort());
  const nb = T0.getTime() - 5 * MINUTE;
  for (const l of leaves) {
    assert.is(l.scope, "eu");
    assert.is(l.reason, "missing");
    assert.is(l.identity, "ci");
    assert.is(l.gen, 1);
    assert.is(l.notBefore, iso(nb));
    assert.is(l.notAfter, iso(nb + 7 * DAY));
    assert.equal(l.dns, [`${l.service}.eu.${DOMAIN}`]);
    assert.equal(l.uris, [`spiffe://eu.${DOMAIN}/svc/${l.service}`]);
    assert.equal(l.writes, [`leaves/eu/${l.service}.crt.pem`, `leaves/eu/keys.age`]);
  }
  assert.equal(writesOf(p).filter((w) => !isRegionFile("eu")(w)), []);
  assert.equal(checkPlan(p), []);
});

test("a second renewal at the same instant plans nothing and says so", () => {
  const p = planAt(all().leaves().renew(), established(), T0);
  assert.equal(p.steps, []);
  assert.ok(noteMatching(p, /nothing to do/), p.notes.join("\n"));
});

test("no leaf is due before two-thirds of its life", () => {
  const p = planAt(all().leaves().renew(), established(), after(T0, 4 * DAY));
  assert.equal(stepsOf(p, "issue-leaf"), []);
});

test("past two-thirds of its life (day 5 of 7) every leaf of every scope is due", () => {
  const p = planAt(all().leaves().renew(), established(), after(T0, 5 * DAY));
  const leaves = stepsOf(p, "issue-leaf");
  const want = Object.entries(SERVICES).flatMap(([s, svcs]) => svcs.map((x) => `${s}/${x}`)).sort();
  assert.equal(leaves.map((l) => `${l.scope}/${l.service}`).sort(), want);
  assert.ok(leaves.every((l) => l.reason === "due"));
  assert.equal(checkPlan(p), []);
});

test("a leaf never outlives its issuer: under an intermediate expiring in two days it is cut short, and a note says so", () => {
  const s = withScopes();
  const end = iso(after(T0, 2 * DAY));
  genOf(s, "eu", 1).notAfter = end;
  const p = planAt(region("eu").leaves().renew(), s, T0);
  const leaves = stepsOf(p, "issue-leaf");
  assert.is(leaves.length, SERVICES.eu.length);
  for (const l of leaves) assert.is(l.notAfter, end);
  assert.ok(noteMatching(p, /cut short/), p.notes.join("\n"));
  assert.equal(checkPlan(p), []);
});

test("renewing a scope without an active intermediate is refused", () => {
  throwsInput(() => planAt(region("eu").leaves().renew(), initialised(), T0), `"eu"`, "no active intermediate");
});

test("rotating one leaf re-issues that service only, with reason forced; an unknown service is refused", () => {
  const p = planAt(region("eu").service("payments").leaf().rotate(), established(), after(T0, HOUR));
  assert.equal(stepsOf(p, "issue-leaf").map((l) => [l.scope, l.service, l.reason]), [["eu", "payments", "forced"]]);
  throwsInput(() => planAt(region("eu").service("search").leaf().rotate(), established(), after(T0, HOUR)), `"search"`, "regions/eu.json");
});

// ---- intermediate.rotate ---------------------------------------------------------------------

test("rotating an intermediate prepares the next generation, activatable after the 24h propagation delay, and publishes it beside the current one", () => {
  const p = planAt(region("eu").intermediate().rotate(), established(), R);
  const [i, ...more] = stepsOf(p, "issue-intermediate");
  assert.is(more.length, 0);
  assert.is(i!.scope, "eu");
  assert.is(i!.gen, 2);
  assert.is(i!.state, "prepared");
  assert.is(i!.identity, "root");
  assert.is(genOf(p.after, "eu", 2).activateAfter, iso(after(R, 24 * HOUR)));
  assert.is(genOf(p.after, "eu", 1).state, "active");
  const bundles = Object.fromEntries(stepsOf(p, "write-bundle").map((b) => [b.bundle, refs(b.members)]));
  assert.equal(bundles.eu, ["eu/G1", "eu/G2", "global/G1"]);
  assert.ok(bundles.global?.includes("eu/G1") && bundles.global.includes("eu/G2"));
  assert.equal(stepsOf(p, "issue-leaf"), [], "no leaf is re-issued before the new generation is trusted everywhere");
  assert.equal(writesOf(p).filter(isRegionFile("us")), []);
});

test("renewal before the new generation's activation time does not promote it, and says when it can", () => {
  const { plans } = lifecycle();
  const p = plans.tooEarly;
  assert.equal(stepsOf(p, "set-state"), []);
  assert.is(genOf(p.after, "eu", 2).state, "prepared");
  const when = iso(after(R, 24 * HOUR));
  assert.ok(p.next.some((n) => n.includes(when) && n.includes("G2")), p.next.join("\n"));
});

test("renewal after the activation time promotes the new generation, retires the old from issuing and re-issues every leaf of the scope", () => {
  const { plans } = lifecycle();
  const p = plans.promoteEu;
  const moves = stepsOf(p, "set-state").map((s) => `${s.scope} G${s.gen} ${s.from}->${s.to}`).sort();
  assert.equal(moves, ["eu G1 active->retiring", "eu G2 prepared->active"]);
  assert.ok(stepsOf(p, "set-state").every((s) => s.identity === null));
  const leaves = stepsOf(p, "issue-leaf");
  assert.equal(leaves.map((l) => l.service).sort(), [...SERVICES.eu].sort());
  assert.ok(leaves.every((l) => l.gen === 2 && l.reason === "new issuer" && l.identity === "ci"));
  // Both generations stay published while the old one's leaves live: no bundle changes.
  assert.equal(stepsOf(p, "write-bundle"), []);
  // The old generation stays trusted until its last leaf (minted at T0, backdated 5m) has expired.
  assert.is(genOf(p.after, "eu", 1).retireAfter, iso(after(T0, 7 * DAY)));
});

test("the retiring generation stays in the bundles until its last leaf has expired, then renewal retires it and it leaves them", () => {
  const { plans } = lifecycle();
  const promoted = applyFake(plans.promoteEu);
  const early = planAt(region("eu").leaves().renew(), promoted, after(T0, 7 * DAY - HOUR));
  assert.equal(stepsOf(early, "set-state"), []);
  assert.equal(stepsOf(early, "write-bundle"), []);

  const p = plans.retireEu;
  assert.equal(stepsOf(p, "set-state").map((s) => `${s.scope} G${s.gen} ${s.from}->${s.to}`), ["eu G1 retiring->retired"]);
  const eu = stepsOf(p, "write-bundle").find((b) => b.bundle === "eu")!;
  assert.equal(refs(eu.members), ["eu/G2", "global/G1"]);
  assert.equal(refs(eu.leave), ["eu/G1"]);
  const glob = stepsOf(p, "write-bundle").find((b) => b.bundle === "global")!;
  assert.equal(refs(glob.leave), ["eu/G1"]);
  assert.ok(!stepsOf(p, "write-bundle").some((b) => b.bundle === "us"));
});

test("rotation is refused when the active intermediate expires before leaf life + propagation + skew have passed, unless forced", () => {
  const s = established();
  genOf(s, "eu", 1).notAfter = iso(after(R, 2 * DAY));
  throwsInput(() => planAt(region("eu").intermediate().rotate(), s, R), `"eu"`, "overlap", "--force");
  const p = planAt(region("eu").intermediate().rotate({ force: true }), s, R);
  assert.ok(noteMatching(p, /forced/), p.notes.join("\n"));
  assert.equal(stepsOf(p, "issue-intermediate").map((i) => [i.scope, i.gen, i.state]), [["eu", 2, "prepared"]]);
});

test("a second rotation while one is prepared is refused", () => {
  const rotated = step(region("eu").intermediate().rotate(), established(), R);
  throwsInput(() => planAt(region("eu").intermediate().rotate(), rotated, after(R, HOUR)), "already under way", "G2");
  throwsInput(() => planAt([region("eu").intermediate().rotate(), region("eu").intermediate().rotate()], established(), R), "this plan already rotates", "once per plan");
});

// ---- intermediate.recover ----------------------------------------------------------------------

test("recovery revokes the active generation, lists it on the root CRL and activates a replacement at once", () => {
  const before = established();
  const p = planAt(region("eu").intermediate().recover(), before, R);
  assert.equal(stepsOf(p, "set-state").map((s) => `${s.scope} G${s.gen} ${s.from}->${s.to}`), ["eu G1 active->revoked"]);
  assert.is(genOf(p.after, "eu", 1).state, "revoked");
  assert.equal(p.after.root.crl.revoked.map((r) => [r.scope, r.gen, r.serial]), [["eu", 1, genOf(before, "eu", 1).serial]]);
  assert.equal(stepsOf(p, "issue-intermediate").map((i) => [i.scope, i.gen, i.state, i.identity]), [["eu", 2, "active", "root"]]);
  assert.is(genOf(p.after, "eu", 2).state, "active");
  assert.equal(checkPlan(p), []);
});

test("recovery drops the revoked generation from every bundle in the same plan and re-signs the CRL with the root identity", () => {
  const p = planAt(region("eu").intermediate().recover(), established(), R);
  const bundles = stepsOf(p, "write-bundle");
  const eu = bundles.find((b) => b.bundle === "eu")!;
  assert.equal(refs(eu.members), ["eu/G2", "global/G1"]);
  assert.equal(refs(eu.leave), ["eu/G1"]);
  for (const b of bundles) assert.not.ok(refs(b.members).includes("eu/G1"), `${b.bundle} still carries eu/G1`);
  const crl = stepsOf(p, "sign-crl");
  assert.is(crl.length, 1);
  assert.is(crl[0]!.identity, "root");
  assert.equal(refs(crl[0]!.revoked), ["eu/G1"]);
});

test("recovery notes its blast radius: every service whose leaf the revoked generation signed", () => {
  const p = planAt(region("eu").intermediate().recover(), established(), R);
  const note = p.notes.find((n) => n.includes("blast radius"));
  assert.ok(note, p.notes.join("\n"));
  for (const svc of SERVICES.eu) assert.ok(note!.includes(svc), note);
  assert.ok(note!.includes(`${SERVICES.eu.length} leaf`), note);
});

test("recovering one region writes none of another region's files", () => {
  const p = planAt(region("eu").intermediate().recover(), established(), R);
  assert.equal(writesOf(p).filter(isRegionFile("us")), []);
  assert.ok(!writesOf(p).some((w) => w.startsWith("scopes/us") || w.startsWith("leaves/us") || w === "bundles/us.pem"));
});

test("after recovery the next renewal re-issues every leaf of the scope with reason issuer revoked", () => {
  const recovered = step(region("eu").intermediate().recover(), established(), R);
  const p = planAt(region("eu").leaves().renew(), recovered, after(R, HOUR));
  const leaves = stepsOf(p, "issue-leaf");
  assert.equal(leaves.map((l) => l.service).sort(), [...SERVICES.eu].sort());
  assert.ok(leaves.every((l) => l.gen === 2 && l.reason === "issuer revoked"), JSON.stringify(leaves.map((l) => [l.gen, l.reason])));
});

// ---- root.rotate / root.finish -------------------------------------------------------------------

test("rotating the root creates G2 as the active root, keeps G1 as retiring, and cross-signs G2 by G1 with the root identity", () => {
  const p = planAt(root().rotate(), established(), R);
  assert.equal(stepsOf(p, "create-root").map((c) => [c.gen, c.identity]), [[2, null]]);
  assert.equal(stepsOf(p, "set-state").map((s) => `${s.scope} G${s.gen} ${s.from}->${s.to}`), ["root G1 active->retiring"]);
  assert.equal(stepsOf(p, "cross-sign-root").map((c) => [c.gen, c.by, c.identity]), [[2, 1, "root"]]);
  assert.equal(p.after.root.generations.map((g) => [g.gen, g.state]), [[1, "retiring"], [2, "active"]]);
  assert.equal(checkPlan(p), []);
});

test("a root rotation prepares one intermediate per scope under the new root, signed with its in-memory key", () => {
  const p = planAt(root().rotate(), established(), R);
  const issued = stepsOf(p, "issue-intermediate");
  assert.equal(issued.map((i) => i.scope).sort(), ["eu", "global", "us"]);
  for (const i of issued) {
    assert.is(i.rootGen, 2);
    assert.is(i.state, "prepared");
    assert.is(i.identity, null, `${i.scope} G${i.gen} needs no identity: root G2 was created in this plan`);
    assert.is(genOf(p.after, i.scope, i.gen).issuer, 2);
  }
});

test("root.pem carries both roots during the overlap", () => {
  const p = planAt(root().rotate(), established(), R);
  const rootPem = stepsOf(p, "write-bundle").find((b) => b.bundle === "root");
  assert.ok(rootPem);
  assert.equal(refs(rootPem!.members), ["root/G1", "root/G2"]);
});

test("the root overlap cannot finish while an intermediate of the old root is live, and finishes once they have all retired", () => {
  const { plans } = lifecycle();
  const rotated = applyFake(plans.rotateRoot);
  throwsInput(() => planAt(root().finish(), rotated, after(T0, 8 * DAY + HOUR)), "eu G2 (active)", "global G1 (active)", "us G2 (active)");
  const promoted = applyFake(plans.promoteAll);
  throwsInput(() => planAt(root().finish(), promoted, after(T0, 9 * DAY + 2 * HOUR)), "(retiring)");

  const p = plans.finishRoot;
  assert.equal(stepsOf(p, "set-state").map((s) => `${s.scope} G${s.gen} ${s.from}->${s.to}`), ["root G1 retiring->retired"]);
  const rootPem = stepsOf(p, "write-bundle").find((b) => b.bundle === "root")!;
  assert.equal(refs(rootPem.members), ["root/G2"]);
  assert.equal(refs(rootPem.leave), ["root/G1"]);
  assert.is(p.after.root.crossSigned, null);
  // G1 signed us G1, revoked earlier in the lifecycle: it keeps publishing a CRL until it expires.
  assert.equal(stepsOf(p, "sign-crl").map((c) => c.rootGens), [[1, 2]]);
});

test("finishing without a root overlap is refused", () => {
  throwsInput(() => planAt(root().finish(), established(), R), "no root overlap");
});

test("a root rotation is refused while a scope is mid-rotation", () => {
  const rotated = step(region("eu").intermediate().rotate(), established(), R);
  throwsInput(() => planAt(root().rotate(), rotated, after(R, HOUR)), `"eu"`, "mid-rotation");
});

// ---- whole-life properties -----------------------------------------------------------------------

test("every plan of a whole lifecycle passes the checker", () => {
  const { plans } = lifecycle();
  for (const [name, p] of Object.entries(plans)) assert.equal(checkPlan(p), [], name);
});

test("a region bundle never carries another region's intermediate, a trust domain's bundle only its own scope's, and the root is in no mesh bundle", () => {
  const { plans } = lifecycle();
  let seen = 0;
  for (const [name, p] of Object.entries(plans)) {
    for (const b of stepsOf(p, "write-bundle")) {
      seen++;
      for (const m of b.members) {
        if (b.bundle === "root") assert.is(m.scope, "root", `${name}: root.pem carries ${m.scope}/G${m.gen}`);
        else assert.is.not(m.scope, "root", `${name}: ${b.bundle}.pem carries a root`);
        if (b.bundle.startsWith("trust-domains/")) assert.is(m.scope, b.bundle.slice("trust-domains/".length).split(".")[0], `${name}: ${b.bundle}.pem carries ${m.scope}/G${m.gen}`);
        else if (b.bundle !== "root" && b.bundle !== "global") {
          assert.ok(m.scope === b.bundle || m.scope === "global", `${name}: ${b.bundle}.pem carries ${m.scope}/G${m.gen}`);
        }
      }
    }
  }
  assert.ok(seen > 10, `only ${seen} bundle writes seen`);
});

test("an intent for one region never writes another region's files, across a whole lifecycle", () => {
  const { plans } = lifecycle();
  for (const [name, p] of Object.entries(plans)) {
    const scopes = p.intents.map((i) => ("scope" in i ? i.scope : null));
    const only = scopes.length && scopes.every((s) => s && s !== "all" && s !== "global") ? new Set(scopes) : null;
    if (!only) continue;
    for (const other of ["eu", "us"].filter((r) => !only.has(r as never))) {
      assert.equal(writesOf(p).filter(isRegionFile(other)), [], `${name} writes ${other} files`);
    }
  }
});

const unfrozen = (x: unknown, path = "plan", out: string[] = []): string[] => {
  if (x && typeof x === "object") {
    if (!Object.isFrozen(x)) out.push(path);
    for (const [k, v] of Object.entries(x)) unfrozen(v, `${path}.${k}`, out);
  }
  return out;
};

test("a plan, its steps and its states are deeply frozen", () => {
  const p = planAt(region("eu").intermediate().recover(), established(), R);
  assert.equal(unfrozen(p), []);
  assert.throws(() => {
    (p.steps as Plan["steps"][number][]).push(p.steps[0]!);
  }, TypeError);
  assert.throws(() => {
    (p.after.scopes.eu!.generations[0] as { state: string }).state = "active";
  }, TypeError);
});

test("a plan made from the empty snapshot is deeply frozen too", () => {
  const p = planAt(initIntent(), EMPTY_SNAPSHOT, SETUP);
  assert.equal(unfrozen(p), []);
});

test("the empty snapshot is deeply frozen, so nothing can change what empty means", () => {
  assert.equal(unfrozen(EMPTY_SNAPSHOT, "EMPTY_SNAPSHOT"), []);
});

test("planning does not change the snapshot it was given", () => {
  const s = established();
  const copy = structuredClone(s);
  planAt([region("eu").intermediate().recover(), root().rotate()], s, R);
  assert.equal(s, copy);
});

test("after the root overlap ends, the retired root still signs a CRL for the intermediate it signed and that was revoked", () => {
  const { plans } = lifecycle();
  const crl = stepsOf(plans.finishRoot, "sign-crl");
  assert.is(crl.length, 1);
  assert.equal([...crl[0]!.rootGens].sort(), [1, 2], "root G1 signed the revoked us G1, so it keeps publishing a CRL");
  assert.ok(refs(crl[0]!.revoked).includes("us/G1"));
  assert.equal(checkPlan(plans.finishRoot), []);
});

test.run();
