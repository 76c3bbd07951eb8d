import { StateError } from "../errors.ts";
import * as P from "../model/paths.ts";
import { sha256 } from "./journal.ts";

// Leaf manifests: the bounded journal. A journal entry used to list every file its run wrote, so
// a fleet renewal of 10,000 leaves appended about 1.1 MB to the journal (one path and digest per
// certificate), and every later tamper check and verify replayed all of that history. Now a
// commit that writes leaf certificates writes, per scope, leaves/<scope>/manifest.json: the
// digest of every leaf certificate of that scope, carried forward from the previous manifest.
// The entry records the manifest's own digest instead of one line per certificate, so an entry
// holds O(scopes) lines whatever the fleet size, and the latest manifest of each scope is a
// checkpoint of its certificates: what a file must hold is read off the manifest (O(files on
// disk)), not off every entry since the first.
//
// The manifest is itself a recorded file: editing it, or a certificate it lists, breaks the
// digest the journal (hash-chained) recorded, exactly as editing a directly recorded file does.

export const MANIFEST_FORMAT = "inforge.leaf-manifest/v1";

/** A leaf certificate (minted or CSR-signed): the files a manifest records. */
const CERT_NAME_RE = String.raw`[A-Za-z0-9][A-Za-z0-9._-]*\.crt\.pem`;
const LEAF_CERT = new RegExp(String.raw`^leaves/([^/]+)/(${CERT_NAME_RE})$`);
const CERT_NAME = new RegExp(`^${CERT_NAME_RE}$`);
const MANIFEST = /^leaves\/([^/]+)\/manifest\.json$/;
const DIGEST = /^[0-9a-f]{64}$/;

/** The scope of a file a manifest records instead of the journal entry, or null. */
export function manifestScope(path: string): string | null {
  return LEAF_CERT.exec(path)?.[1] ?? null;
}

/** The manifests a commit writing `paths` rewrites (one per scope it writes leaf certificates of). */
export function manifestsOf(paths: readonly string[]): string[] {
  return [...new Set(paths.map(manifestScope).filter((s): s is string => s !== null))].map(P.leafManifest);
}

/** The scope whose manifest `path` is, or null. */
export const isManifest = (path: string): string | null => MANIFEST.exec(path)?.[1] ?? null;

/**
 * A scope's manifest text from its certificates' digests (by path): sorted, one certificate a
 * line, so git stores a renewal as a line diff. The text JSON.stringify(…, null, 1) gives, put
 * together line by line (a fleet commit encodes 10,000 lines: a third of the time).
 */
export function encodeManifest(scope: string, files: ReadonlyMap<string, string>): string {
  const dir = `leaves/${scope}/`;
  const lines: string[] = [];
  for (const path of [...files.keys()].sort()) {
    if (!path.startsWith(dir)) throw new StateError(`internal: "${path}" is not a file of scope "${scope}"`);
    lines.push(`  ${JSON.stringify(path.slice(dir.length))}: ${JSON.stringify(files.get(path))}`);
  }
  const listed = lines.length ? `{\n${lines.join(",\n")}\n }` : "{}";
  return `{\n "format": ${JSON.stringify(MANIFEST_FORMAT)},\n "scope": ${JSON.stringify(scope)},\n "files": ${listed}\n}\n`;
}

/** The digests a manifest lists, by path relative to the pki directory; a malformed one is a StateError. */
export function decodeManifest(text: string, path: string): Map<string, string> {
  const scope = isManifest(path);
  let data: { format?: unknown; scope?: unknown; files?: unknown };
  try {
    data = JSON.parse(text) as typeof data;
  } catch {
    throw new StateError(`${path} is not a leaf manifest (not JSON); restore it from git`);
  }
  if (data.format !== MANIFEST_FORMAT || data.scope !== scope || typeof data.files !== "object" || data.files === null || Array.isArray(data.files)) {
    throw new StateError(`${path} is not the leaf manifest of scope "${scope}" (format ${JSON.stringify(data.format)}, scope ${JSON.stringify(data.scope)}); restore it from git`);
  }
  const out = new Map<string, string>();
  const dir = `leaves/${scope}/`;
  for (const [name, digest] of Object.entries(data.files as Record<string, unknown>)) {
    // A leaf certificate's name (LEAF_CERT's, a scope given: no "/" in it), and its sha256.
    if (!CERT_NAME.test(name) || typeof digest !== "string" || !DIGEST.test(digest)) {
      throw new StateError(`${path} lists ${JSON.stringify(name)} with ${JSON.stringify(digest)}, not a leaf certificate's name and sha256; restore it from git`);
    }
    out.set(dir + name, digest);
  }
  return out;
}

export interface Written {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
  /** SHA-256 (hex) of `content`, where the writer had it already. */
  readonly sha256?: string;
}

export interface Folded {
  /** Everything to stage: the writes, then one new manifest per scope that gained certificates. */
  readonly staged: Written[];
  /** What the journal entry lists: every write but the leaf certificates, and the manifests. */
  readonly journaled: { path: string; sha256: string }[];
  /** The leaf certificates the manifests record (renamed into place with the rest). */
  readonly folded: { path: string; sha256: string }[];
}

/**
 * Fold a commit's leaf certificates into their scopes' manifests. `read` returns a scope's
 * current manifest (checked against the journal by the tamper check that runs before every plan);
 * the new one carries its digests forward and adds the new ones.
 */
export async function foldWrites(writes: readonly Written[], read: (path: string) => Promise<string | null>): Promise<Folded> {
  // Each certificate is hashed once: its digest goes both to the pending record and to its manifest.
  const byScope = new Map<string, { path: string; sha256: string }[]>();
  const journaled: { path: string; sha256: string }[] = [];
  const folded: { path: string; sha256: string }[] = [];
  for (const w of writes) {
    const scope = manifestScope(w.path);
    if (scope === null && isManifest(w.path) !== null) throw new StateError(`internal: the plan writes the leaf manifest "${w.path}" itself`);
    const rec = { path: w.path, sha256: w.sha256 ?? sha256(w.content) };
    if (scope === null) journaled.push(rec);
    else {
      folded.push(rec);
      let list = byScope.get(scope);
      if (!list) byScope.set(scope, (list = []));
      list.push(rec);
    }
  }
  const manifests: Written[] = [];
  // Read all at once: one after the other, 20 scopes' reads were a third of a fleet's fold.
  const olds = await Promise.all([...byScope.keys()].map((scope) => read(P.leafManifest(scope))));
  let n = 0;
  for (const [scope, recs] of byScope) {
    const path = P.leafManifest(scope);
    const old = olds[n++] ?? null;
    const files = old === null ? new Map<string, string>() : decodeManifest(old, path);
    for (const r of recs) files.set(r.path, r.sha256);
    const m = { path, content: encodeManifest(scope, files), mode: 0o644 };
    manifests.push(m);
    journaled.push({ path, sha256: sha256(m.content) });
  }
  return { staged: [...writes, ...manifests], journaled, folded };
}

/** What a record says a file must hold; `n` orders records (commit order, lib/check/verify-rules.ts latestWrites). */
export interface OrderedRecord {
  readonly sha256: string;
  readonly seq: number;
  readonly command: string;
  readonly n: number;
}

/**
 * `written` (the journals' direct records) with each recorded manifest's listing added: a file a
 * manifest lists is vouched for by the entry that recorded the manifest, unless a later entry
 * recorded it directly. A manifest whose bytes are not the recorded ones vouches for nothing (its
 * own record reports it). Returns the manifests that were not trusted.
 */
export async function expandManifests<R extends OrderedRecord>(written: Map<string, R>, read: (path: string) => Promise<string | null>): Promise<string[]> {
  const untrusted: string[] = [];
  // Read all at once (a tamper check's 20 scopes one after the other waited 20 round trips).
  const manifests = [...written].filter(([path]) => isManifest(path) !== null);
  const texts = await Promise.all(manifests.map(([path]) => read(path)));
  for (const [n, [path, rec]] of manifests.entries()) {
    const text = texts[n] ?? null;
    if (text === null || sha256(text) !== rec.sha256) {
      untrusted.push(path);
      continue;
    }
    for (const [file, digest] of decodeManifest(text, path)) {
      const direct = written.get(file);
      if (!direct || direct.n < rec.n) written.set(file, { ...rec, sha256: digest });
    }
  }
  return untrusted;
}

/**
 * The leaf certificates a pending record (an interrupted commit) names beside its entry: only
 * leaf certificate paths with a sha256 each; null when malformed. Absent (a record written before
 * manifests) is none.
 */
export function pendingFolded(rec: { folded?: unknown }): { path: string; sha256: string }[] | null {
  if (rec.folded === undefined) return [];
  if (!Array.isArray(rec.folded)) return null;
  const out: { path: string; sha256: string }[] = [];
  for (const f of rec.folded as { path?: unknown; sha256?: unknown }[]) {
    if (typeof f?.path !== "string" || manifestScope(f.path) === null || typeof f.sha256 !== "string" || !DIGEST.test(f.sha256)) return null;
    out.push({ path: f.path, sha256: f.sha256 });
  }
  return out;
}
