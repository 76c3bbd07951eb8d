// Worker threads that mint leaves (lib/apply/mint-worker.ts), for fleet-size runs. The main
// thread hands out batches of issue-leaf steps and records the replies; a reply is certificates
// and key PEMs only, so nothing the store or the journal sees changes with where a leaf was made.
//
// Where the worker file is: beside this one with the same extension — dist/cli/*.mjs and
// dist/deno/*.js from the bundles (scripts/build.ts and scripts/build-deno.ts build it as an entry
// of its own), lib/apply/mint-worker.ts from the sources under Deno, and under Node the sources'
// entry mint-worker-tsx.mjs, which registers tsx in the worker first. A worker that cannot start here (no
// worker_threads, a loader it cannot get) makes `start` return null and the run mints on the
// main thread, as it always could.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { X509Error } from "../x509/errors.ts";
import type { LeafTemplate } from "../x509/leaf-der.ts";
import { MINT_ROLE, type FromWorker, type MintOrder, type MintReply, type ToWorker } from "./mint-worker.ts";

/** Leaves per batch: enough that a message round trip is noise, few enough to spread over the workers. */
export const MINT_BATCH = 256;

/**
 * Workers for a plan of `leaves` issue-leaf steps. By default none below `from` leaves (starting a
 * worker costs tens of milliseconds) or on one core, otherwise one per core, at most 4.
 * `requested` (the INFORGE_MINT_WORKERS setting, e.g. for a CI container whose CPU quota is below
 * the host's core count) is that many for any plan that issues leaves; 0 mints on the main thread.
 */
export function mintWorkerCount(leaves: number, from: number, requested?: number): number {
  if (leaves < 1) return 0;
  if (requested !== undefined) return Math.max(0, Math.min(16, Math.floor(requested)));
  if (leaves < from) return 0;
  const cores = availableParallelism();
  return cores < 2 ? 0 : Math.min(cores, 4);
}

/** The worker could not sign with the key it was given: mint that batch on the main thread instead. */
export class WorkerSetupError extends Error {}

interface Slot {
  readonly worker: Worker;
  /** Issuers this worker has been sent. */
  readonly refs: Set<string>;
  inFlight: number;
  readonly waiting: Map<number, { resolve(r: readonly MintReply[]): void; reject(e: unknown): void }>;
}

export class MintWorkers {
  private nextId = 0;
  private readonly slots: readonly Slot[];
  private constructor(slots: readonly Slot[]) {
    this.slots = slots;
  }

  get size(): number {
    return this.slots.length;
  }

  /** `count` workers, each loaded and answering; null when they cannot start on this runtime. */
  static async start(count: number): Promise<MintWorkers | null> {
    const url = workerUrl();
    if (!url || count < 1) return null;
    const slots: Slot[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const worker = new Worker(url, { workerData: { role: MINT_ROLE } });
        slots.push({ worker, refs: new Set(), inFlight: 0, waiting: new Map() });
      }
      await Promise.all(slots.map((s) => ready(s.worker)));
    } catch (e) {
      if (process.env.INFORGE_DEBUG_WORKERS) console.error(e);
      await Promise.all(slots.map((s) => s.worker.terminate().catch(() => 0)));
      return null;
    }
    const pool = new MintWorkers(slots);
    for (const s of slots) pool.listen(s);
    return pool;
  }

  /** Mint `orders` under the issuer `ref` (its template and private key) on the least busy worker. */
  mint(ref: string, template: LeafTemplate, key: CryptoKey, orders: readonly MintOrder[]): Promise<readonly MintReply[]> {
    const slot = this.slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      try {
        if (!slot.refs.has(ref)) {
          post(slot, { kind: "issuer", ref, template, key });
          slot.refs.add(ref);
        }
        slot.waiting.set(id, { resolve, reject });
        slot.inFlight++;
        post(slot, { kind: "batch", id, ref, orders });
      } catch (e) {
        // The runtime could not pass the key (or the message) to the thread.
        slot.waiting.delete(id);
        reject(new WorkerSetupError(e instanceof Error ? e.message : String(e)));
      }
    });
  }

  /** Stop every worker (batches still waiting are rejected). */
  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate().catch(() => 0)));
  }

  private listen(s: Slot): void {
    s.worker.on("message", (m: FromWorker) => {
      if (m.kind === "ready") return;
      const w = s.waiting.get(m.id);
      if (!w) return;
      s.waiting.delete(m.id);
      s.inFlight--;
      if (m.kind === "done") return w.resolve(m.leaves);
      w.reject(m.setup ? new WorkerSetupError(m.error.message) : rebuild(m.error));
    });
    const fail = (e: unknown) => {
      for (const w of s.waiting.values()) w.reject(e);
      s.waiting.clear();
    };
    s.worker.on("error", fail);
    s.worker.on("exit", (code) => fail(new Error(`a leaf-minting worker thread exited (code ${code}) with batches unfinished`)));
  }
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
function rebuild(e: { name: string; message: string; code?: string }): Error {
  if (e.name === "X509Error") return new X509Error(e.message, e.code as ConstructorParameters<typeof X509Error>[1]);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

function workerUrl(): URL | null {
  const own = import.meta.url;
  const ext = /\.(ts|mjs|js)$/.exec(own)?.[0];
  if (!ext) return null;
  // From the sources under Node, through the entry that registers tsx in the worker first.
  const deno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  return new URL(ext === ".ts" && !deno ? "./mint-worker-tsx.mjs" : `./mint-worker${ext}`, own);
}
