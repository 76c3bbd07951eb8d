// lib/check as tables: a valid plan from the planner, a structured clone of it broken in one
// way, and the issue codes the checker must report (no more, no fewer).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { region, root } from "../lib/dsl/mod.ts";
import { CheckError, type Issue } from "../lib/errors.ts";
import { assertChecked, checkPlan } from "../lib/check/check-plan.ts";
import { checkState, pendingWork } from "../lib/check/check-state.ts";
import type { Snapshot } from "../lib/model/state.ts";
import type { Plan, Step } from "../lib/plan/step.ts";
import {
  DAY, DOMAIN, HOUR, T0, after, applyFake, established, iso, lifecycle, planAt, step, withScopes, type DeepMutable,
} from "./fixtures/pure-pki.ts";

type MPlan = DeepMutable<Plan>;
type MStep<K extends Step["kind"]> = DeepMutable<Extract<Step, { kind: K }>>;

// ---- base plans (each passes the checker; asserted below) -------------------------------------

const { plans: life } = lifecycle();
const BASES = {
  init: life.init,
  /** eu's first intermediate, global and us already present (intent scope "eu"). */
  euAdd: life.addEu,
  /** eu's leaves minted (intent scope "eu"). */
  euMint: planAt(region("eu").leaves().renew(), withScopes(), T0),
  /** eu G2 prepared beside active G1. */
  euRotate: life.rotateEu,
  /** eu G2 promoted, G1 retiring, leaves re-issued under G2. */
  euPromote: life.promoteEu,
  /** eu G1 retired and out of the bundles. */
  euRetire: life.retireEu,
  /** eu leaves due while G2 is still prepared: they are re-issued by G1. */
  euDueWhilePrepared: planAt(
    region("eu").leaves().renew(),
    step(region("eu").intermediate().rotate(), established(), after(T0, 5 * DAY)),
    after(T0, 5 * DAY + HOUR),
  ),
  /** us G1 revoked, us G2 active at once, CRL re-signed (intent scope "us"). */
  usRecover: life.recoverUs,
  rootRotate: life.rotateRoot,
  rootFinish: life.finishRoot,
};
type BaseName = keyof typeof BASES;

const clone = (p: Plan): MPlan => structuredClone(p) as MPlan;

/** The first step of a kind (optionally matching), as a writable value inside a cloned plan. */
function find<K extends Step["kind"]>(p: MPlan, kind: K, where: (s: MStep<K>) => boolean = () => true): MStep<K> {
  const s = (p.steps as MStep<Step["kind"]>[]).find((x): x is MStep<K> => x.kind === kind && where(x as MStep<K>));
  if (!s) throw new Error(`the base plan has no ${kind} step`);
  return s;
}
const gen = (p: MPlan, scope: string, g: number) =>
  (scope === "root" ? p.after.root.generations : p.after.scopes[scope]!.generations).find((x) => x.gen === g)!;
const codes = (issues: readonly Issue[]) => [...new Set(issues.map((i) => i.code))].sort();

interface Row {
  readonly name: string;
  readonly base: BaseName;
  readonly mutate: (p: MPlan) => void;
  readonly expect: readonly string[];
}

const FAR = "2040-01-01T00:00:00Z";

const ROWS: Row[] = [
  // -- bundles (invariants 1–3, 5) --
  {
    name: "a region bundle that also carries another region's intermediate",
    base: "euAdd",
    mutate: (p) => find(p, "write-bundle", (b) => b.bundle === "eu").members.push({ scope: "us", gen: 1 }),
    expect: ["bundle.definition"],
  },
  {
    name: "a region bundle that leaves out global's intermediate",
    base: "euAdd",
    mutate: (p) => {
      const b = find(p, "write-bundle", (x) => x.bundle === "eu");
      b.members = b.members.filter((m) => m.scope !== "global");
    },
    expect: ["bundle.definition"],
  },
  {
    name: "an eu intermediate whose DNS fence reaches into global's names",
    base: "euAdd",
    mutate: (p) => find(p, "issue-intermediate", (i) => i.scope === "eu").permittedDns.push("svc.global.mesh.example.internal"),
    expect: ["intermediate.fence-overlap", "intermediate.unconstrained"],
  },
  {
    name: "a mesh bundle that carries the root",
    base: "euAdd",
    mutate: (p) => find(p, "write-bundle", (b) => b.bundle === "eu").members.unshift({ scope: "root", gen: 1 }),
    expect: ["bundle.definition"],
  },
  {
    name: "a recovery that keeps the revoked intermediate in the region bundle",
    base: "usRecover",
    mutate: (p) => find(p, "write-bundle", (b) => b.bundle === "us").members.unshift({ scope: "us", gen: 1 }),
    expect: ["bundle.definition"],
  },
  {
    name: "a rotation that publishes the new generation in eu.pem but not in global.pem",
    base: "euRotate",
    mutate: (p) => {
      const b = find(p, "write-bundle", (x) => x.bundle === "global");
      b.members = b.members.filter((m) => !(m.scope === "eu" && m.gen === 2));
    },
    expect: ["bundle.definition"],
  },
  {
    name: "a recovery that drops the write of the region bundle, leaving the revoked intermediate published",
    base: "usRecover",
    mutate: (p) => {
      p.steps = p.steps.filter((s) => !(s.kind === "write-bundle" && s.bundle === "us"));
    },
    expect: ["bundle.definition"],
  },

  // -- issuing (invariant 4) --
  {
    name: "a leaf signed by the retiring generation",
    base: "euPromote",
    mutate: (p) => {
      find(p, "issue-leaf").gen = 1;
    },
    expect: ["leaf.issuer-not-active"],
  },
  {
    name: "a leaf signed by the prepared generation before it is active",
    base: "euDueWhilePrepared",
    mutate: (p) => {
      find(p, "issue-leaf").gen = 2;
    },
    expect: ["leaf.issuer-not-active"],
  },
  {
    name: "a leaf signed by a generation that does not exist",
    base: "euMint",
    mutate: (p) => {
      find(p, "issue-leaf").gen = 9;
    },
    expect: ["leaf.issuer-not-active"],
  },
  {
    name: "a leaf step that outlives its issuer",
    base: "euMint",
    mutate: (p) => {
      find(p, "issue-leaf").notAfter = FAR;
    },
    expect: ["validity.outlives-issuer"],
  },
  {
    name: "a leaf step that starts before its issuer",
    base: "euMint",
    mutate: (p) => {
      find(p, "issue-leaf").notBefore = "2020-01-01T00:00:00Z";
    },
    expect: ["validity.outlives-issuer"],
  },
  {
    name: "a leaf record in the resulting state that outlives its issuer",
    base: "euMint",
    mutate: (p) => {
      p.after.leaves.eu!.leaves["payments" as never]!.notAfter = FAR;
    },
    expect: ["validity.outlives-issuer"],
  },
  {
    name: "an intermediate that outlives the root",
    base: "euAdd",
    mutate: (p) => {
      find(p, "issue-intermediate").notAfter = FAR;
    },
    expect: ["validity.outlives-issuer"],
  },
  {
    name: "an intermediate record that outlives the root",
    base: "euAdd",
    mutate: (p) => {
      gen(p, "eu", 1).notAfter = FAR;
    },
    expect: ["validity.outlives-issuer"],
  },
  {
    name: "a cross-signed root that outlives the old root",
    base: "rootRotate",
    mutate: (p) => {
      find(p, "cross-sign-root").notAfter = FAR;
    },
    expect: ["validity.outlives-issuer"],
  },
  {
    name: "an intermediate signed by a root that is not the active one",
    base: "euAdd",
    mutate: (p) => {
      find(p, "issue-intermediate").rootGen = 2;
    },
    expect: ["intermediate.issuer-not-active"],
  },
  {
    name: "two active intermediates in one scope",
    base: "euRotate",
    mutate: (p) => {
      gen(p, "eu", 2).state = "active";
    },
    expect: ["intermediate.active-count"],
  },
  {
    name: "no active intermediate in a scope",
    base: "euRotate",
    mutate: (p) => {
      gen(p, "eu", 1).state = "retiring";
    },
    expect: ["intermediate.active-count"],
  },
  {
    name: "two prepared intermediates in one scope",
    base: "euRotate",
    mutate: (p) => {
      p.after.scopes.eu!.generations.push({ ...gen(p, "eu", 2), gen: 3 });
    },
    // The third generation is also live, so eu.pem and global.pem no longer match their steps.
    expect: ["bundle.definition", "intermediate.prepared-count"],
  },
  {
    name: "a scope that lists one generation twice",
    base: "euRotate",
    mutate: (p) => {
      gen(p, "eu", 2).gen = 1;
    },
    expect: ["bundle.definition", "intermediate.duplicate-gen"],
  },
  {
    name: "two active roots",
    base: "rootRotate",
    mutate: (p) => {
      gen(p, "root", 1).state = "active";
    },
    expect: ["root.active-count"],
  },
  {
    name: "an intermediate naming a root that does not exist",
    base: "euAdd",
    mutate: (p) => {
      gen(p, "eu", 1).issuer = 7;
    },
    expect: ["intermediate.issuer-missing"],
  },
  {
    name: "a live intermediate under a retired root",
    base: "rootFinish",
    mutate: (p) => {
      gen(p, "eu", 3).issuer = 1;
    },
    expect: ["intermediate.issuer-not-live"],
  },
  {
    name: "a leaf record naming a generation that does not exist",
    base: "euMint",
    mutate: (p) => {
      p.after.leaves.eu!.leaves["ledger" as never]!.gen = 9;
    },
    expect: ["leaf.issuer-missing"],
  },
  {
    name: "a leaf record signed by a retired generation",
    base: "euRetire",
    mutate: (p) => {
      p.after.leaves.eu!.leaves["ledger" as never]!.gen = 1;
    },
    expect: ["leaf.issuer-retired"],
  },
  {
    name: "a scope file that names another scope",
    base: "euAdd",
    mutate: (p) => {
      p.after.scopes.eu!.scope = "us" as never;
    },
    expect: ["scope.name-mismatch"],
  },
  {
    name: "an intermediate step without DNS name constraints",
    base: "euAdd",
    mutate: (p) => {
      find(p, "issue-intermediate").permittedDns = [];
    },
    expect: ["intermediate.unconstrained"],
  },
  {
    name: "an intermediate step without URI name constraints in a dns+uri tree (an old tree: no mode in pki.json)",
    base: "euAdd",
    mutate: (p) => {
      delete p.after.config!.nameConstraints;
      find(p, "issue-intermediate").permittedUriHosts = [];
    },
    expect: ["intermediate.unconstrained"],
  },
  {
    // Invariant 4: constraints permit only the scope's names. A constraint on the mesh domain
    // permits every region's names, so a leaked eu key could mint us certificates.
    name: "an intermediate step whose DNS constraint permits the whole mesh domain",
    base: "euAdd",
    mutate: (p) => {
      find(p, "issue-intermediate").permittedDns = [DOMAIN];
    },
    expect: ["intermediate.unconstrained"],
  },
  {
    name: "an intermediate step whose URI constraint permits another region's trust domain",
    base: "euAdd",
    mutate: (p) => {
      find(p, "issue-intermediate").permittedUriHosts = [`us.${DOMAIN}`];
    },
    expect: ["intermediate.unconstrained"],
  },

  // -- revocation (invariant 5) --
  {
    name: "a revoked generation absent from the CRL",
    base: "usRecover",
    mutate: (p) => {
      p.after.root.crl.revoked = [];
    },
    expect: ["revoked.not-on-crl"],
  },
  {
    name: "a recovery that revokes but never re-signs the CRL",
    base: "usRecover",
    mutate: (p) => {
      p.steps = p.steps.filter((s) => s.kind !== "sign-crl");
    },
    expect: ["revoked.not-on-crl"],
  },
  {
    name: "a CRL whose nextUpdate is not after its thisUpdate",
    base: "usRecover",
    mutate: (p) => {
      const c = find(p, "sign-crl");
      c.nextUpdate = c.thisUpdate;
    },
    expect: ["crl.empty-window"],
  },
  {
    name: "a scope CRL signed by a generation that signs nothing (retired)",
    base: "euPromote",
    mutate: (p) => {
      find(p, "sign-scope-crl").gens = [1, 2, 3];
    },
    expect: ["crl.signer-not-live"],
  },
  {
    name: "a scope CRL whose nextUpdate is not after its thisUpdate",
    base: "euMint",
    mutate: (p) => {
      const c = find(p, "sign-scope-crl");
      c.nextUpdate = c.thisUpdate;
    },
    expect: ["crl.empty-window"],
  },
  {
    name: "a scope CRL that lists a leaf the state does not revoke",
    base: "euMint",
    mutate: (p) => {
      find(p, "sign-scope-crl").revoked = [{ service: "payments", gen: 1, serial: "0a", reason: "superseded" }];
    },
    expect: ["revoked.not-on-crl"],
  },
  {
    name: "a root with an empty validity",
    base: "init",
    mutate: (p) => {
      const c = find(p, "create-root");
      c.notAfter = c.notBefore;
    },
    expect: ["validity.empty"],
  },

  // -- identities (postures) --
  {
    name: "an issue-leaf step that asks for the root identity",
    base: "euMint",
    mutate: (p) => {
      find(p, "issue-leaf").identity = "root";
    },
    expect: ["step.identity"],
  },
  {
    name: "an issue-leaf step that asks for no identity though its issuer's key is on disk",
    base: "euMint",
    mutate: (p) => {
      find(p, "issue-leaf").identity = null;
    },
    expect: ["step.identity"],
  },
  {
    name: "an issue-intermediate step that asks for the CI identity",
    base: "euAdd",
    mutate: (p) => {
      find(p, "issue-intermediate").identity = "ci";
    },
    expect: ["step.identity"],
  },
  {
    name: "an issue-intermediate step that asks for no identity though the root was not created in this plan",
    base: "euAdd",
    mutate: (p) => {
      find(p, "issue-intermediate").identity = null;
    },
    expect: ["step.identity"],
  },
  {
    name: "a sign-crl step that asks for no identity though the root was not created in this plan",
    base: "usRecover",
    mutate: (p) => {
      find(p, "sign-crl").identity = null;
    },
    expect: ["step.identity"],
  },
  {
    name: "a sign-scope-crl step that asks for no identity though its intermediate's key is on disk",
    base: "euMint",
    mutate: (p) => {
      find(p, "sign-scope-crl").identity = null;
    },
    expect: ["step.identity"],
  },
  {
    name: "a sign-scope-crl step that asks for the root identity",
    base: "euMint",
    mutate: (p) => {
      find(p, "sign-scope-crl").identity = "root";
    },
    expect: ["step.identity"],
  },
  {
    name: "a scope CRL that writes another region's CRL file",
    base: "euMint",
    mutate: (p) => {
      const c = find(p, "sign-scope-crl");
      c.scope = "us";
      c.writes = ["crl/us.crl.pem"];
    },
    expect: ["write.foreign-region"],
  },
  {
    name: "a cross-sign step that asks for no identity",
    base: "rootRotate",
    mutate: (p) => {
      find(p, "cross-sign-root").identity = null;
    },
    expect: ["step.identity"],
  },
  {
    name: "a write-bundle step that asks for the root identity",
    base: "euAdd",
    mutate: (p) => {
      find(p, "write-bundle").identity = "root";
    },
    expect: ["step.identity"],
  },

  // -- writes (invariant 2, and the pki directory as the only place written) --
  {
    name: "a plan for eu that writes a leaf file of us",
    base: "euMint",
    mutate: (p) => find(p, "issue-leaf").writes.push("leaves/us/x"),
    expect: ["write.foreign-region"],
  },
  {
    name: "a plan for eu that writes us's scope file",
    base: "euAdd",
    mutate: (p) => find(p, "write-state").writes.push("scopes/us/scope.json"),
    expect: ["write.foreign-region"],
  },
  {
    name: "a plan for eu that writes us.pem",
    base: "euAdd",
    mutate: (p) => find(p, "write-bundle").writes.push("bundles/us.pem"),
    expect: ["write.foreign-region"],
  },
  {
    name: "a plan for us that writes an eu file",
    base: "usRecover",
    mutate: (p) => find(p, "write-state").writes.push("scopes/eu/scope.json"),
    expect: ["write.foreign-region"],
  },
  {
    // lib/apply writes the paths it derives from the step's scope and service, not `writes`:
    // a step for another region with local-looking `writes` still writes that region's files.
    name: "a plan for eu with an issue-leaf step for us whose declared writes look local",
    base: "euMint",
    mutate: (p) => {
      find(p, "issue-leaf", (l) => l.service === "payments").scope = "us";
    },
    // The names are eu's, so the us fence refuses them too.
    expect: ["leaf.foreign-name", "leaf.outside-constraints", "write.foreign-region", "write.undeclared"],
  },
  {
    name: "an eu leaf that also carries a us DNS name",
    base: "euMint",
    mutate: (p) => find(p, "issue-leaf", (l) => l.service === "payments").dns.push("payments.us.mesh.example.internal"),
    expect: ["leaf.foreign-name", "leaf.outside-constraints"],
  },
  {
    name: "an eu leaf whose SPIFFE ID is in the us trust domain",
    base: "euMint",
    mutate: (p) => { find(p, "issue-leaf", (l) => l.service === "payments").uris = ["spiffe://us.mesh.example.internal/svc/payments"]; },
    expect: ["leaf.foreign-name"],
  },
  {
    // Inside the trust domain, but another service's ID; the record has no names (today's): only
    // the comparison with today's names catches it.
    name: "an eu leaf without recorded names whose SPIFFE ID is another service's",
    base: "euMint",
    mutate: (p) => { find(p, "issue-leaf", (l) => l.service === "payments").uris = ["spiffe://eu.mesh.example.internal/svc/ledger"]; },
    expect: ["leaf.foreign-name"],
  },
  {
    // Same count of names, all inside the fence and the trust domain: only the record differs.
    name: "an eu leaf whose recorded names name another service",
    base: "euMint",
    mutate: (p) => {
      const l = find(p, "issue-leaf", (x) => x.service === "payments");
      (p.after.leaves.eu!.leaves as Record<string, { names?: string[] }>)[l.service]!.names = [l.dns[0]!, "spiffe://eu.mesh.example.internal/svc/ledger"];
    },
    expect: ["leaf.foreign-name"],
  },
  {
    name: "a plan for eu with a write-bundle step for us.pem that declares no writes",
    base: "euRotate",
    mutate: (p) => {
      // us.pem with exactly its current members: apply would still rewrite bundles/us.pem.
      p.steps.push({
        kind: "write-bundle", origin: p.steps[0]!.origin, identity: null, bundle: "us",
        members: [{ scope: "us", gen: 1 }, { scope: "global", gen: 1 }], enter: [], leave: [], writes: [],
      });
    },
    expect: ["write.foreign-region", "write.undeclared"],
  },
  {
    name: "a write path that climbs out with ..",
    base: "euMint",
    mutate: (p) => find(p, "issue-leaf").writes.push("leaves/eu/../../../etc/passwd"),
    expect: ["write.outside"],
  },
  {
    name: "an absolute write path",
    base: "rootRotate",
    mutate: (p) => find(p, "create-root").writes.push("/etc/passwd"),
    expect: ["write.outside"],
  },
];

// ---- the tests -----------------------------------------------------------------------------

for (const [name, p] of Object.entries(BASES)) {
  test(`the unbroken ${name} plan passes the checker`, () => {
    assert.equal(checkPlan(p), []);
  });
}

for (const row of ROWS) {
  test(`${row.name} is reported as ${row.expect.join(", ")}`, () => {
    const p = clone(BASES[row.base]);
    row.mutate(p);
    const issues = checkPlan(p as unknown as Plan);
    assert.equal(codes(issues), [...row.expect].sort(), issues.map((i) => `[${i.code}] ${i.message}`).join("\n") || "no issues");
  });
}

test("every step issue names its step number and the runbook line of that step", () => {
  const p = clone(BASES.euMint);
  const n = p.steps.findIndex((s) => s.kind === "issue-leaf");
  (p.steps[n] as MStep<"issue-leaf">).identity = "root";
  const [issue, ...rest] = checkPlan(p as unknown as Plan);
  assert.is(rest.length, 0);
  assert.is(issue!.step, n + 1);
  assert.is(issue!.origin, BASES.euMint.steps[n]!.origin);
  assert.match(issue!.origin!, /check\.test\.ts:\d+$/);
  assert.match(issue!.message, /root/);
});

test("a state issue carries the origin of the plan's first intent and no step number", () => {
  const p = clone(BASES.usRecover);
  p.after.root.crl.revoked = [];
  const [issue] = checkPlan(p as unknown as Plan);
  assert.is(issue!.code, "revoked.not-on-crl");
  assert.is(issue!.step, undefined);
  assert.is(issue!.origin, BASES.usRecover.intents[0]!.origin);
  assert.match(issue!.message, /us G1/);
});

test("the checker collects every issue of a plan instead of stopping at the first", () => {
  const p = clone(BASES.euAdd);
  find(p, "issue-intermediate").permittedDns = [];
  find(p, "write-bundle").identity = "ci";
  find(p, "write-state").writes.push("../outside");
  gen(p, "eu", 1).issuer = 7;
  assert.equal(codes(checkPlan(p as unknown as Plan)), ["intermediate.issuer-missing", "intermediate.unconstrained", "step.identity", "write.outside"]);
});

test("checking does not change the plan", () => {
  const p = clone(BASES.usRecover);
  find(p, "sign-crl").identity = null;
  const copy = structuredClone(p);
  checkPlan(p as unknown as Plan);
  assert.equal(p, copy);
});

test("assertChecked returns the very plan it was given when it is clean", () => {
  for (const p of Object.values(BASES)) assert.is(assertChecked(p), p);
});

test("assertChecked throws one CheckError listing every issue, with codes, steps and origins", () => {
  const p = clone(BASES.euAdd);
  find(p, "issue-intermediate").permittedDns = [];
  find(p, "write-bundle", (b) => b.bundle === "eu").members.push({ scope: "us", gen: 1 });
  const expected = checkPlan(p as unknown as Plan);
  assert.is(expected.length, 2);
  try {
    assertChecked(p as unknown as Plan);
  } catch (e) {
    assert.instance(e, CheckError);
    const err = e as CheckError;
    assert.equal(err.issues, expected);
    assert.match(err.message, /2 trust invariant/);
    assert.match(err.message, /nothing was applied/);
    for (const i of expected) {
      assert.ok(err.message.includes(`[${i.code}]`), `${i.code} missing from:\n${err.message}`);
      assert.ok(err.message.includes(`step ${i.step}`), `step ${i.step} missing from:\n${err.message}`);
      assert.ok(err.message.includes(i.origin!), `${i.origin} missing from:\n${err.message}`);
    }
    return;
  }
  assert.unreachable("a broken plan was accepted");
});

// ---- checkState on its own (what `pki verify` runs) ---------------------------------------------

test("every state of a whole lifecycle passes checkState", () => {
  const { plans, final } = lifecycle();
  for (const [name, p] of Object.entries(plans)) assert.equal(checkState(applyFake(p)), [], name);
  assert.equal(checkState(final), []);
});

test("checkState reports scopes without a root", () => {
  const s = withScopes();
  s.root.generations = [];
  const c = codes(checkState(s));
  assert.ok(c.includes("root.missing"), c.join(", "));
});

test("mesh issuers: issuing and rotating one passes checkState; two active generations or a missing fence are reported", () => {
  const issued = step(region("eu").issuer("istio").add(), established(), after(T0, HOUR));
  assert.equal(checkState(issued), []);
  const rotated = step(region("eu").issuer("istio").rotate(), issued, after(T0, 2 * HOUR));
  assert.equal(checkState(rotated), []);
  const promoted = step(region("eu").leaves().renew(), rotated, after(T0, 2 * DAY));
  assert.equal(promoted.scopes.eu!.issuers!.istio!.map((g) => g.state), ["retiring", "active"]);
  assert.equal(checkState(promoted), []);
  const broken = structuredClone(promoted) as Snapshot & { scopes: Record<string, { issuers: Record<string, { state: string; permittedDns?: string[] }[]> }> };
  broken.scopes.eu!.issuers.istio![0]!.state = "active";
  delete broken.scopes.eu!.issuers.istio![1]!.permittedDns;
  assert.equal(codes(checkState(broken)), ["issuer.active-count", "issuer.unconstrained"]);
});

test("pendingWork lists the leaves of a revoked issuer and expired leaves, which renewal then clears", () => {
  const recovered = step(region("eu").intermediate().recover(), established(), after(T0, DAY));
  const pending = pendingWork(recovered, after(T0, DAY).getTime());
  assert.equal(codes(pending), ["leaf.issuer-revoked"]);
  assert.is(pending.length, 2);
  const renewed: Snapshot = step(region("eu").leaves().renew(), recovered, after(T0, DAY + HOUR));
  assert.equal(pendingWork(renewed, after(T0, DAY + HOUR).getTime()), []);
  const late = after(T0, 8 * DAY).getTime();
  assert.equal(codes(pendingWork(established(), late)), ["leaf.expired"]);
  assert.ok(pendingWork(established(), late).every((i) => i.message.includes(iso(T0.getTime() - 5 * 60_000 + 7 * DAY))));
});

test("a root overlap finished early is refused by the planner before the checker sees it", () => {
  // The checker trusts the planner for lifecycle order; make sure the planner holds that line.
  const rotated = step(root().rotate(), established(), after(T0, DAY));
  assert.throws(() => planAt(root().finish(), rotated, after(T0, DAY + HOUR)), /cannot finish/);
});

test.run();
