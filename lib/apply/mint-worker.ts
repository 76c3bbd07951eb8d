// A worker thread that mints leaves: key pair, TBSCertificate, signature, certificate, for a
// batch at a time. It also checks batches of certificate signatures for `pki verify`, and runs a
// renewal's tamper check while the main thread stages the commit. lib/apply/mint-workers.ts
// starts these for fleet-size runs; on the main thread each leaf cost about 160 µs of event-loop
// time (key generation, encoding, dispatching an async sign), which bounded a 10,000-leaf
// renewal to one core. Here everything is synchronous and the main thread only records what
// comes back.
//
// The encoder is lib/x509/leaf-der.ts, the one the main thread uses: same checks, same bytes.
// The issuer's key reaches this thread as the CryptoKey the main thread opened (structured clone
// within one process); it never leaves the process and is never written.
import { createECDH, KeyObject, sign, verify } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import { digest, publicKeyOf } from "../node-crypto.ts";
import { leafEncoder, leafKeyFromParts, type LeafEncoder, type LeafHashes, type LeafRequest, type LeafTemplate } from "../x509/leaf-der.ts";

/** The role a worker is started with (workerData), so loading this file anywhere else does nothing. */
export const MINT_ROLE = "inforge-mint";

/** One leaf to mint: a LeafRequest without its key (the worker makes it), times as ISO text. */
export type MintOrder = Omit<LeafRequest, "spki" | "serial" | "notBefore" | "notAfter"> & { readonly notBefore: string; readonly notAfter: string };

/** A minted leaf: its certificate (PEM, serial, fingerprint) and its key (PKCS#8 PEM, for sealing). */
export interface MintReply {
  readonly pem: string;
  readonly serial: string;
  readonly fingerprint: string;
  readonly key: string;
}

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
  | { readonly kind: "tamper"; readonly id: number; readonly dir: string; readonly domain: string | null; readonly shippedLeaves: boolean };

/** `setup`: this thread cannot sign with the key it was given (the runtime cannot pass it); the batch may be minted elsewhere. */
export type FromWorker =
  | { readonly kind: "ready" }
  | { readonly kind: "done"; readonly id: number; readonly leaves: readonly MintReply[] }
  | { readonly kind: "verified"; readonly id: number; readonly ok: readonly boolean[] }
  | { readonly kind: "untampered"; readonly id: number }
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

// node:crypto's digests: 1–2 µs a leaf against 17 µs in JavaScript (measured in a worker's profile).
const NATIVE: LeafHashes = { sha1: (d) => digest("sha1", d), sha256: (d) => digest("sha256", d) };

interface Prepared {
  readonly enc: LeafEncoder;
  readonly key: KeyObject | Error;
}

function serve(port: NonNullable<typeof parentPort>): void {
  const issuers = new Map<string, Prepared>();
  const ecdh = createECDH("prime256v1");
  const reply = (m: FromWorker) => port.postMessage(m);

  port.on("message", (m: ToWorker) => {
    if (m.kind === "tamper") {
      // The pipeline's tamper check (lib/store/tamper.ts), loaded when first asked for.
      void (async () => {
        const [{ FsStore }, { assertUntampered }] = await Promise.all([import("../store/fs-store.ts"), import("../store/tamper.ts")]);
        await assertUntampered(new FsStore(m.dir, { domain: m.domain }), { shippedLeaves: m.shippedLeaves });
      })().then(
        () => reply({ kind: "untampered", id: m.id }),
        (e: unknown) => reply({ kind: "failed", id: m.id, setup: false, error: errorOf(e) }),
      );
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
      let key: KeyObject | Error;
      try {
        key = KeyObject.from(m.key);
      } catch (e) {
        key = e instanceof Error ? e : new Error(String(e));
      }
      issuers.set(m.ref, { enc: leafEncoder(m.template, NATIVE), key });
      return;
    }
    const iss = issuers.get(m.ref);
    if (!iss || iss.key instanceof Error) {
      const why = iss ? (iss.key as Error).message : `no issuer ${m.ref} was sent`;
      reply({ kind: "failed", id: m.id, setup: true, error: { name: "Error", message: why } });
      return;
    }
    try {
      const leaves: MintReply[] = [];
      for (const o of m.orders) {
        // The generate and get are one synchronous pair: nothing else uses this ECDH in between.
        const point = ecdh.generateKeys();
        const k = leafKeyFromParts(ecdh.getPrivateKey(), point);
        const u = iss.enc.tbs({ ...o, spki: k.spki, notBefore: new Date(o.notBefore), notAfter: new Date(o.notAfter) });
        const c = iss.enc.finish(u, sign("sha256", u.tbs, { key: iss.key, dsaEncoding: "ieee-p1363" }));
        leaves.push({ pem: c.pem, serial: c.serial, fingerprint: c.fingerprint, key: k.pkcs8Pem });
      }
      reply({ kind: "done", id: m.id, leaves });
    } catch (e) {
      reply({ kind: "failed", id: m.id, setup: false, error: errorOf(e) });
    }
  });
  reply({ kind: "ready" });
}

if (parentPort && (workerData as { role?: string } | null)?.role === MINT_ROLE) serve(parentPort);
