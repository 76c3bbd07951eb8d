// Lock domains: which runs may write the pki directory at the same time.
//
// A run that only touches one scope's own files — a CI renewal of one region — takes that
// scope's lock (.lock-<scope>) and journals to its own journal, so one CI job per region
// can renew in parallel without waiting for, or writing, each other's files. Everything else
// (root posture, a fleet-wide renewal, and any run whose plan turns out to write a shared file:
// a retirement that changes bundles/global.pem, say) takes the whole directory (.lock), which
// excludes every scope lock, and journals to journal/pki.jsonl.
// (Scope journals: journal/scopes/<scope>.jsonl.)
//
// A scope's files: leaves/<scope>/…, scopes/<scope>/…, its bundle in every format,
// bundles/<scope>.{pem,spiffe.json,configmap.yaml}, its trust domain's
// bundles/trust-domains/<scope>.<domain>.pem, its CRL, crl/<scope>.crl.pem, and its last probe
// record, probes/<scope>.json (lib/model/probes.ts).
// bundles/global.pem is the global scope's file: a region run that would change it (its region's membership changed) is therefore outside
// its region and runs under the directory lock — which is also what keeps every writer of
// global.pem from racing. A scope run reads other scopes' files (the global intermediate for its
// bundle) but those change only under the directory lock, which cannot be held meanwhile.

/** A lock domain: one scope's name, or null for the whole directory. */
export type Domain = string | null;

/** The scope whose own file `path` is, or null for a shared file (pki.json, root/, crl/, root bundle). */
export function scopeOfPath(path: string): string | null {
  // crl/<scope>.crl.pem is signed by the scope's own intermediates in its CI runs; crl/root.crl.pem is shared.
  const m = /^(?:leaves|scopes)\/([^/]+)\//.exec(path) ?? /^bundles\/(?:trust-domains\/)?([^/.]+)\.[^/]+$/.exec(path) ?? /^crl\/([^/.]+)\.crl\.pem$/.exec(path) ?? /^probes\/([^/.]+)\.json$/.exec(path);
  if (!m || m[1] === "root") return null;
  return m[1]!;
}

/** True when every file in `writes` belongs to `scope`. */
export function writesWithin(writes: Iterable<string>, scope: string): boolean {
  for (const w of writes) if (scopeOfPath(w) !== scope) return false;
  return true;
}

// Scope journals sit in their own directory, so no scope name can collide with pki.jsonl.
export const lockFile = (d: Domain) => (d === null ? ".lock" : `.lock-${d}`);
/** A journal entry named by its journal, as runs print it: "pki#12" (the directory's) or "eu#1" (a scope's). */
export const entryRef = (d: Domain, seq: number) => `${d ?? "pki"}#${seq}`;
export const journalFile = (d: Domain) => (d === null ? "journal/pki.jsonl" : `journal/scopes/${d}.jsonl`);
export const pendingFile = (d: Domain) => (d === null ? "journal/pending.json" : `journal/scopes/${d}.pending.json`);
/** Suffix of a commit's redo log (lib/store/redo.ts), beside its pending record. */
export const REDO = ".redo";
export const redoFile = (d: Domain) => (d === null ? `journal/pending${REDO}` : `journal/scopes/${d}.pending${REDO}`);
