import { bundleMembers, bundleNames, type Ref } from "../model/bundles.ts";
import * as P from "../model/paths.ts";
import type { Generation, Snapshot } from "../model/state.ts";
import { checkState, pendingWork } from "./check-state.ts";

// The pure half of `inforge pki verify`: what the files on disk must be, given the state, and
// how a difference reads. lib/cli/verify.ts reads the files, parses and opens them, and feeds
// what it saw to these rules; nothing here does I/O or crypto.

export type Severity = "error" | "warning";

/** One thing verify found: a stable code, a severity (only errors fail), the file, one sentence. */
export interface Finding {
  readonly code: string;
  readonly severity: Severity;
  readonly file?: string;
  readonly message: string;
}

export const error = (code: string, message: string, file?: string): Finding => ({ code, severity: "error", ...(file ? { file } : {}), message });
export const warning = (code: string, message: string, file?: string): Finding => ({ code, severity: "warning", ...(file ? { file } : {}), message });

/** What the state says about one certificate of the tree, and where its pieces live. */
export interface CertRecord {
  readonly what: string; // "root G1", "eu G2", "leaf eu/payments"
  readonly cert: string;
  /** The sealed key beside it (null: the cross-signed root, whose key is the new root's). */
  readonly key: string | null;
  /** Which identity opens the key: root keys are sealed to the root recipient, the rest to CI. */
  readonly posture: "root" | "ci";
  /** The certificate that must have signed it; null for a self-signed root. */
  readonly issuer: string | null;
  readonly serial: string;
  readonly fingerprint: string;
  readonly notBefore: string | null;
  readonly notAfter: string | null;
  /** Names the certificate must carry (leaves) or permit (intermediates), from its scope. */
  readonly dns?: string;
  readonly uri?: string;
  readonly permitted?: string;
  /** A leaf: its key is an entry of the scope's key file (P.leafKeys), or a file of its own (P.leafKey) in older trees. */
  readonly leaf?: { readonly scope: string; readonly service: string };
}

/** Every certificate the state records (every generation, live or not, every leaf, the cross-signed root). */
export function certRecords(s: Snapshot): CertRecord[] {
  const out: CertRecord[] = [];
  const domain = s.config?.domain ?? "";
  const dated = (g: { serial: string; fingerprint: string; notBefore: string; notAfter: string }) =>
    ({ serial: g.serial, fingerprint: g.fingerprint, notBefore: g.notBefore, notAfter: g.notAfter });
  for (const g of s.root.generations) {
    out.push({ what: `root G${g.gen}`, cert: P.rootCert(g.gen), key: P.rootKey(g.gen), posture: "root", issuer: null, ...dated(g) });
  }
  const x = s.root.crossSigned;
  if (x) {
    out.push({ what: `root G${x.gen} cross-signed by G${x.by}`, cert: P.crossCert(x.gen, x.by), key: null, posture: "root", issuer: P.rootCert(x.by), serial: "", fingerprint: x.fingerprint, notBefore: null, notAfter: null });
  }
  for (const scope of Object.keys(s.scopes).sort()) {
    for (const g of s.scopes[scope]!.generations) {
      out.push({
        what: `${scope} G${g.gen}`, cert: P.intermediateCert(scope, g.gen), key: P.intermediateKey(scope, g.gen), posture: "ci",
        issuer: g.issuer === null ? null : P.rootCert(g.issuer), ...dated(g), permitted: `${scope}.${domain}`,
      });
    }
  }
  for (const scope of Object.keys(s.leaves).sort()) {
    for (const [svc, l] of Object.entries(s.leaves[scope]!.leaves).sort(([a], [b]) => a.localeCompare(b))) {
      out.push({
        what: `leaf ${scope}/${svc}`, cert: P.leafCert(scope, svc), key: P.leafKey(scope, svc), posture: "ci",
        issuer: P.intermediateCert(scope, l.gen), ...dated(l), dns: `${svc}.${scope}.${domain}`, uri: `spiffe://${scope}.${domain}/svc/${svc}`,
        leaf: { scope, service: svc },
      });
    }
    // Leaves of workloads that keep their own key (pki sign-csr): a certificate and no sealed key.
    for (const [svc, l] of Object.entries(s.leaves[scope]!.csr ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      out.push({
        what: `leaf ${scope}/${svc} (csr)`, cert: P.csrLeafCert(scope, svc), key: null, posture: "ci",
        issuer: P.intermediateCert(scope, l.gen), ...dated(l), dns: `${svc}.${scope}.${domain}`, uri: `spiffe://${scope}.${domain}/svc/${svc}`,
      });
    }
  }
  return out;
}

/** What parsing a certificate file showed (lib/x509's CertInfo, narrowed). */
export interface SeenCert {
  readonly serial: string;
  readonly fingerprint: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly dns: readonly string[];
  readonly uris: readonly string[];
  readonly permittedDns: readonly string[];
}

const hexEq = (a: string, b: string) => a.replace(/^0+/, "").toLowerCase() === b.replace(/^0+/, "").toLowerCase();

/** The certificate on disk must be the one the state records: same fingerprint, serial, dates and names. */
export function compareCert(r: CertRecord, c: SeenCert): Finding[] {
  const out: Finding[] = [];
  const differs: string[] = [];
  if (r.fingerprint && c.fingerprint !== r.fingerprint) differs.push(`fingerprint ${c.fingerprint.slice(0, 16)}… (recorded ${r.fingerprint.slice(0, 16)}…)`);
  if (r.serial && !hexEq(c.serial, r.serial)) differs.push(`serial ${c.serial} (recorded ${r.serial})`);
  if (r.notBefore && c.notBefore.getTime() !== Date.parse(r.notBefore)) differs.push(`notBefore ${c.notBefore.toISOString()} (recorded ${r.notBefore})`);
  if (r.notAfter && c.notAfter.getTime() !== Date.parse(r.notAfter)) differs.push(`notAfter ${c.notAfter.toISOString()} (recorded ${r.notAfter})`);
  if (differs.length) {
    out.push(error("cert.record-mismatch", `${r.cert} is not the certificate the state records for ${r.what}: ${differs.join(", ")}; restore it from git`, r.cert));
  }
  if (r.dns && (!c.dns.includes(r.dns) || (r.uri && !c.uris.includes(r.uri)))) {
    out.push(error("cert.names", `${r.cert} does not carry ${r.dns} and ${r.uri}, the names of ${r.what}; restore it from git`, r.cert));
  }
  if (r.permitted && !c.permittedDns.includes(r.permitted)) {
    out.push(error("cert.names", `${r.cert} does not constrain its names to ${r.permitted}, its scope; restore it from git`, r.cert));
  }
  return out;
}

/** Each bundle the state defines, with its members' certificate files in bundle order. */
export function expectedBundles(s: Snapshot): { name: string; file: string; members: { ref: Ref; cert: string }[] }[] {
  return bundleNames(s).map((name) => ({
    name,
    file: P.bundle(name),
    members: bundleMembers(s, name).map((ref) => ({ ref, cert: ref.scope === "root" ? P.rootCert(ref.gen) : P.intermediateCert(ref.scope, ref.gen) })),
  }));
}

/** Fingerprints of generations that no bundle may carry (revoked or retired), with their names. */
export function untrustedFingerprints(s: Snapshot): Map<string, string> {
  const out = new Map<string, string>();
  const add = (what: string, g: Generation) => {
    if ((g.state === "revoked" || g.state === "retired") && g.fingerprint) out.set(g.fingerprint, `${what} G${g.gen} (${g.state})`);
  };
  for (const g of s.root.generations) add("root", g);
  for (const [scope, sf] of Object.entries(s.scopes)) for (const g of sf.generations) add(scope, g);
  return out;
}

/** For each file, what the latest journal entry that wrote it recorded. */
export function latestWrites(entries: readonly { seq: number; command: string; files: readonly { path: string; sha256: string }[] }[]): Map<string, { sha256: string; seq: number; command: string }> {
  const out = new Map<string, { sha256: string; seq: number; command: string }>();
  for (const e of entries) for (const f of e.files) out.set(f.path, { sha256: f.sha256, seq: e.seq, command: e.command });
  return out;
}

/**
 * File modes. 0600 is what inforge writes for sealed keys, but it is not required: git keeps only
 * the executable bit, so a fresh clone has 0644, and a sealed key is safe to read. Writable by
 * others is what matters — whoever can replace a key, certificate or bundle can change who is
 * trusted — so world-writable fails and a group-writable sealed key is a warning.
 */
export function modeFindings(path: string, mode: number, isDir: boolean): Finding[] {
  const perm = (mode & 0o777).toString(8).padStart(4, "0");
  if (mode & 0o002) {
    return [error("perm.world-writable", `${path || "the pki directory"} is world-writable (mode ${perm}); anyone on this host could change who is trusted — chmod o-w it`, path || undefined)];
  }
  if (!isDir && path.endsWith(".key.age") && mode & 0o020) {
    return [warning("perm.group-writable", `${path} is group-writable (mode ${perm}); a sealed key should be writable by its owner only — chmod g-w it`, path)];
  }
  return [];
}

/** The state file an invariant is about, read off its message (best effort, for the report). */
function stateFileOf(code: string, message: string): string | undefined {
  if (code.startsWith("root.") || code.startsWith("revoked.")) return P.ROOT_STATE;
  const leaf = /^leaf ([a-z][a-z0-9-]*)\//.exec(message);
  if (leaf) return P.leafIndex(leaf[1]!);
  const scope = /^scope(?: file of)? "([a-z][a-z0-9-]*)"/.exec(message) ?? /^([a-z][a-z0-9-]*) G\d+/.exec(message);
  return scope ? P.scopeState(scope[1]!) : undefined;
}

/** Every trust invariant of the state (errors) and the work it is waiting for (warnings). */
export function stateFindings(s: Snapshot, now: Date): Finding[] {
  return [
    ...checkState(s).map((i) => error(`invariant.${i.code}`, i.message, stateFileOf(i.code, i.message))),
    ...pendingWork(s, now.getTime()).map((i) => warning(`pending.${i.code}`, i.message, stateFileOf(i.code, i.message))),
  ];
}
