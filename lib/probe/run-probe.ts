import { InputError, StateError } from "../errors.ts";
import { need, openIssuer } from "../apply/keys.ts";
import { vouching } from "../apply/vouch.ts";
import { consumerVoters, newRootDuringOverlap, parseAddress, PROBE_RECORD_SCHEMA, probeRecordPayload, probeRecordText, promotionVerdict, type EndpointResult, type ProbeRecord, type ProbeTarget, type PromotionVerdict, type Served } from "../model/probes.ts";
import { parseDuration } from "../model/duration.ts";
import { DEFAULT_PROBE_MAX_AGE } from "../model/probes.ts";
import * as P from "../model/paths.ts";
import type { Generation, Snapshot } from "../model/state.ts";
import { eachLimited } from "../pool.ts";
import { assertCustody } from "../store/custody.ts";
import { entryRef } from "../store/domains.ts";
import { FsStore } from "../store/fs-store.ts";
import { ciGuard, loadIdentities, matchRecipients } from "../store/identities.ts";
import { acquireLock } from "../store/lock.ts";
import { probeRecordPath } from "../store/probe-records.ts";
import { loadTopology } from "../store/regions.ts";
import { readSnapshot } from "../store/snapshot.ts";
import { assertUntampered } from "../store/tamper.ts";
import * as X from "../x509/mod.ts";
import { connect, type ConnectResult } from "./tls-probe.ts";

// `inforge pki probe` (CI posture): connect to every endpoint the region files list, report the
// chain each serves, and — for a scope with a prepared generation — whether the endpoint already
// trusts it, by presenting a client certificate that generation issued. The certificates are
// minted in memory (never written), live five minutes and carry a probe-only name that no
// service can have (service names are one DNS label: probe.inforge.<scope>.<domain> is two).
// The run is recorded as probes/<scope>.json, signed by the scope's generation key, journalled.

type Env = Readonly<Record<string, string | undefined>>;

export interface ProbeOptions {
  readonly dir: string;
  readonly regions: string;
  readonly now: Date;
  readonly env: Env;
  readonly command: string;
  /** One region (or global); absent: every scope whose region file lists probes. */
  readonly region?: string;
  /** Connections at once (lib/pool.ts). */
  readonly concurrency?: number;
  /** Per connection. */
  readonly timeoutMs?: number;
  /** For the whole run: endpoints not started by then are reported "skipped". */
  readonly budgetMs?: number;
  /** See ConnectOptions.settleMs. */
  readonly settleMs?: number;
  readonly waitMs?: number;
}

export interface ScopeProbe {
  readonly scope: string;
  readonly prepared: { readonly gen: number; readonly fingerprint: string } | null;
  readonly endpoints: readonly EndpointResult[];
  /** With a prepared generation and `promotion: "probe"`: what renew would decide on this evidence. */
  readonly promotion?: { readonly ready: boolean; readonly blockers: readonly string[] };
}

export interface ProbeReport {
  readonly schema: "inforge.probe/v1";
  readonly at: string;
  readonly ms: number;
  readonly scopes: readonly ScopeProbe[];
  /** The journal entry that recorded the run ("pki#12", "eu#3"). */
  readonly entry: string;
}

/** Defaults: 16 connections at once, 5 s each, 2 minutes in all. */
export const PROBE_DEFAULTS = { concurrency: 16, timeoutMs: 5_000, budgetMs: 120_000, settleMs: 400 } as const;
/** Probe client certificates live this long (and start a minute back, for the peer's clock). */
const PROBE_CERT_LIFE = 5 * 60_000;

const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

interface Job {
  readonly scope: string;
  readonly service: string;
  /** A root-anchoring consumer's endpoint (pki.json consumers), probed for trust in the new root only. */
  readonly consumer?: true;
  readonly target: ProbeTarget;
  readonly host: string;
  readonly port: number;
  readonly sni: string;
}

interface ScopeKit {
  readonly scope: string;
  readonly bundle: string;
  readonly prepared: Generation | null;
  readonly signer: X.Issuer;
  readonly signedBy: Generation;
  readonly activeCert?: { cert: string; key: string };
  readonly preparedCert?: { cert: string; key: string };
}

export async function runProbe(o: ProbeOptions): Promise<ProbeReport> {
  const started = performance.now();
  ciGuard(o.env);
  const ids = await loadIdentities(o.env);
  const id = need(ids, "ci", "inforge pki probe (it signs its client certificates and its record with the scope's intermediate key)");
  const store = new FsStore(o.dir);
  if (!(await store.exists())) throw new InputError(`no pki directory at ${o.dir}; run inforge pki init first, or point --dir / INFORGE_PKI_DIR at it`);
  const snap = await readSnapshot(store);
  const cfg = snap.config;
  if (!cfg) throw new InputError(`the pki directory ${o.dir} is not initialised; run inforge pki init first`);
  await assertCustody(store, snap, o.env, { note: (n) => process.stderr.write(`inforge: ${n}\n`) });
  matchRecipients(ids, cfg);
  const topology = await loadTopology(o.regions);
  const scopes = chooseScopes(o, snap, topology);
  const now = o.now.getTime();

  // Keys and client certificates, per scope, before any connection.
  const vouch = vouching((p) => store.read(p), snap);
  const kits = new Map<string, ScopeKit>();
  for (const scope of scopes) {
    const gens = snap.scopes[scope]!.generations;
    const active = gens.find((g) => g.state === "active")!;
    const prepared = gens.find((g) => g.state === "prepared") ?? null;
    // Proven like every issuer apply signs with (lib/apply/vouch.ts: the recorded fingerprint and
    // a signature by the live root), then its key opened and matched to it.
    const open = async (g: Generation) => {
      await vouch.intermediate({ scope, gen: g.gen });
      return openIssuer(store, P.intermediateCert(scope, g.gen), P.intermediateKey(scope, g.gen), id, "ci");
    };
    const activeIssuer = await open(active);
    const preparedIssuer = prepared ? await open(prepared) : null;
    const clientAuth = Object.values(topology.scopes[scope]!.probes ?? {}).some((ts) => ts.some((t) => t.clientAuth)) ||
      (!!prepared && newRootDuringOverlap(snap.root, prepared) && (cfg.consumers ?? []).some((c) => c.probes?.length));
    const bundle = await store.read(P.bundle(scope));
    if (bundle === null) throw new StateError(`${P.bundle(scope)} is missing; restore it from git (the probe verifies served chains against it)`);
    kits.set(scope, {
      scope, bundle, prepared,
      signer: preparedIssuer ?? activeIssuer, signedBy: prepared ?? active,
      ...(clientAuth ? { activeCert: await probeCert(activeIssuer, scope, cfg.domain, now) } : {}),
      ...(clientAuth && preparedIssuer ? { preparedCert: await probeCert(preparedIssuer, scope, cfg.domain, now) } : {}),
    });
  }

  const jobs: Job[] = scopes.flatMap((scope) => [
    ...Object.entries(topology.scopes[scope]!.probes ?? {}).flatMap(([service, targets]) =>
      targets.map((target) => {
        const a = parseAddress(target.address)!;
        return { scope, service, target, host: a.host, port: a.port, sni: target.sni ?? `${service}.${scope}.${cfg.domain}` };
      }),
    ),
    // During a root overlap, the root-anchoring consumers vote on the new root's intermediates.
    ...(kits.get(scope)!.prepared && newRootDuringOverlap(snap.root, kits.get(scope)!.prepared!)
      ? (cfg.consumers ?? []).flatMap((c) => (c.probes ?? []).map((t) => {
        const a = parseAddress(t.address)!;
        return { scope, service: c.name, consumer: true as const, target: { address: t.address, clientAuth: true }, host: a.host, port: a.port, sni: t.sni ?? (/^[0-9.]+$|:/.test(a.host) ? "" : a.host) };
      }))
      : []),
  ]);
  const issuers = await generationCerts(store, snap);
  const budget = o.budgetMs ?? PROBE_DEFAULTS.budgetMs;
  const timeout = o.timeoutMs ?? PROBE_DEFAULTS.timeoutMs;
  const settleMs = o.settleMs ?? PROBE_DEFAULTS.settleMs;
  const t0 = performance.now();
  const results: EndpointResult[] = new Array(jobs.length);
  await eachLimited(jobs, o.concurrency ?? PROBE_DEFAULTS.concurrency, async (job, n) => {
    const left = budget - (performance.now() - t0);
    const base = { service: job.service, ...(job.consumer ? { consumer: true as const } : {}), address: job.target.address, sni: job.sni, clientAuth: !!job.target.clientAuth };
    if (left < 50) {
      results[n] = { ...base, outcome: "skipped", error: `the probe's time budget of ${Math.round(budget / 1000)} s was spent before this endpoint's turn`, ms: 0 };
      return;
    }
    const kit = kits.get(job.scope)!;
    const t = performance.now();
    try {
      results[n] = await probeEndpoint(job, kit, issuers, snap, { timeoutMs: Math.min(timeout, left), settleMs }, base);
    } catch (e) {
      // Whatever went wrong with one endpoint is that endpoint's result; the run goes on.
      results[n] = { ...base, outcome: "tls-error", error: `probe failed: ${(e as Error)?.message ?? String(e)}`.slice(0, 200), ms: Math.round(performance.now() - t) };
    }
  });

  // Record: one signed file per scope, committed and journalled in one entry.
  const at = iso(now);
  const records: ProbeRecord[] = [];
  for (const scope of scopes) {
    const kit = kits.get(scope)!;
    const unsigned = {
      schema: PROBE_RECORD_SCHEMA, scope, at,
      prepared: kit.prepared ? { gen: kit.prepared.gen, fingerprint: kit.prepared.fingerprint } : null,
      endpoints: jobs.map((j, n) => [j, results[n]!] as const).filter(([j]) => j.scope === scope).map(([, r]) => r),
      signedBy: { gen: kit.signedBy.gen, fingerprint: kit.signedBy.fingerprint },
    } as const;
    records.push({ ...unsigned, signature: await X.signDetached(kit.signer.signer, probeRecordPayload(unsigned)) });
  }
  const domain = scopes.length === 1 ? scopes[0]! : null;
  const lock = await acquireLock(o.dir, o.command, o.now, o.waitMs ?? 0, domain);
  let entry: string;
  try {
    const locked = new FsStore(o.dir, { run: lock.run, domain: lock.domain });
    await locked.recover();
    await assertUntampered(locked);
    const e = await locked.commit(records.map((r) => ({ path: probeRecordPath(r.scope), content: probeRecordText(r), mode: 0o644 })), {
      at, command: o.command, intents: records.map((r) => `probe ${r.scope}`), steps: results.length,
    });
    entry = entryRef(locked.domain, e.seq);
  } finally {
    await lock.release();
  }
  const maxAge = parseDuration(cfg.probeMaxAge ?? DEFAULT_PROBE_MAX_AGE)!;
  return {
    schema: "inforge.probe/v1", at, ms: Math.round(performance.now() - started), entry,
    scopes: records.map((r) => {
      const kit = kits.get(r.scope)!;
      const verdict: PromotionVerdict | null = kit.prepared && cfg.promotion === "probe" ? promotionVerdict(r, kit.prepared, topology.scopes[r.scope]!.probes, now, maxAge, newRootDuringOverlap(snap.root, kit.prepared) ? consumerVoters(cfg.consumers) : []) : null;
      return { scope: r.scope, prepared: r.prepared, endpoints: r.endpoints, ...(verdict ? { promotion: { ready: verdict.ready, blockers: verdict.blockers } } : {}) };
    }),
  };
}

function chooseScopes(o: ProbeOptions, snap: Snapshot, topology: Awaited<ReturnType<typeof loadTopology>>): string[] {
  const ready = (s: string) => !!snap.scopes[s]?.generations.some((g) => g.state === "active");
  // During a root overlap a scope whose prepared intermediate is the new root's is probed for the
  // consumers' sake even when its region file lists no endpoint.
  const consumers = (snap.config?.consumers ?? []).some((c) => c.probes?.length);
  const listed = (s: string) => !!topology.scopes[s]?.probes || (consumers && snap.scopes[s]?.generations.some((g) => g.state === "prepared" && newRootDuringOverlap(snap.root, g)));
  if (o.region !== undefined) {
    const s = o.region;
    if (!topology.scopes[s]) throw new InputError(`unknown region "${s}" for --region (known: ${Object.keys(topology.scopes).sort().join(", ") || "none"}); add regions/${s}.json`);
    if (!listed(s)) throw new InputError(`regions/${s}.json lists no probes; add "probes": {"<service>": [{"address": "host:port", "clientAuth": true}]} to it`);
    if (!ready(s)) throw new InputError(`scope "${s}" has no active intermediate yet; run inforge pki intermediate ${s} first (root posture)`);
    return [s];
  }
  const all = Object.keys(topology.scopes).filter((s) => listed(s) && ready(s)).sort();
  if (!all.length) throw new InputError(`no region file lists probes for a scope with an intermediate; add "probes": {"<service>": [{"address": "host:port", "clientAuth": true}]} to regions/<region>.json`);
  return all;
}

/** A client certificate of `issuer` for the probe only: in memory, five minutes, a name no service has. */
async function probeCert(issuer: X.Issuer, scope: string, domain: string, now: number): Promise<{ cert: string; key: string }> {
  const ca = X.parseCertificate(issuer.certPem);
  const nb = Math.max(Math.floor((now - 60_000) / 1000) * 1000, ca.notBefore.getTime());
  const na = Math.min(Math.floor((now + PROBE_CERT_LIFE) / 1000) * 1000, ca.notAfter.getTime());
  const key = await X.generateKeyPair();
  const name = `probe.inforge.${scope}.${domain}`;
  const leaf = await X.createLeaf({ publicKey: key.publicKey, issuer, commonName: name, notBefore: new Date(nb), notAfter: new Date(na), dns: [name], uris: [`spiffe://${scope}.${domain}/inforge/probe`] });
  return { cert: leaf.pem + ca.pem, key: await X.exportPrivateKeyPem(key) };
}

interface KnownGen {
  readonly scope: string;
  readonly gen: number;
  readonly fingerprint: string;
  readonly pem: string;
  readonly ski: string;
}

/** Every intermediate generation's certificate of the state (any state): who may have signed a served leaf. */
async function generationCerts(store: FsStore, snap: Snapshot): Promise<KnownGen[]> {
  const out: KnownGen[] = [];
  for (const [scope, sf] of Object.entries(snap.scopes)) {
    for (const g of sf.generations) {
      const pem = await store.read(P.intermediateCert(scope, g.gen));
      if (pem === null) continue;
      try {
        const info = X.parseCertificate(pem);
        if (info.fingerprint === g.fingerprint) out.push({ scope, gen: g.gen, fingerprint: g.fingerprint, pem: info.pem, ski: info.ski });
      } catch {
        // a damaged certificate is verify's to report; it simply identifies nothing here
      }
    }
  }
  return out;
}

async function probeEndpoint(
  job: Job, kit: ScopeKit, gens: readonly KnownGen[], snap: Snapshot, t: { timeoutMs: number; settleMs: number },
  base: Pick<EndpointResult, "service" | "address" | "sni" | "clientAuth">,
): Promise<EndpointResult> {
  const start = performance.now();
  const elapsed = () => Math.round(performance.now() - start);
  const common = { host: job.host, port: job.port, ...(job.sni ? { servername: job.sni } : {}), ca: kit.bundle, timeoutMs: t.timeoutMs };
  if (job.consumer) return consumerTrust(job, kit, common, t.settleMs, base, elapsed);
  // The chain: an endpoint that wants a client certificate gets one of the active generation,
  // which it should trust, so that a TLS 1.2 server that checks it during the handshake still
  // shows what it serves.
  const first: ConnectResult = await connect({ ...common, ...(job.target.clientAuth && kit.activeCert ? { client: kit.activeCert, judgeClient: false } : {}) });
  if (first.outcome !== "tls") return { ...base, outcome: first.outcome, error: first.error, ms: elapsed() };
  const served = await describeServed(first.leaf, job, gens, snap, first);
  const result: EndpointResult = { ...base, outcome: "tls", ms: elapsed(), served };
  if (!job.target.clientAuth || !kit.prepared || !kit.preparedCert) return result;
  const second = await connect({ ...common, client: kit.preparedCert, settleMs: t.settleMs });
  const trust = second.outcome === "tls"
    ? { outcome: second.client!.accepted ? ("accepted" as const) : ("refused" as const), detail: second.client!.detail }
    : second.outcome === "tls-error"
      // The same endpoint completed a handshake a moment ago with the active generation's certificate.
      ? { outcome: "refused" as const, detail: `the handshake failed: ${second.error}` }
      : { outcome: "error" as const, detail: `${second.outcome}: ${second.error}` };
  return { ...result, ms: elapsed(), trust: { gen: kit.prepared.gen, fingerprint: kit.prepared.fingerprint, ...trust } };
}

/**
 * A root-anchoring consumer: only whether it accepts a client certificate of the new root's
 * prepared intermediate, sent without the cross certificate, so that only the new root anchors it.
 */
async function consumerTrust(
  job: Job, kit: ScopeKit, common: { host: string; port: number; servername?: string; ca: string; timeoutMs: number }, settleMs: number,
  base: Pick<EndpointResult, "service" | "address" | "sni" | "clientAuth" | "consumer">, elapsed: () => number,
): Promise<EndpointResult> {
  const r = await connect({ ...common, client: kit.preparedCert!, settleMs });
  const p = { gen: kit.prepared!.gen, fingerprint: kit.prepared!.fingerprint };
  if (r.outcome === "tls") return { ...base, outcome: "tls", ms: elapsed(), trust: { ...p, outcome: r.client!.accepted ? "accepted" : "refused", detail: r.client!.detail } };
  // A handshake that fails with an alert is the consumer refusing the chain; a dead port is no answer.
  if (r.outcome === "tls-error") return { ...base, outcome: "tls", ms: elapsed(), trust: { ...p, outcome: "refused", detail: `the handshake failed: ${r.error}` } };
  return { ...base, outcome: r.outcome, error: r.error, ms: elapsed() };
}

async function describeServed(leafPem: string, job: Job, gens: readonly KnownGen[], snap: Snapshot, c: { authorized: boolean; authorizationError?: string; nameError?: string }): Promise<Served> {
  const leaf = X.parseCertificate(leafPem, `the certificate ${job.target.address} served`);
  let issuer: KnownGen | null = null;
  for (const g of gens.filter((g) => leaf.aki !== null && g.ski === leaf.aki)) {
    if (await X.verifySignedBy(leaf.pem, g.pem).catch(() => false)) {
      issuer = g;
      break;
    }
  }
  const idx = snap.leaves[job.scope];
  const known = [idx?.leaves[job.service as never], idx?.csr?.[job.service as never]].some((l) => l?.fingerprint === leaf.fingerprint);
  return {
    fingerprint: leaf.fingerprint, serial: leaf.serial, subject: leaf.subjectCn,
    notBefore: iso(leaf.notBefore.getTime()), notAfter: iso(leaf.notAfter.getTime()),
    issuer: issuer ? { scope: issuer.scope, gen: issuer.gen, fingerprint: issuer.fingerprint } : null,
    current: known, verifies: c.authorized,
    ...(c.authorizationError ? { verifyError: c.authorizationError } : {}),
    nameMatches: !c.nameError,
  };
}

