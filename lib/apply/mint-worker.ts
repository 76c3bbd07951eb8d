// A worker thread that mints leaves: key pair, TBSCertificate, signature, certificate, for a
// batch at a time (lib/apply/mint-batch.ts, the code the main thread mints its own chunks with).
// It also checks batches of certificate signatures for `pki verify`, and runs a renewal's tamper
// check, given with its start data so it begins while the main thread plans.
// lib/apply/mint-workers.ts starts these for fleet-size runs; on the main thread alone each leaf
// cost about 160 µs of event-loop time (key generation, encoding, dispatching an async sign),
// which bounded a 10,000-leaf renewal to one core.
//
// The encoder is lib/x509/leaf-der.ts, the one the main thread uses: same checks, same bytes.
// The issuer's key reaches this thread as the CryptoKey the main thread opened (structured clone
// within one process); it never leaves the process and is never written.
import { verify } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import { p256Point, publicKeyOf } from "../node-crypto.ts";
import type { LeafTemplate } from "../x509/leaf-der.ts";
import type { Overwritten } from "../store/redo.ts";
import { batchMinter, mintBatch, type BatchMinter, type MintOrder, type MintReply } from "./mint-batch.ts";

export type { MintOrder, MintReply };

/** The role a worker is started with (workerData), so loading this file anywhere else does nothing. */
export const MINT_ROLE = "inforge-mint";

/** One ECDSA P-256/SHA-256 check for `pki verify`: r||s `sig` over `data` with the key of `spki`. */
export interface VerifyItem {
  readonly spki: Uint8Array;
  readonly sig: Uint8Array;
  readonly data: Uint8Array;
}

export type ToWorker =
  | { readonly kind: "issuer"; readonly ref: string; readonly template: LeafTemplate; readonly key: CryptoKey }
  | { readonly kind: "batch"; readonly id: number; readonly ref: string; readonly orders: readonly MintOrder[] }
  | { readonly kind: "verify"; readonly id: number; readonly items: readonly VerifyItem[] }
  | { readonly kind: "tamper"; readonly id: number; readonly dir: string; readonly domain: string | null; readonly shippedLeaves: boolean }
  /** A commit's overwrites, handed over before its commit point: held until `release` says go (or drop). */
  | { readonly kind: "hold"; readonly id: number; readonly files: readonly OverwriteOrder[] }
  | { readonly kind: "release"; readonly id: number; readonly go: boolean }
  | { readonly kind: "points"; readonly id: number; readonly ds: readonly Uint8Array[] };

/** A certificate a commit overwrites in place, past its commit point (lib/store/redo.ts overwrite). */
export interface OverwriteOrder {
  readonly abs: string;
  readonly content: string;
  readonly mode: number;
}

/** `setup`: this thread cannot sign with the key it was given (the runtime cannot pass it); the batch may be minted elsewhere. */
export type FromWorker =
  | { readonly kind: "ready" }
  | { readonly kind: "done"; readonly id: number; readonly leaves: readonly MintReply[] }
  | { readonly kind: "verified"; readonly id: number; readonly ok: readonly boolean[] }
  | { readonly kind: "untampered"; readonly id: number }
  | { readonly kind: "overwritten"; readonly id: number; readonly written: readonly Overwritten[] }
  | { readonly kind: "points"; readonly id: number; readonly points: readonly (Uint8Array | null)[] }
  | { readonly kind: "failed"; readonly id: number; readonly setup: boolean; readonly error: WorkerError };

/** An error as it crosses back: its class name, message and the fields of a system error. */
export interface WorkerError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly path?: string;
  readonly syscall?: string;
}

function errorOf(e: unknown): WorkerError {
  const x = e as { name?: unknown; message?: unknown; code?: unknown; path?: unknown; syscall?: unknown } | null;
  const text = (v: unknown) => (typeof v === "string" ? v : undefined);
  const [code, path, syscall] = [text(x?.code), text(x?.path), text(x?.syscall)];
  return {
    name: text(x?.name) ?? "Error", message: text(x?.message) ?? String(e),
    ...(code ? { code } : {}), ...(path ? { path } : {}), ...(syscall ? { syscall } : {}),
  };
}

/** Answer the main thread's requests; `first` (given with the start data) is begun at once. */
function serve(port: NonNullable<typeof parentPort>, first?: ToWorker): void {
  const issuers = new Map<string, BatchMinter | Error>();
  const held = new Map<number, readonly OverwriteOrder[]>();
  const reply = (m: FromWorker) => port.postMessage(m);

  const handle = (m: ToWorker) => {
    if (m.kind === "tamper") {
      // The pipeline's tamper check (lib/store/tamper.ts), loaded when first asked for.
      void (async () => {
        const [{ FsStore }, { assertUntampered }] = await Promise.all([import("../store/fs-store.ts"), import("../store/tamper.ts")]);
        await assertUntampered(new FsStore(m.dir, { domain: m.domain }), { shippedLeaves: m.shippedLeaves, yields: false });
      })().then(
        () => reply({ kind: "untampered", id: m.id }),
        (e: unknown) => reply({ kind: "failed", id: m.id, setup: false, error: errorOf(e) }),
      );
      return;
    }
    if (m.kind === "hold") {
      // Received (and its 4 MB of text copied in) while this thread is idle and the main one
      // still writes the redo log; written on `release`, past the commit point, or dropped.
      held.set(m.id, m.files);
      return;
    }
    if (m.kind === "release") {
      // Half of a fleet commit's certificates, while the main thread writes the other half.
      const files = held.get(m.id);
      held.delete(m.id);
      if (!m.go) return;
      void import("../store/redo.ts").then(({ overwrite }) => {
        if (!files) throw new Error(`internal: no overwrites held as ${m.id}`);
        return files.map((f) => overwrite(f.abs, f.content, f.mode));
      }).then(
        (written) => reply({ kind: "overwritten", id: m.id, written }),
        (e: unknown) => reply({ kind: "failed", id: m.id, setup: false, error: errorOf(e) }),
      );
      return;
    }
    if (m.kind === "points") {
      // d·G for `pki verify`'s key checks (lib/x509/key-match.ts); null where d is no P-256 key.
      const points = m.ds.map((d) => {
        try {
          return p256Point(d);
        } catch {
          return null;
        }
      });
      reply({ kind: "points", id: m.id, points });
      return;
    }
    if (m.kind === "verify") {
      try {
        const ok = m.items.map((i) => verify("sha256", i.data, { key: publicKeyOf(i.spki), dsaEncoding: "ieee-p1363" }, i.sig));
        reply({ kind: "verified", id: m.id, ok });
      } catch (e) {
        reply({ kind: "failed", id: m.id, setup: true, error: { name: "Error", message: e instanceof Error ? e.message : String(e) } });
      }
      return;
    }
    if (m.kind === "issuer") {
      try {
        issuers.set(m.ref, batchMinter(m.template, m.key));
      } catch (e) {
        issuers.set(m.ref, e instanceof Error ? e : new Error(String(e)));
      }
      return;
    }
    const iss = issuers.get(m.ref);
    if (!iss || iss instanceof Error) {
      const why = iss ? iss.message : `no issuer ${m.ref} was sent`;
      reply({ kind: "failed", id: m.id, setup: true, error: { name: "Error", message: why } });
      return;
    }
    try {
      reply({ kind: "done", id: m.id, leaves: mintBatch(iss, m.orders) });
    } catch (e) {
      reply({ kind: "failed", id: m.id, setup: false, error: errorOf(e) });
    }
  };
  port.on("message", handle);
  reply({ kind: "ready" });
  if (first) handle(first);
}

const data = workerData as { role?: string; first?: ToWorker } | null;
if (parentPort && data?.role === MINT_ROLE) serve(parentPort, data.first);
