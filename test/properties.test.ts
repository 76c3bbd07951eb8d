// Property-based tests (fast-check): random sequences of operations — add a region, renew,
// rotate an intermediate, rotate the root, finish the overlap, recover, sign a CSR, re-sign the
// CRL, advance the clock by hours or days — keep every invariant after every step. Through the
// planner only (pure, with a fake apply that fills in serials: fast), then a few sequences
// through the real CLI with `pki verify` after each step.
//
// Seeded and printed; INFORGE_PROPERTY_SEED replays, INFORGE_PROPERTY_RUNS sets the number of
// planner sequences (default 150), INFORGE_PROPERTY_CLI_RUNS the CLI ones (default 2).
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { join } from "node:path";
import { all, global, region, root, scope } from "../lib/dsl/mod.ts";
import type { Intent } from "../lib/dsl/intent.ts";
import { InputError } from "../lib/errors.ts";
import { checkPlan } from "../lib/check/check-plan.ts";
import { checkState } from "../lib/check/check-state.ts";
import { untrustedFingerprints } from "../lib/check/verify-rules.ts";
import { expectedCrls } from "../lib/check/crl-rules.ts";
import { bundleMembers, bundleNames } from "../lib/model/bundles.ts";
import { parseService } from "../lib/model/names.ts";
import { EMPTY_SNAPSHOT, LIVE, type GenState, type Snapshot, type Topology } from "../lib/model/state.ts";
import { plan } from "../lib/plan/planner.ts";
import { cli, sandbox } from "./helpers.ts";
import { assertNoPlaintextKeys, errorCodesButExpiredLeaves, findingsOf, seedFrom, verify } from "./safety-helpers.ts";

const seed = seedFrom("INFORGE_PROPERTY_SEED", "properties");
const RUNS = Number(process.env.INFORGE_PROPERTY_RUNS ?? 150);
const CLI_RUNS = Number(process.env.INFORGE_PROPERTY_CLI_RUNS ?? 2);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse("2026-01-01T00:00:00Z");
const SERVICES: Record<string, string[]> = { global: ["auth"], eu: ["payments", "ledger"], us: ["payments"], ap: ["search", "payments"] };
const SCOPES = Object.keys(SERVICES);
const DOMAIN = "mesh.test";

type Op =
  | { op: "add"; scope: string }
  | { op: "renew"; scope: string | "all" }
  | { op: "rotate"; scope: string; force: boolean }
  | { op: "recover"; scope: string }
  | { op: "leaf"; scope: string; service: string }
  | { op: "csr"; scope: string; service: string }
  | { op: "rotate-root" }
  | { op: "finish-root" }
  | { op: "crl" }
  | { op: "advance"; ms: number };

const scopeArb = fc.constantFrom(...SCOPES);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: scopeArb.map((s) => ({ op: "add" as const, scope: s })) },
  { weight: 4, arbitrary: fc.oneof(scopeArb, fc.constant("all")).map((s) => ({ op: "renew" as const, scope: s })) },
  { weight: 2, arbitrary: fc.record({ scope: scopeArb, force: fc.boolean() }).map((r) => ({ op: "rotate" as const, ...r })) },
  { weight: 1, arbitrary: scopeArb.map((s) => ({ op: "recover" as const, scope: s })) },
  { weight: 1, arbitrary: scopeArb.chain((s) => fc.constantFrom(...SERVICES[s]!).map((svc) => ({ op: "leaf" as const, scope: s, service: svc }))) },
  { weight: 1, arbitrary: scopeArb.chain((s) => fc.constantFrom(...SERVICES[s]!).map((svc) => ({ op: "csr" as const, scope: s, service: svc }))) },
  { weight: 1, arbitrary: fc.constant({ op: "rotate-root" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "finish-root" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "crl" as const }) },
  { weight: 4, arbitrary: fc.oneof(fc.integer({ min: 1, max: 72 }).map((h) => h * HOUR), fc.integer({ min: 1, max: 400 }).map((d) => d * DAY)).map((ms) => ({ op: "advance" as const, ms })) },
);

/** The intents of an op (null for a clock step), and the topology it needs declared. */
function intentsOf(o: Op): Intent | null {
  const sc = (s: string) => (s === "global" ? global() : region(s));
  switch (o.op) {
    case "add": return sc(o.scope).add();
    case "renew": return o.scope === "all" ? all().leaves().renew() : scope(o.scope).leaves().renew();
    case "rotate": return sc(o.scope).intermediate().rotate({ force: o.force });
    case "recover": return sc(o.scope).intermediate().recover();
    case "leaf": return sc(o.scope).service(o.service).leaf().rotate();
    case "csr": {
      const name = `${o.service}.${o.scope}.${DOMAIN}`;
      return sc(o.scope).service(o.service).leaf().signCsr({ publicKey: "AAAA", key: "", commonNames: [name], dns: [name], uris: [`spiffe://${o.scope}.${DOMAIN}/svc/${o.service}`], other: [] });
    }
    case "rotate-root": return root().rotate();
    case "finish-root": return root().finish();
    case "crl": return root().crl();
    case "advance": return null;
  }
}

let serial = 0;
/** What applying a plan records: `after` with the serials and fingerprints a real apply fills in. */
function applyFake(after: Snapshot): Snapshot {
  const s = structuredClone(after) as Snapshot & { root: { crossSigned?: { fingerprint: string } | null } };
  const fill = (x: { serial: string; fingerprint: string }) => {
    if (!x.serial) x.serial = (++serial).toString(16).padStart(4, "0");
    if (!x.fingerprint) x.fingerprint = x.serial.padStart(64, "0");
  };
  s.root.generations.forEach(fill);
  for (const sf of Object.values(s.scopes)) sf.generations.forEach(fill);
  for (const idx of Object.values(s.leaves)) {
    Object.values(idx.leaves).forEach(fill);
    Object.values(idx.csr ?? {}).forEach(fill);
  }
  for (const r of s.root.crl.revoked) if (!r.serial) r.serial = s.scopes[r.scope]?.generations.find((g) => g.gen === r.gen)?.serial ?? "";
  if (s.root.crossSigned && !s.root.crossSigned.fingerprint) s.root.crossSigned.fingerprint = (++serial).toString(16).padStart(64, "0");
  return s;
}

const ALLOWED: Record<GenState, readonly GenState[]> = {
  prepared: ["prepared", "active", "revoked"],
  active: ["active", "retiring", "revoked"],
  retiring: ["retiring", "retired", "revoked"],
  retired: ["retired"],
  revoked: ["revoked"],
};

/** Invariants across one step, beyond checkState: lifecycles only move forward, trust is published before use, revocations stick. */
function stepInvariants(before: Snapshot, after: Snapshot, now: number, propagation: number): string[] {
  const out: string[] = [];
  const gens = (s: Snapshot) => [
    ...s.root.generations.map((g) => ({ key: `root/G${g.gen}`, g })),
    ...Object.entries(s.scopes).flatMap(([sc, sf]) => sf.generations.map((g) => ({ key: `${sc}/G${g.gen}`, g }))),
  ];
  const was = new Map(gens(before).map((x) => [x.key, x.g]));
  for (const { key, g } of gens(after)) {
    const w = was.get(key);
    // An active generation that has expired is replaced at once (rotate --intermediate): active → retired, only then.
    const expiredRetire = w?.state === "active" && g.state === "retired" && Date.parse(w.notAfter) <= now;
    if (w && !ALLOWED[w.state].includes(g.state) && !expiredRetire) out.push(`${key} went ${w.state} → ${g.state}`);
    if (w && w.serial && g.serial !== w.serial) out.push(`${key} changed its serial`);
    // Publish before use: a generation promoted from prepared was in the bundles for the propagation delay.
    if (w?.state === "prepared" && g.state === "active" && now - Date.parse(w.since) < propagation) out.push(`${key} became active ${(now - Date.parse(w.since)) / HOUR} h after it was published`);
  }
  for (const r of before.root.crl.revoked) {
    if (!after.root.crl.revoked.some((x) => x.scope === r.scope && x.gen === r.gen)) out.push(`${r.scope}/G${r.gen} left the CRL`);
  }
  // No bundle carries a revoked or retired generation; every CRL lists exactly its revoked intermediates.
  const dead = untrustedFingerprints(after);
  for (const name of bundleNames(after)) {
    for (const m of bundleMembers(after, name)) {
      const g = (m.scope === "root" ? after.root.generations : after.scopes[m.scope]!.generations).find((x) => x.gen === m.gen)!;
      if (dead.has(g.fingerprint) || !LIVE.has(g.state)) out.push(`bundle ${name} carries ${m.scope} G${m.gen} (${g.state})`);
    }
  }
  const listed = new Set(after.root.crl.revoked.map((r) => r.serial.replace(/^0+/, "")));
  for (const c of expectedCrls(after)) for (const s of c.serials) if (!listed.has(s)) out.push(`revoked serial ${s} is not on the CRL list`);
  return out;
}

interface Outcome {
  planned: number;
  refused: number;
  steps: number;
}

/** Run one sequence through the planner; throws on the first broken invariant or non-InputError. */
function runSequence(ops: readonly Op[], tally: Outcome): void {
  let state: Snapshot = EMPTY_SNAPSHOT;
  let now = T0;
  const declared = new Set<string>();
  const topology = (): Topology => ({ scopes: Object.fromEntries([...declared].map((s) => [s, { services: SERVICES[s]!.map((x) => parseService(x)) }])) });
  const steps: Op[] = [{ op: "add", scope: "global" }, ...ops];
  const init = plan([root().init({ name: "prop mesh", domain: DOMAIN, ciRecipient: "age1" + "q".repeat(58) })], state, topology(), new Date(now));
  assert.equal(checkPlan(init), []);
  state = applyFake(init.after);
  for (const [n, o] of steps.entries()) {
    tally.steps++;
    if (o.op === "advance") {
      now += o.ms;
      continue;
    }
    if (o.op === "add") declared.add(o.scope); // adding a region starts with its region file
    const intent = intentsOf(o)!;
    let p;
    try {
      p = plan([intent], state, topology(), new Date(now));
    } catch (e) {
      if (e instanceof InputError) {
        tally.refused++;
        continue;
      }
      throw new Error(`step ${n} ${JSON.stringify(o)} threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
    const issues = checkPlan(p);
    assert.equal(issues, [], `step ${n} ${JSON.stringify(o)}: the plan breaks invariants: ${issues.map((i) => `[${i.code}] ${i.message}`).join("; ")}`);
    const next = applyFake(p.after);
    const bad = checkState(next);
    assert.equal(bad, [], `step ${n} ${JSON.stringify(o)}: the state breaks invariants: ${bad.map((i) => `[${i.code}] ${i.message}`).join("; ")}`);
    const propagation = 24 * HOUR; // pki.json default
    const broken = stepInvariants(state, next, now, propagation);
    assert.equal(broken, [], `step ${n} ${JSON.stringify(o)} at +${(now - T0) / DAY} days: ${broken.join("; ")}`);
    state = next;
    tally.planned++;
  }
}

test(`random operation sequences through the planner keep every invariant after every step (${RUNS} sequences)`, () => {
  const tally: Outcome = { planned: 0, refused: 0, steps: 0 };
  const r = fc.check(fc.property(fc.array(opArb, { minLength: 1, maxLength: 40, size: "max" }), (ops) => runSequence(ops, tally)), { seed, numRuns: RUNS });
  if (r.failed) assert.unreachable(`${fc.defaultReportMessage(r)}\nthe failure: ${(r.errorInstance as Error)?.message}`);
  console.log(`properties: ${RUNS} planner sequences, ${tally.steps} steps: ${tally.planned} plans checked and applied, ${tally.refused} refused with an InputError`);
  assert.ok(tally.planned > RUNS, "too few operations were plannable for the test to mean much");
});

test("a root rotation walked to its end through the planner: prepare, promote, retire, finish", () => {
  // A directed sequence the random one may rarely complete: the whole dual-root overlap.
  const ops: Op[] = [
    { op: "add", scope: "eu" }, { op: "renew", scope: "all" }, { op: "rotate-root" }, { op: "finish-root" },
    { op: "advance", ms: 2 * DAY }, { op: "renew", scope: "all" }, { op: "advance", ms: 9 * DAY }, { op: "renew", scope: "all" }, { op: "finish-root" },
  ];
  const tally: Outcome = { planned: 0, refused: 0, steps: 0 };
  runSequence(ops, tally);
  assert.is(tally.refused, 1, "only the early finish is refused");
});

// Through the real CLI: fewer and shorter, each step followed by `pki verify` with both identities.
const CLI_OPS = fc.array(fc.oneof(
  fc.constantFrom<Op>({ op: "renew", scope: "all" }, { op: "rotate", scope: "eu", force: false }, { op: "recover", scope: "eu" }, { op: "leaf", scope: "eu", service: "payments" }, { op: "rotate-root" }, { op: "finish-root" }, { op: "crl" }),
  fc.integer({ min: 1, max: 10 }).map((d) => ({ op: "advance" as const, ms: d * DAY })),
), { minLength: 3, maxLength: 8, size: "max" });

function argvOf(o: Op): string[] | null {
  switch (o.op) {
    case "renew": return ["pki", "renew"];
    case "rotate": return ["pki", "rotate", "--intermediate", o.scope];
    case "recover": return ["pki", "recover-intermediate", o.scope];
    case "leaf": return ["pki", "rotate", "--leaf", o.service, "--region", o.scope];
    case "rotate-root": return ["pki", "rotate", "--root"];
    case "finish-root": return ["pki", "rotate", "--root", "--finish"];
    case "crl": return ["pki", "crl"];
    default: return null;
  }
}

test(`random sequences through the real CLI pass pki verify after every step (${CLI_RUNS} sequences)`, async () => {
  const samples = fc.sample(CLI_OPS, { seed, numRuns: CLI_RUNS });
  let steps = 0;
  for (const ops of samples) {
    const sb = sandbox({ global: ["auth"], eu: ["payments", "ledger"] });
    let now = T0;
    const env = () => sb.env({ INFORGE_SECRETS_KEY: sb.ciKey, INFORGE_PKI_ROOT_KEY: sb.rootKey, INFORGE_NOW: new Date(now).toISOString() });
    const must = async (argv: string[], e = env()) => {
      const r = await cli(argv, e);
      assert.is(r.code, 0, `${argv.join(" ")}: ${r.err}`);
    };
    await must(["pki", "init", "--domain", DOMAIN, "--identity-out", sb.rootKey], { ...env(), INFORGE_PKI_ROOT_KEY: undefined });
    for (const s of ["global", "eu"]) await must(["pki", "intermediate", s]);
    await must(["pki", "renew"]);
    for (const o of ops) {
      if (o.op === "advance") {
        now += o.ms;
        continue;
      }
      const argv = argvOf(o)!;
      const r = await cli(argv, env());
      // A refusal is one line and changes nothing; anything else must leave a tree that verifies.
      if (r.code !== 0) assert.not.match(r.err, /unexpected error/, `${argv.join(" ")}: ${r.err}`);
      const v = await verify(join(sb.dir), env(), new Date(now).toISOString());
      assert.equal(errorCodesButExpiredLeaves(v.report), [], `after ${argv.join(" ")} (${JSON.stringify(ops)}):\n${findingsOf(v.report)}`);
      steps++;
    }
    assertNoPlaintextKeys(sb.dir);
  }
  console.log(`properties: ${CLI_RUNS} CLI sequences, ${steps} commands, pki verify clean after each`);
});

test.run();
