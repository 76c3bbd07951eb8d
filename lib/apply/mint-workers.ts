// Worker threads that mint leaves (lib/apply/mint-worker.ts), for fleet-size runs. The main
// thread hands out batches of issue-leaf steps and records the replies; a reply is certificates
// and key PEMs only, so nothing the store or the journal sees changes with where a leaf was made.
// The same workers run the renewal's tamper check (the first one from its start data: `start`),
// and check signatures for `pki verify` (withVerifyWorkers).
//
// Where the worker file is: beside this one with the same extension — dist/cli/*.mjs and
// dist/deno/*.js from the bundles (scripts/build.ts and scripts/build-deno.ts build it as an
// entry of its own), lib/apply/mint-worker.ts from the sources under Deno, and under Node the
// sources' entry mint-worker-tsx.mjs, which registers tsx in the worker first. A worker that
// cannot start here (no worker_threads, a loader it cannot get) makes `start` return null and the
// run mints on the main thread, as it always could.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { X509Error } from "../x509/errors.ts";
import type { LeafTemplate } from "../x509/leaf-der.ts";
import { platform } from "../x509/platform.ts";
import { StateError } from "../errors.ts";
import { runtime } from "../runtime.ts";
import { MINT_ROLE, type FromWorker, type MintOrder, type MintReply, type OverwriteOrder, type ToWorker, type VerifyItem, type WorkerError } from "./mint-worker.ts";
import type { HeldOverwrites, Overwritten } from "../store/redo.ts";

/** Leaves (or certificates to check) from which worker threads are started by default: starting them costs about 40 ms. */
export const MINT_WORKERS_FROM = 1000;

/** Leaves per batch: enough that a message round trip is noise, few enough to spread over the workers. */
export const MINT_BATCH = 256;

/**
 * Workers for a plan of `leaves` issue-leaf steps. By default none below MINT_WORKERS_FROM leaves
 * (starting a worker costs tens of milliseconds) or on one core, otherwise one per core but the
 * main thread's, at most 4. `requested` (the INFORGE_MINT_WORKERS setting, e.g. for a CI
 * container whose CPU quota is below the host's core count) is that many for any plan that
 * issues leaves; 0 mints on the main thread.
 */
export function mintWorkerCount(leaves: number, requested?: number): number {
  if (leaves < 1) return 0;
  if (requested !== undefined) return Math.max(0, Math.min(16, Math.floor(requested)));
  if (leaves < MINT_WORKERS_FROM) return 0;
  // One core stays with the main thread: it records every leaf, seals each scope's keys, signs
  // the scope CRLs and runs the tamper check meanwhile (about a second of work at 10,000
  // leaves). On 2 cores one worker renewed 10,000 leaves in 2.41–2.43 s, two in 2.48–2.52 s.
  const cores = availableParallelism();
  return cores < 2 ? 0 : Math.min(cores - 1, 4);
}

/**
 * Workers for `pki verify` checking `certs` signatures: one per core (at most 4) from
 * MINT_WORKERS_FROM certificates. Unlike a renewal's, the main thread only parses and hands out
 * checks here; at 10,000 leaves on 2 cores, two workers verified in 2.8 s, one in 3.1 s.
 */
export function verifyWorkerCount(certs: number): number {
  const cores = availableParallelism();
  return certs < MINT_WORKERS_FROM || cores < 2 ? 0 : Math.min(cores, 4);
}

/** The worker could not sign with the key it was given: mint that batch on the main thread instead. */
export class WorkerSetupError extends Error {}

interface Slot {
  readonly worker: Worker;
  /** Settles when the thread has loaded and answers (rejects when it cannot start). */
  readonly ready: Promise<void>;
  /** Issuers this worker has been sent. */
  readonly refs: Set<string>;
  inFlight: number;
  readonly waiting: Map<number, { resolve(r: never): void; reject(e: unknown): void }>;
}

/** The tamper check a pool runs first (lib/store/tamper.ts assertUntampered of this directory). */
export interface TamperOrder {
  readonly dir: string;
  readonly domain: string | null;
  readonly shippedLeaves: boolean;
}

export class MintWorkers {
  private nextId = 1;
  private readonly slots: readonly Slot[];
  /** The tamper check the pool was started with: its milliseconds from the start, or its error. */
  readonly tamper: Promise<number> | null;
  private constructor(slots: readonly Slot[], tamper: Promise<number> | null) {
    this.slots = slots;
    this.tamper = tamper;
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * `count` workers, each loaded and answering; null when they cannot start on this runtime.
   * `tamper`: the first worker starts that check as soon as it has loaded (it gets it with its
   * start data, so it need not wait for this thread, which may be busy planning meanwhile).
   */
  static async start(count: number, tamper?: TamperOrder): Promise<MintWorkers | null> {
    const url = workerUrl();
    if (!url || count < 1) return null;
    const t0 = performance.now();
    const slots: Slot[] = [];
    let first: Promise<number> | null = null;
    try {
      for (let i = 0; i < count; i++) {
        const order: ToWorker | undefined = i === 0 && tamper ? { kind: "tamper", id: 0, ...tamper } : undefined;
        const worker = new Worker(url, { workerData: { role: MINT_ROLE, ...(order ? { first: order } : {}) } });
        const slot: Slot = { worker, ready: ready(worker), refs: new Set(), inFlight: 0, waiting: new Map() };
        listen(slot);
        if (order) first = expect<void>(slot, 0).then(() => performance.now() - t0);
        slots.push(slot);
      }
      first?.catch(() => {}); // handed to the caller below, or dropped with the pool
      await Promise.all(slots.map((s) => s.ready));
    } catch {
      await Promise.all(slots.map((s) => s.worker.terminate().catch(() => 0)));
      return null;
    }
    return new MintWorkers(slots, first);
  }

  /** Mint `orders` under the issuer `ref` (its template and private key) on the least busy worker. */
  mint(ref: string, template: LeafTemplate, key: CryptoKey, orders: readonly MintOrder[]): Promise<readonly MintReply[]> {
    return this.send((id) => ({ kind: "batch", id, ref, orders }), (slot) => {
      if (slot.refs.has(ref)) return;
      post(slot, { kind: "issuer", ref, template, key });
      slot.refs.add(ref);
    });
  }

  /** Check `items` (ECDSA P-256/SHA-256 signatures) on the least busy worker. */
  verify(items: readonly VerifyItem[]): Promise<readonly boolean[]> {
    return this.send((id) => ({ kind: "verify", id, items }));
  }

  /**
   * The pipeline's tamper check of `dir` (lib/store/tamper.ts assertUntampered) on the least busy
   * worker; rejects with the error it would have thrown on this thread.
   */
  tamperCheck(order: TamperOrder): Promise<void> {
    return this.send((id) => ({ kind: "tamper", id, ...order }));
  }

  /** d·G on P-256 for each d (null: not a P-256 key) on the least busy worker. */
  points(ds: readonly Uint8Array[]): Promise<readonly (Uint8Array | null)[]> {
    return this.send((id) => ({ kind: "points", id, ds }));
  }

  /**
   * Hand these certificates to a worker now, before the commit point (it copies them in while
   * this thread waits for the redo log's flush); it overwrites them in place (lib/store/redo.ts
   * overwrite) on `go`, past the commit point, and forgets them on `drop`. `go` rejects with the
   * error the worker met, or when the worker could not take them (the caller writes them itself).
   */
  hold(files: readonly OverwriteOrder[]): HeldOverwrites {
    const slot = this.slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const id = this.nextId++;
    let posted = true;
    try {
      post(slot, { kind: "hold", id, files });
    } catch {
      posted = false;
    }
    let released = false;
    const release = (go: boolean) => {
      if (released) throw new Error("internal: held overwrites released twice");
      released = true;
      if (posted) post(slot, { kind: "release", id, go });
    };
    return {
      go: () => {
        if (!posted) return Promise.reject(new WorkerSetupError("the worker could not take the overwrites"));
        const answer = expect<readonly Overwritten[]>(slot, id);
        release(true);
        return answer;
      },
      drop: () => release(false),
    };
  }

  /**
   * Post a request (after `prepare`, e.g. the issuer it needs) to the worker with the fewest
   * waiting, and wait for its answer. A message the runtime cannot pass to the thread (a key it
   * cannot clone) is a WorkerSetupError: the caller does that work on this thread instead.
   */
  private send<T>(request: (id: number) => ToWorker, prepare?: (slot: Slot) => void): Promise<T> {
    const slot = this.slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const id = this.nextId++;
    try {
      prepare?.(slot);
      const answer = expect<T>(slot, id);
      post(slot, request(id));
      return answer;
    } catch (e) {
      if (slot.waiting.delete(id)) slot.inFlight--;
      return Promise.reject(new WorkerSetupError(e instanceof Error ? e.message : String(e)));
    }
  }

  /** Stop every worker (batches still waiting are rejected). */
  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate().catch(() => 0)));
  }
}

/** The answer to request `id` on `s`. */
function expect<T>(s: Slot, id: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    s.waiting.set(id, { resolve: resolve as (r: never) => void, reject });
    s.inFlight++;
  });
}

function listen(s: Slot): void {
  s.worker.on("message", (m: FromWorker) => {
    if (m.kind === "ready") return;
    const w = s.waiting.get(m.id);
    if (!w) return;
    s.waiting.delete(m.id);
    s.inFlight--;
    if (m.kind === "done") return w.resolve(m.leaves as never);
    if (m.kind === "verified") return w.resolve(m.ok as never);
    if (m.kind === "untampered") return w.resolve(undefined as never);
    if (m.kind === "overwritten") return w.resolve(m.written as never);
    if (m.kind === "points") return w.resolve(m.points as never);
    w.reject(m.setup ? new WorkerSetupError(m.error.message) : rebuild(m.error));
  });
  const fail = (e: unknown) => {
    for (const w of s.waiting.values()) w.reject(e);
    s.waiting.clear();
  };
  s.worker.on("error", fail);
  s.worker.on("exit", (code) => fail(new Error(`a worker thread of this run stopped (exit code ${code}) before it answered, and nothing was written; run again, with INFORGE_MINT_WORKERS=0 to keep the work on the main thread`)));
}

function post(s: Slot, m: ToWorker): void {
  s.worker.postMessage(m);
}

function ready(w: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromWorker) => {
      if (m.kind !== "ready") return;
      w.off("message", onMessage);
      resolve();
    };
    w.on("message", onMessage);
    w.once("error", reject);
    w.once("exit", (code) => reject(new Error(`worker exited (code ${code}) before it was ready`)));
  });
}

/** The worker's own error, as the main thread would have thrown it. */
function rebuild(e: WorkerError): Error {
  if (e.name === "X509Error") return new X509Error(e.message, e.code as ConstructorParameters<typeof X509Error>[1]);
  if (e.name === "StateError") return new StateError(e.message);
  const err = Object.assign(new Error(e.message), { ...(e.code ? { code: e.code } : {}), ...(e.path ? { path: e.path } : {}), ...(e.syscall ? { syscall: e.syscall } : {}) });
  err.name = e.name;
  return err;
}

function workerUrl(): URL | null {
  const own = import.meta.url;
  const ext = /\.(ts|mjs|js)$/.exec(own)?.[0];
  if (!ext) return null;
  // From the sources under Node, through the entry that registers tsx in the worker first.
  return new URL(ext === ".ts" && runtime === "node" ? "./mint-worker-tsx.mjs" : `./mint-worker${ext}`, own);
}

/**
 * Run `f` with lib/x509's ECDSA P-256 signature check and its keys' d·G on worker threads — `pool`
 * of them, or `count` started now (`pki verify` of a fleet: dispatching one check per certificate
 * through node:crypto's thread pool cost this thread about 26 µs each). Checks asked for in one
 * turn of the event loop go as one batch (at most VERIFY_BATCH). Everything `f` asks for must be
 * asked within it: the platform is put back and the workers stopped however `f` ends. Without
 * workers, `f` runs as is.
 */
export async function withVerifyWorkers<T>(pool: number | Promise<MintWorkers | null>, f: () => Promise<T>): Promise<T> {
  const mw = await (typeof pool === "number" ? verifyPool(pool) : pool);
  if (!mw) return f();
  const before = { verifyP256: platform.verifyP256, p256PointAsync: platform.p256PointAsync };
  // A failed batch rejects its checks: lib/x509 then checks with WebCrypto, key-match says unreadable.
  platform.verifyP256 = batched((items: VerifyItem[]) => mw.verify(items), (spki: Uint8Array, sig: Uint8Array, data: Uint8Array) => ({ spki, sig, data }), (ok) => ok === true);
  // The keys' d·G too (~45 µs each, 10,000 at a fleet's verify): this thread has the DER checks,
  // bundles and CRLs meanwhile, and ended alone on them.
  if (platform.p256Point) {
    platform.p256PointAsync = batched((ds: Uint8Array[]) => mw.points(ds), (d: Uint8Array) => d, (p): Uint8Array => {
      if (!p) throw new Error("not a P-256 private key");
      return p;
    });
  }
  try {
    return await f();
  } finally {
    platform.verifyP256 = before.verifyP256;
    platform.p256PointAsync = before.p256PointAsync;
    await mw.close();
  }
}

/** `count` workers for withVerifyWorkers, starting now (none for 0): a verify starts them before it parses the tree. */
export function verifyPool(count: number): Promise<MintWorkers | null> {
  return count > 0 ? MintWorkers.start(count) : Promise.resolve(null);
}

/**
 * A function of one item that sends the items asked for in one turn of the event loop (at most
 * VERIFY_BATCH) as one batch to `send`, and answers each from its place in the batch's answer.
 */
function batched<I, R, A extends unknown[], O>(send: (items: I[]) => Promise<readonly R[]>, item: (...a: A) => I, answer: (r: R | undefined) => O): (...a: A) => Promise<O> {
  let queue: { item: I; resolve(o: O): void; reject(e: unknown): void }[] = [];
  const flush = () => {
    const batch = queue;
    queue = [];
    if (!batch.length) return;
    send(batch.map((q) => q.item)).then(
      (rs) => batch.forEach((q, i) => {
        try {
          q.resolve(answer(rs[i]));
        } catch (e) {
          q.reject(e);
        }
      }),
      (e: unknown) => batch.forEach((q) => q.reject(e)),
    );
  };
  return (...a: A) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item: item(...a), resolve, reject });
      if (queue.length >= VERIFY_BATCH) flush();
      else if (queue.length === 1) setImmediate(flush);
    });
}

/** Signature checks per message to a worker. */
const VERIFY_BATCH = 128;

