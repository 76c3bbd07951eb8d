// The lifecycle simulation of the runbooks issue: the PKI's life driven through the real CLI with a
// simulated clock (--at) — a daily CI renew, a planned intermediate rotation per scope each quarter,
// one root rotation with its dual-root overlap, one compromise recovery. After every step it checks
// the state invariants, every chain a consumer relies on with the bundles and leaves deployed just
// before the step, just after it, and one propagation delay earlier, root anchoring (and the
// cross-signed root for old-root-only consumers), the CRL and revocation, and, on a seeded sample
// of steps, real openssl mTLS handshakes at the simulated time.
//
// By default one cycle of every event in 140 simulated days (~15 s on 2 cores); the full two years
// and a bit take 60–75 s, so they run on request:
//   INFORGE_SIM_FULL=1           the full schedule (800 days: two years and a bit)
//   INFORGE_SIM_SEED=<n>         replay the handshake sample of an earlier run (the seed is printed)
//   INFORGE_SIM_HANDSHAKES=<n>   handshake sample size (default 6 steps; "all" for every step)
//   INFORGE_SIM_KEEP_GOING=1     record failures and go on to the end instead of stopping at the first
//   INFORGE_SIM_VERIFY=1         also run inforge pki verify and pki status --check after every step
//   INFORGE_SIM_SCHEDULE=<json>  override fields of the schedule (days, offsets, rootDay, recoverDay)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkState } from "../lib/check/check-state.ts";
import type { Snapshot } from "../lib/model/state.ts";
import { FsStore } from "../lib/store/fs-store.ts";
import { readSnapshot } from "../lib/store/snapshot.ts";
import { parseCrl } from "../lib/x509/mod.ts";
import { ciEnv, cli, plaintextKeys, rootEnv, sandbox, treeHash, type CliResult } from "./helpers.ts";
import {
  DAY, HOUR, anchorOf, capture, cert, certs, crlBlocks, isoAt, issuedBy, openKey, opensslHandshake, opensslVerifyAt, rng, validAt,
  type Deployed, type LeafCopy,
} from "./sim.ts";
import { mtls } from "./tls.ts";

const truthy = (s: string | undefined) => !!s && s !== "0" && s.toLowerCase() !== "false";
const FULL = truthy(process.env.INFORGE_SIM_FULL);
const KEEP_GOING = truthy(process.env.INFORGE_SIM_KEEP_GOING);
const SEED = process.env.INFORGE_SIM_SEED ? Number(process.env.INFORGE_SIM_SEED) >>> 0 : Date.now() % 2 ** 32;
const VERIFY = truthy(process.env.INFORGE_SIM_VERIFY);
const SAMPLE = process.env.INFORGE_SIM_HANDSHAKES === "all" ? Infinity : Number(process.env.INFORGE_SIM_HANDSHAKES ?? 6);
/** pki.json's default propagation delay: how late a consumer may load a new bundle. */
const PROPAGATION = 24 * HOUR;

const REGIONS = { global: ["auth"], eu: ["payments", "checkout"], us: ["payments", "checkout"] } as const;

/** Days count from the start; each event is at a fixed hour of its day. */
interface Schedule {
  readonly name: string;
  readonly days: number;
  readonly quarter: number;
  /** First planned rotation of each scope (staggered so no two scopes roll the same week). */
  readonly offsets: Readonly<Record<string, number>>;
  readonly rootDay: number;
  readonly recoverDay: number;
  readonly recoverScope: keyof typeof REGIONS;
}
// Two years and a bit: 8–9 planned rotations per scope, the root rotation near month 12 (where no
// scope is mid-rotation), the eu recovery near month 18 at a quiet time.
const LONG: Schedule = { name: "full", days: 800, quarter: 91, offsets: { global: 40, eu: 60, us: 80 }, rootDay: 370, recoverDay: 548, recoverScope: "eu" };
// One of each in 140 days: a rotation per scope, the root rotation and its finish, then a second
// round of rotations with the eu recovery four days after eu's own rotation, while its previous
// generation is still retiring.
const SHORT: Schedule = { name: "short", days: 140, quarter: 91, offsets: { global: 10, eu: 20, us: 30 }, rootDay: 60, recoverDay: 115, recoverScope: "eu" };
// The full schedule takes 60–75 s on 2 cores (the CLI's own work is ~75% of it): too long for the
// default suite.
// INFORGE_SIM_SCHEDULE='{"recoverDay":61}' moves events, to explore other orders by hand.
const S: Schedule = { ...(FULL ? LONG : SHORT), ...(process.env.INFORGE_SIM_SCHEDULE ? (JSON.parse(process.env.INFORGE_SIM_SCHEDULE) as Partial<Schedule>) : {}) };

const SCOPES = Object.keys(REGIONS);
const REAL_NOW = Date.now();
// Start far enough back that the simulation ends just before the real now: the final state is
// then valid in real time too, which the last test checks with node:tls.
const START = Math.floor(REAL_NOW / DAY) * DAY - S.days * DAY;
const dayOf = (at: number) => Math.floor((at - START) / DAY);

type Kind = "init" | "add" | "renew" | "rotate-intermediate" | "rotate-root" | "finish-root" | "recover";
interface Event {
  readonly at: number;
  readonly kind: Kind;
  readonly scope?: string;
}

function schedule(): Event[] {
  const ev: Event[] = [{ at: START + 4 * HOUR, kind: "init" }];
  for (const scope of SCOPES) ev.push({ at: START + 4 * HOUR + 10 * 60_000, kind: "add", scope });
  for (let d = 0; d < S.days; d++) ev.push({ at: START + d * DAY + 6 * HOUR, kind: "renew" });
  for (const [scope, first] of Object.entries(S.offsets)) {
    for (let d = first; d < S.days; d += S.quarter) {
      // The root rotation rolls every scope itself: no planned roll just before it or in its overlap.
      if (d >= S.rootDay - 2 && d <= S.rootDay + 14) continue;
      ev.push({ at: START + d * DAY + 5 * HOUR, kind: "rotate-intermediate", scope });
    }
  }
  ev.push({ at: START + S.rootDay * DAY + 5 * HOUR, kind: "rotate-root" });
  ev.push({ at: START + S.recoverDay * DAY + 5 * HOUR, kind: "recover", scope: S.recoverScope });
  // Root-posture work happens before the day's CI renew; nothing is scheduled in the real future.
  return ev.filter((e) => e.at <= REAL_NOW - 60_000).sort((a, b) => a.at - b.at);
}

function argvOf(e: Event): string[] {
  switch (e.kind) {
    case "init": return ["pki", "init", "--domain", "mesh.test"];
    case "add": return ["pki", "intermediate", e.scope!];
    case "renew": return ["pki", "renew"];
    case "rotate-intermediate": return ["pki", "rotate", "--intermediate", e.scope!];
    case "rotate-root": return ["pki", "rotate", "--root"];
    case "finish-root": return ["pki", "rotate", "--root", "--finish"];
    case "recover": return ["pki", "recover-intermediate", e.scope!];
  }
}

// ---- what the simulation records for the tests below ----
interface HandshakeRecord {
  readonly step: string;
  readonly what: string;
  readonly expected: boolean;
  readonly ok: boolean;
  readonly detail: string;
}
interface Revocation {
  readonly scope: string;
  readonly gens: number[];
  /** The generation the recovery issued, active at once (no propagation delay by design). */
  readonly replacement: number;
  readonly at: number;
  readonly seq: number;
  readonly certs: string[];
  readonly leaves: LeafCopy[];
  readonly blast: string;
}
const sb = sandbox({ global: [...REGIONS.global], eu: [...REGIONS.eu], us: [...REGIONS.us] });
const stats = { days: 0, steps: 0, leaves: 0, chainChecks: 0, opensslChecks: 0, handshakes: 0, cliMs: 0, checkMs: 0 };
const failures: string[] = [];
const facts = {
  finishRefusals: [] as string[],
  finishedAt: null as number | null,
  rootRotatedAt: null as number | null,
  overlapSteps: 0,
  crossChecks: 0,
  lagChecks: 0,
  revoked: null as Revocation | null,
  revokedFailures: 0,
  restoredAt: null as number | null,
  crlRevokedChecks: 0,
  handshakes: [] as HandshakeRecord[],
  sampled: [] as string[],
  finalAt: 0,
};
let current: Deployed = { at: START, seq: 0, bundles: {}, leaves: [] };
/** Recent deployments, to find what a consumer lagging by the propagation delay still has. */
const history: Deployed[] = [];

const covers = (bundle: string, scope: string) => bundle === "global" || scope === bundle || scope === "global";
const meshBundles = (d: Deployed) => Object.keys(d.bundles).filter((b) => b !== "root").sort();
const isRevoked = (l: LeafCopy) => !!facts.revoked && facts.revoked.scope === l.scope && facts.revoked.gens.includes(l.gen);
/** A leaf of the revoked generation must fail against every bundle written at or after the
 *  recovery (no overlap, by design); every other leaf must verify against every bundle meant for it. */
const expectOk = (l: LeafCopy, bundles: Deployed) => !(isRevoked(l) && bundles.seq >= facts.revoked!.seq);
const tag = (l: LeafCopy) => `${l.scope}/${l.service} (${l.scope} G${l.gen})`;

/**
 * Leaves × bundles: each leaf must verify (at `t`) against every bundle meant for its scope exactly
 * when `expect` says so, and never against another region's bundle. Pure over the given copies.
 */
function meshFailures(combos: readonly [string, readonly LeafCopy[], Deployed][], t: number, expect: (l: LeafCopy, bundles: Deployed) => boolean): { failures: string[]; checks: number; expectedFailures: number } {
  const out: string[] = [];
  let checks = 0;
  let expectedFailures = 0;
  for (const [what, leaves, bundles] of combos) {
    for (const b of meshBundles(bundles)) {
      const anchors = certs(bundles.bundles[b]!);
      for (const l of leaves) {
        const ok = !!anchorOf(cert(l.pem), anchors, t);
        checks++;
        if (covers(b, l.scope)) {
          const want = expect(l, bundles);
          if (!want && !ok) expectedFailures++;
          if (ok !== want) out.push(`${what}: ${tag(l)} ${ok ? "still verifies" : "does not verify"} against bundles/${b}.pem`);
        } else if (ok) out.push(`${what}: ${tag(l)} verifies against the foreign bundles/${b}.pem`);
      }
    }
  }
  return { failures: out, checks, expectedFailures };
}

/** Every check that follows one step; returns what failed. */
async function checkStep(e: Event, d0: Deployed, d1: Deployed, snap: Snapshot): Promise<string[]> {
  const out: string[] = [];
  const t = e.at;
  const fail = (m: string) => out.push(m);
  const rv = facts.revoked;

  // (1) The checker's invariants on the state as written.
  for (const i of checkState(snap)) fail(`checkState: ${i.code}: ${i.message}`);

  // (2) No outage. New leaves × the bundles deployed before the step, old leaves × the new
  // bundles, new × new; and for a consumer that loads bundles up to the propagation delay late:
  // leaves minted in this step × the bundles of 24 h earlier, and leaves of 24 h earlier (still
  // valid) × the new bundles. The one accepted break: leaves of the generation a recovery issued
  // are unknown to bundles from before the recovery (no overlap, by design).
  const oldPem = new Map(d0.leaves.map((l) => [`${l.scope}/${l.service}`, l.pem]));
  const fresh = d1.leaves.filter((l) => oldPem.get(`${l.scope}/${l.service}`) !== l.pem);
  const lagged = [...history].reverse().find((d) => d.at <= t - PROPAGATION);
  const combos: [string, readonly LeafCopy[], Deployed][] = [
    ["new leaf × old bundle", d1.leaves, d0], ["old leaf × new bundle", d0.leaves, d1], ["new leaf × new bundle", d1.leaves, d1],
  ];
  if (lagged) {
    combos.push(["leaf minted now × bundle of 24 h earlier", fresh, lagged]);
    combos.push(["leaf of 24 h earlier × new bundle", lagged.leaves.filter((l) => validAt(cert(l.pem), t)), d1]);
    facts.lagChecks += fresh.length;
  }
  const replacementUnknown = (l: LeafCopy, b: Deployed) => !!rv && l.scope === rv.scope && l.gen === rv.replacement && b.seq < rv.seq;
  const mesh = meshFailures(combos, t, (l, b) => expectOk(l, b) && !replacementUnknown(l, b));
  out.push(...mesh.failures);
  stats.chainChecks += mesh.checks;
  if (rv) facts.revokedFailures += mesh.expectedFailures;

  // (3) Root anchoring: every intermediate a mesh bundle carries chains to a root in root.pem;
  // every leaf's chain (leaf → its intermediate → root) reaches a root in root.pem as deployed
  // before the step, after it, and 24 h earlier (for leaves minted now).
  const roots1 = certs(d1.bundles.root ?? "");
  for (const b of meshBundles(d1)) {
    for (const int of certs(d1.bundles[b]!)) {
      stats.chainChecks++;
      if (!anchorOf(int, roots1, t)) fail(`intermediate "${int.subject.replace(/\n/g, ", ")}" in bundles/${b}.pem chains to no root in bundles/root.pem`);
    }
  }
  const rootCombos: [string, readonly LeafCopy[], Deployed | undefined][] = [
    ["new leaf × old root.pem", d1.leaves, d0], ["new leaf × new root.pem", d1.leaves, d1], ["old leaf × new root.pem", d0.leaves, d1], ["leaf minted now × root.pem of 24 h earlier", fresh, lagged],
  ];
  for (const [what, leaves, rootsOf] of rootCombos) {
    if (rootsOf?.bundles.root === undefined) continue;
    const roots = certs(rootsOf.bundles.root);
    for (const l of leaves) {
      const int = cert(l.chain);
      stats.chainChecks++;
      if (!(issuedBy(cert(l.pem), int, t) && anchorOf(int, roots, t))) fail(`${what}: the chain of ${tag(l)} does not reach a root in bundles/root.pem`);
    }
  }

  // (4) During a root overlap, a consumer that still anchors only on the old root reaches every
  // live intermediate under the new root (and its leaves) through the cross-signed certificate,
  // and not without it — openssl as the real path validator (dates, pathLen, name constraints).
  const x = snap.root.crossSigned;
  if (x && roots1.length > 1) {
    facts.overlapSteps++;
    const oldRoot = join(sb.dir, `root/G${x.by}.crt.pem`);
    const crossPath = join(sb.dir, `root/G${x.gen}-by-G${x.by}.crt.pem`);
    const cross = cert(readFileSync(crossPath, "utf8"));
    if (!issuedBy(cross, cert(readFileSync(oldRoot, "utf8")), t)) fail(`the cross-signed root ${crossPath} is not valid under root G${x.by}`);
    for (const [scope, sf] of Object.entries(snap.scopes)) {
      for (const g of sf.generations.filter((g) => g.issuer === x.gen && ["prepared", "active", "retiring"].includes(g.state))) {
        const intPath = join(sb.dir, `scopes/${scope}/G${g.gen}.crt.pem`);
        facts.crossChecks++;
        stats.chainChecks++;
        if (!issuedBy(cert(readFileSync(intPath, "utf8")), cross, t)) fail(`${scope} G${g.gen} does not verify under the cross-signed root`);
        const via = opensslVerifyAt(t, ["-CAfile", oldRoot, "-untrusted", crossPath, intPath]);
        const without = opensslVerifyAt(t, ["-CAfile", oldRoot, intPath]);
        stats.opensslChecks += 2;
        if (!via.ok) fail(`openssl: ${scope} G${g.gen} does not verify against root G${x.by} via ${crossPath}: ${via.out}`);
        if (without.ok) fail(`openssl: ${scope} G${g.gen} verifies against root G${x.by} without the cross-signed certificate`);
        for (const l of d1.leaves.filter((l) => l.scope === scope && l.gen === g.gen)) {
          const chain = join(sb.base, "sim-chain.pem");
          const leaf = join(sb.base, "sim-leaf.pem");
          writeFileSync(chain, readFileSync(crossPath, "utf8") + l.chain);
          writeFileSync(leaf, l.pem);
          const r = opensslVerifyAt(t, ["-CAfile", oldRoot, "-untrusted", chain, leaf]);
          stats.opensslChecks++;
          facts.crossChecks++;
          if (!r.ok) fail(`openssl: leaf ${tag(l)} does not verify against root G${x.by} via the cross-signed certificate: ${r.out}`);
        }
      }
    }
  }

  // (5) The root CRL is current, and every run that holds the root re-signed it.
  const crls = crlBlocks(readFileSync(join(sb.dir, "crl/root.crl.pem"), "utf8")).map((p) => parseCrl(p, "crl/root.crl.pem"));
  if (!crls.length) fail("crl/root.crl.pem holds no CRL");
  for (const c of crls) {
    if (c.thisUpdate.getTime() > t || (c.nextUpdate && c.nextUpdate.getTime() <= t)) {
      fail(`the CRL of "${c.issuerCn}" is not current at ${isoAt(t)} (thisUpdate ${isoAt(c.thisUpdate.getTime())}, nextUpdate ${c.nextUpdate && isoAt(c.nextUpdate.getTime())})`);
    }
  }
  if (e.kind !== "init" && e.kind !== "renew") {
    const newest = Math.max(...crls.map((c) => c.thisUpdate.getTime()));
    if (newest !== Math.floor(t / 1000) * 1000) fail(`this root-posture run did not re-sign the CRL (newest thisUpdate ${isoAt(newest)})`);
  }

  // (6) From the recovery on: no bundle holds the revoked certificate or anything that signs its
  // leaves, no leaf is signed by it once CI has renewed, and openssl with the CRL calls it revoked
  // (a live intermediate passing the same command shows the CRL itself is good).
  if (rv) {
    const revokedFps = new Set(rv.certs.map((p) => cert(p).fingerprint256));
    for (const [b, text] of Object.entries(d1.bundles)) {
      for (const c of certs(text)) {
        if (revokedFps.has(c.fingerprint256)) fail(`bundles/${b}.pem still carries the revoked ${rv.scope} certificate`);
        for (const l of rv.leaves) {
          stats.chainChecks++;
          if (cert(l.pem).checkIssued(c) && cert(l.pem).verify(c.publicKey)) fail(`bundles/${b}.pem carries a certificate that signs the revoked leaf ${tag(l)}`);
        }
      }
    }
    if (t > rv.at) for (const l of d1.leaves) if (isRevoked(l)) fail(`leaf ${tag(l)} is still signed by the revoked generation after a renew`);
    const live = snap.scopes[rv.scope]!.generations.find((g) => g.state === "active")!;
    const args = ["-crl_check", "-CAfile", join(sb.dir, "bundles/root.pem"), "-CRLfile", join(sb.dir, "crl/root.crl.pem")];
    for (const gen of rv.gens) {
      const r = opensslVerifyAt(t, [...args, join(sb.dir, `scopes/${rv.scope}/G${gen}.crt.pem`)]);
      stats.opensslChecks++;
      facts.crlRevokedChecks++;
      if (r.ok || !/certificate revoked/.test(r.out)) fail(`openssl -crl_check on the revoked ${rv.scope} G${gen}: expected "certificate revoked", got: ${r.out}`);
    }
    const control = opensslVerifyAt(t, [...args, join(sb.dir, `scopes/${rv.scope}/G${live.gen}.crt.pem`)]);
    stats.opensslChecks++;
    if (!control.ok) fail(`openssl -crl_check on the live ${rv.scope} G${live.gen} fails: ${control.out}`);
  }

  // (7) Rotating or recovering one region's intermediate changes no other region's bundle or leaves.
  if ((e.kind === "rotate-intermediate" || e.kind === "recover") && e.scope !== "global") {
    for (const r of SCOPES.filter((s) => s !== e.scope && s !== "global")) {
      if (d0.bundles[r] !== d1.bundles[r]) fail(`bundles/${r}.pem changed although only ${e.scope} was touched`);
      const pems = (d: Deployed) => d.leaves.filter((l) => l.scope === r).map((l) => l.pem).join();
      if (pems(d0) !== pems(d1)) fail(`leaves of ${r} changed although only ${e.scope} was touched`);
    }
  }
  return out;
}

/** The real handshakes of one sampled step: an old and a new leaf of one region both ways, a
 *  global client, and a client from the other region (which must be refused). */
async function handshakes(label: string, t: number, d0: Deployed, d1: Deployed, pick: () => number): Promise<string[]> {
  const out: string[] = [];
  const region = pick() < 0.5 ? "eu" : "us";
  const other = region === "eu" ? "us" : "eu";
  const svcs = REGIONS[region];
  const a = svcs[Math.floor(pick() * svcs.length)]!;
  const b = svcs.find((s) => s !== a)!;
  const x = svcs[Math.floor(pick() * svcs.length)]!;
  const leaf = (d: Deployed, scope: string, svc: string) => d.leaves.find((l) => l.scope === scope && l.service === svc);
  const side = (d: Deployed, l: LeafCopy, bundle: string) => ({ cert: l.pem, chain: l.chain, key: openKey(l, sb.ciKey), ca: d.bundles[bundle]! });
  type Case = readonly [string, Deployed, LeafCopy | undefined, Deployed, LeafCopy | undefined, string, boolean | null];
  const cases: Case[] = [
    [`new ${region}/${a} server, old ${region}/${b} client`, d1, leaf(d1, region, a), d0, leaf(d0, region, b), region, null],
    [`old ${region}/${a} server, new ${region}/${b} client`, d0, leaf(d0, region, a), d1, leaf(d1, region, b), region, null],
    [`new ${region}/${a} server, new global/auth client`, d1, leaf(d1, region, a), d1, leaf(d1, "global", "auth"), "global", null],
    [`new ${region}/${a} server, new ${other}/${x} client (other region)`, d1, leaf(d1, region, a), d1, leaf(d1, other, x), other, false],
  ];
  for (const [what, sd, s, cd, c, clientBundle, fixed] of cases) {
    if (!s || !c) continue;
    // The client trusts the server's leaf with its bundle and the server the client's with its own.
    const expected = fixed ?? (expectOk(s, cd) && expectOk(c, sd));
    const r = await opensslHandshake(side(sd, s, region), side(cd, c, clientBundle), { at: t, servername: `${a}.${region}.mesh.test`, workDir: sb.base });
    stats.handshakes++;
    facts.handshakes.push({ step: label, what, expected, ok: r.ok, detail: r.detail });
    if (r.ok !== expected) out.push(`handshake ${what}: expected ${expected ? "success" : "refusal"}, got ${r.ok ? "success" : `refusal (${r.detail})`}`);
  }
  return out;
}

async function simulate(): Promise<void> {
  const events = schedule();
  const pick = rng(SEED);
  // The handshake sample: half among the steps where trust changes (root-posture steps and the
  // renew after each), the rest among all steps once leaves exist.
  const firstRenew = events.findIndex((e) => e.kind === "renew");
  const eligible = events.map((_, n) => n).filter((n) => n > firstRenew);
  const interesting = eligible.filter((n) => events[n]!.kind !== "renew" || events[n - 1]!.kind !== "renew");
  const sample = new Set<number>();
  const draw = (pool: number[], k: number) => {
    const p = [...pool];
    for (let n = 0; n < k && p.length; n++) sample.add(p.splice(Math.floor(pick() * p.length), 1)[0]!);
  };
  if (SAMPLE === Infinity) eligible.forEach((n) => sample.add(n));
  else {
    draw(interesting, Math.ceil(SAMPLE / 2));
    draw(eligible.filter((n) => !sample.has(n)), SAMPLE - sample.size);
  }

  const stop = () => {
    if (failures.length && !KEEP_GOING) throw new Error(`the simulation broke an invariant:\n  ${failures.slice(0, 12).join("\n  ")}`);
  };
  const runOne = async (e: Event): Promise<{ r: CliResult; label: string }> => {
    const argv = [...argvOf(e), "--at", isoAt(e.at), ...(e.kind === "init" ? ["--identity-out", sb.rootKey] : [])];
    const label = `day ${dayOf(e.at)} (${isoAt(e.at)}) inforge ${argvOf(e).join(" ")}`;
    stats.steps++;
    const c0 = performance.now();
    const r = await cli(argv, ["init", "renew"].includes(e.kind) ? ciEnv(sb) : rootEnv(sb));
    stats.cliMs += performance.now() - c0;
    return { r, label };
  };
  const after = async (e: Event, r: CliResult, label: string, n: number | null) => {
    const k0 = performance.now();
    const d0 = current;
    const d1 = capture(sb.dir, e.at, stats.steps);
    const snap = await readSnapshot(new FsStore(sb.dir));
    if (e.kind === "recover") {
      const sf = snap.scopes[e.scope!]!;
      const gens = sf.generations.filter((g) => g.state === "revoked").map((g) => g.gen);
      facts.revoked = {
        scope: e.scope!, gens, at: e.at, seq: stats.steps, replacement: sf.generations.find((g) => g.state === "active")!.gen,
        certs: gens.map((g) => readFileSync(join(sb.dir, `scopes/${e.scope}/G${g}.crt.pem`), "utf8")),
        leaves: d0.leaves.filter((l) => l.scope === e.scope && gens.includes(l.gen)),
        blast: r.out,
      };
    }
    const oldPem = new Map(d0.leaves.map((l) => [`${l.scope}/${l.service}`, l.pem]));
    stats.leaves += d1.leaves.filter((l) => oldPem.get(`${l.scope}/${l.service}`) !== l.pem).length;
    if (facts.revoked && !facts.restoredAt && e.at > facts.revoked.at && !d1.leaves.some(isRevoked)) facts.restoredAt = e.at;
    const out = await checkStep(e, d0, d1, snap);
    if (VERIFY) {
      // The tool's own disk-side verifier and health check, at the simulated time.
      const v = await cli(["pki", "verify", "--at", isoAt(e.at)], ciEnv(sb));
      if (v.code !== 0) out.push(`inforge pki verify exits ${v.code}: ${(v.out + v.err).trim().split("\n").filter((l) => /error|warn|✘|×/i.test(l)).slice(0, 4).join(" | ")}`);
      const st = await cli(["pki", "status", "--check", "--at", isoAt(e.at)], ciEnv(sb));
      const revokedPending = !!facts.revoked && d1.leaves.some(isRevoked);
      // Warnings are expected (a leaf is past its renewal point between 2/3 of its life and the
      // next daily renew); critical is not, except for the revoked leaves until CI re-issues them.
      if (st.code !== 0 && st.code !== 1 && !(revokedPending && st.code === 2)) out.push(`inforge pki status --check exits ${st.code}: ${st.out.trim().split("\n").filter((l) => /warn|crit|!/i.test(l)).slice(0, 4).join(" | ")}`);
    }
    if (n !== null && sample.has(n)) {
      facts.sampled.push(label);
      out.push(...(await handshakes(label, e.at, d0, d1, pick)));
    }
    current = d1;
    history.push(d1);
    while (history.length > 2 && history[1]!.at <= e.at - PROPAGATION) history.shift();
    failures.push(...out.map((m) => `${label}: ${m}`));
    stats.checkMs += performance.now() - k0;
    stop();
  };

  // After the root rotation the operator tries --finish every day before the renew; while
  // intermediates of the old root are live it must be refused and change nothing.
  let nextFinish = Infinity;
  for (const [n, e] of events.entries()) {
    while (facts.finishedAt === null && nextFinish <= e.at) {
      const f: Event = { at: nextFinish, kind: "finish-root" };
      const hash = treeHash(sb.dir);
      const { r, label } = await runOne(f);
      if (r.code === 0) {
        facts.finishedAt = f.at;
        await after(f, r, label, null);
      } else {
        facts.finishRefusals.push(r.err.trim());
        if (treeHash(sb.dir) !== hash) failures.push(`${label}: the refused --finish changed files`);
        stop();
      }
      nextFinish += DAY;
    }
    const { r, label } = await runOne(e);
    if (r.code !== 0) {
      failures.push(`${label}: exit ${r.code}: ${r.err.trim()}`);
      stop();
      continue;
    }
    if (e.kind === "rotate-root") {
      facts.rootRotatedAt = e.at;
      nextFinish = START + (dayOf(e.at) + 1) * DAY + 5 * HOUR + 30 * 60_000;
    }
    await after(e, r, label, n);
    facts.finalAt = e.at;
  }
  stats.days = dayOf(facts.finalAt) + 1;
}

test(`the simulated years pass with the checker clean and no deployed pair losing trust after any step (seed ${SEED})`, async () => {
  console.log(`lifecycle simulation: ${S.name} schedule from ${isoAt(START)}, handshake sample seed ${SEED} (replay with INFORGE_SIM_SEED=${SEED})`);
  const t0 = performance.now();
  try {
    await simulate();
  } finally {
    console.log(
      `lifecycle simulation: ${stats.days} simulated days, ${stats.steps} steps, ${stats.leaves} leaves issued, ${stats.chainChecks} chain checks, ` +
      `${stats.opensslChecks} openssl verifications, ${stats.handshakes} handshakes, seed ${SEED}; ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} s (cli ${(stats.cliMs / 1000).toFixed(1)} s, checks ${(stats.checkMs / 1000).toFixed(1)} s)`,
    );
  }
  if (KEEP_GOING && failures.length) console.log(failures.join("\n"));
  assert.ok(failures.length === 0, `${failures.length} failure(s); the first:\n${failures.slice(0, 12).join("\n")}`);
  assert.ok(stats.days >= S.days - 1, `only ${stats.days} days were simulated`);
  assert.ok(facts.lagChecks > 0, "no leaf was checked against a bundle of one propagation delay earlier");
});

test("the chain checks do fail when a bundle drops a live intermediate or carries another region's", () => {
  const eu = current.leaves.filter((l) => l.scope === "eu");
  const euInt = eu[0]!.chain;
  const usInt = current.leaves.find((l) => l.scope === "us")!.chain;
  const doctored = (bundles: Record<string, string>): Deployed => ({ ...current, bundles: { ...current.bundles, ...bundles } });
  const yes = () => true;
  const dropped = meshFailures([["x", eu, doctored({ eu: current.bundles.eu!.replace(euInt, "") })]], facts.finalAt, yes);
  assert.is(dropped.failures.length, eu.length, dropped.failures.join("\n"));
  assert.match(dropped.failures[0]!, /does not verify against bundles\/eu\.pem/);
  const foreign = meshFailures([["x", current.leaves, doctored({ eu: current.bundles.eu! + usInt })]], facts.finalAt, yes);
  assert.ok(foreign.failures.some((f) => /us\/\w+ .* verifies against the foreign bundles\/eu\.pem/.test(f)), foreign.failures.join("\n"));
  assert.equal(meshFailures([["x", current.leaves, current]], facts.finalAt, yes).failures, []);
});

test("the root overlap cannot be finished while old-root intermediates are live, and the refusal says which and what to run", () => {
  assert.ok(facts.rootRotatedAt !== null, "the root was never rotated");
  assert.ok(facts.finishRefusals.length >= 1, "--finish was never refused during the overlap");
  for (const m of facts.finishRefusals) {
    assert.match(m, /cannot finish while intermediates of the old root are live/);
    assert.match(m, /\b(global|eu|us) G\d+ \((active|retiring)\)/);
    assert.match(m, /inforge pki renew/);
  }
  assert.ok(facts.finishedAt !== null, "the root overlap was never finished");
  // It finishes once the old intermediates' last leaves have expired: after the propagation
  // delay and the promotion, at most a leaf life after that.
  const days = (facts.finishedAt! - facts.rootRotatedAt!) / DAY;
  assert.ok(days > 2 && days < 1 + 7 + 2, `the overlap lasted ${days.toFixed(1)} days`);
});

test("throughout the root overlap an old-root-only consumer verifies the new root's intermediates and leaves through the cross-signed root", () => {
  assert.ok(facts.overlapSteps >= 3, `only ${facts.overlapSteps} steps ran during the overlap`);
  // The three scopes' new intermediates on every overlap step, plus their leaves once issued.
  assert.ok(facts.crossChecks >= facts.overlapSteps * 3 + 5, `${facts.crossChecks} cross-signed checks in ${facts.overlapSteps} steps`);
});

test(`after the ${S.recoverScope} recovery no bundle trusts the revoked generation, openssl reports it revoked, and the next renew restores every pair`, () => {
  const rv = facts.revoked;
  assert.ok(rv, "the recovery never ran");
  // The active generation, and a prepared one too if the recovery came mid-rotation.
  assert.ok(rv.gens.length >= 1 && rv.gens.length <= 2, `revoked generations: ${rv.gens.join(", ")}`);
  const own = REGIONS[rv.scope as keyof typeof REGIONS];
  assert.is(rv.leaves.length, own.length, `every ${rv.scope} leaf was signed by the revoked generation`);
  assert.ok(rv.blast.includes(`blast radius: ${own.length} leaf(s) of "${rv.scope}"`), rv.blast);
  // Each revoked leaf failed against at least two bundles at the recovery and at the renew after it.
  assert.ok(facts.revokedFailures >= rv.leaves.length * 2 * 2, `revoked leaves failed only ${facts.revokedFailures} times`);
  assert.ok(facts.restoredAt !== null && facts.restoredAt - rv.at <= HOUR, `leaves were restored at ${facts.restoredAt && isoAt(facts.restoredAt)}`);
  assert.ok(facts.crlRevokedChecks >= 20, `openssl -crl_check ran ${facts.crlRevokedChecks} times after the recovery`);
});

test("sampled real openssl mTLS handshakes at the simulated time succeed within a region and are refused across regions", () => {
  const done = facts.handshakes;
  assert.ok(done.length >= Math.min(SAMPLE, 6) * 4, `${done.length} handshakes ran at ${facts.sampled.length} sampled steps`);
  assert.ok(done.some((h) => h.expected && h.ok), "no handshake succeeded");
  assert.ok(done.some((h) => !h.expected && !h.ok && /other region/.test(h.what)), "no cross-region handshake was refused");
  for (const h of done) assert.is(h.ok, h.expected, `${h.step}: ${h.what}: ${h.detail}`);
});

test("the final state is valid in real time: two eu services complete a node:tls mTLS handshake now; no key is plaintext", async () => {
  assert.ok(REAL_NOW - facts.finalAt < 2 * DAY, `the simulation ended at ${isoAt(facts.finalAt)}`);
  const side = (l: LeafCopy, bundle: string) => ({ cert: l.pem + l.chain, key: openKey(l, sb.ciKey), ca: current.bundles[bundle]! });
  const leaf = (scope: string, svc: string) => current.leaves.find((l) => l.scope === scope && l.service === svc)!;
  const good = await mtls(side(leaf("eu", "payments"), "eu"), side(leaf("eu", "checkout"), "eu"), "payments.eu.mesh.test");
  assert.ok(good.ok, good.error);
  assert.is(good.peerUri, "spiffe://eu.mesh.test/svc/checkout");
  const bad = await mtls(side(leaf("eu", "payments"), "eu"), side(leaf("us", "checkout"), "us"), "payments.eu.mesh.test");
  assert.not.ok(bad.ok, "a us client was accepted by an eu server");
  assert.equal(plaintextKeys(sb.dir), []);
});

test.run();
