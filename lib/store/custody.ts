import { InputError, StateError } from "../errors.ts";
import { checkCustody, type CustodyVerdict } from "../check/custody.ts";
import { parseRootPins, type CustodyRecord } from "../model/custody-record.ts";
import * as P from "../model/paths.ts";
import type { Snapshot } from "../model/state.ts";
import type { Store } from "./fs-store.ts";
import { granted } from "../runtime.ts";

// The reading side of the custody checks (lib/check/custody.ts): custody.json, the root
// certificates and cross certificates, bundles/root.pem and INFORGE_ROOT_FINGERPRINT. Every
// command that reads the tree calls assertCustody before it plans, delivers or reports anything.

type Env = Readonly<Record<string, string | undefined>>;

/** A custody record whose signature verified with a live (and, when pinned, anchored) root. */
export interface VerifiedCustody {
  readonly record: CustodyRecord;
  /** The recipients the root signed: the only ones anything may be sealed to. */
  readonly recipients: { readonly root: string; readonly ci: string };
}

export interface CustodyOptions {
  /** False for `pki config`: pki.json may differ (that is what it signs); the record must still be genuine. */
  readonly compareFields?: boolean;
  /** Read-only reports (status) go on without a record; mutating runs never do. */
  readonly allowMissing?: boolean;
}

export const PIN_VAR = "INFORGE_ROOT_FINGERPRINT";

/** The pinned root fingerprints, null when none are set. A malformed value is refused, never ignored. */
export function rootPins(env: Env): string[] | null {
  if (!granted({ name: "env", variable: PIN_VAR })) {
    // Ignoring it would silently drop the anchor check of a CI that set it.
    throw new InputError(`deno may not read ${PIN_VAR}, the pinned root fingerprint(s); add it to --allow-env (README "Runtimes" lists every variable inforge reads)`);
  }
  const pins = parseRootPins(env[PIN_VAR]);
  if (pins && "bad" in pins) {
    const shown = pins.bad.length > 80 ? pins.bad.slice(0, 80) + "…" : pins.bad;
    throw new InputError(`${PIN_VAR} holds ${JSON.stringify(shown)}, which is not a SHA-256 certificate fingerprint (64 hex digits, as inforge pki init and inforge pki status print it); give one or more, comma separated`);
  }
  return pins;
}

/** Gather what the checks need and run them; the caller decides what to refuse. */
export async function custodyVerdict(store: Store, snapshot: Snapshot, env: Env, o: CustodyOptions = {}): Promise<CustodyVerdict | null> {
  const config = snapshot.config;
  if (!config) return null;
  const pins = rootPins(env);
  const rootCerts = new Map<number, string | null>();
  await Promise.all(snapshot.root.generations.map(async (g) => rootCerts.set(g.gen, await store.read(P.rootCert(g.gen)))));
  const crossCerts: { gen: number; by: number; pem: string }[] = [];
  for (const name of await store.list("root")) {
    const m = /^G(\d+)-by-G(\d+)\.crt\.pem$/.exec(name);
    const pem = m ? await store.read(`root/${name}`) : null;
    if (m && pem !== null) crossCerts.push({ gen: Number(m[1]), by: Number(m[2]), pem });
  }
  return checkCustody({
    config, root: snapshot.root, rootCerts, crossCerts, pins,
    recordText: await store.read(P.CUSTODY),
    rootBundle: await store.read(P.bundle("root")),
    compareFields: o.compareFields ?? true,
  });
}

/**
 * Refuse (one sentence, nothing changed) a tree whose pki.json is not what the root signed, whose
 * record is forged, or whose roots are not anchored on INFORGE_ROOT_FINGERPRINT. Returns the
 * verified record, or null for an uninitialised directory (or, with allowMissing, a tree from
 * before custody.json). Notes (a root trusted only through its cross certificate) go to `note`.
 */
export async function assertCustody(store: Store, snapshot: Snapshot, env: Env, o: CustodyOptions & { note?: (s: string) => void } = {}): Promise<VerifiedCustody | null> {
  const v = await custodyVerdict(store, snapshot, env, o);
  if (!v) return null;
  const issue = v.issues.find((i) => !(o.allowMissing && i.code === "custody.missing"));
  if (issue) throw new StateError(issue.message);
  for (const n of v.notes) o.note?.(n);
  if (!v.record) return null;
  const r = v.record.config.recipients as { root?: unknown; ci?: unknown } | undefined;
  if (typeof r?.root !== "string" || typeof r.ci !== "string") {
    throw new StateError(`${P.CUSTODY} signs no recipients; sign pki.json again with inforge pki config on the offline workstation (root posture) — nothing was changed`);
  }
  return { record: v.record, recipients: { root: r.root, ci: r.ci } };
}
