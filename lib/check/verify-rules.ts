import { bundleMembers, bundleNames, type Ref } from "../model/bundles.ts";
import { formatDuration } from "../model/duration.ts";
import * as P from "../model/paths.ts";
import { generationsOf, LIVE, type Generation, type Snapshot } from "../model/state.ts";
import { MESHES } from "../model/mesh.ts";
import { checkState, pendingWork } from "./check-state.ts";

// The pure half of `inforge pki verify`: what the files on disk must be, given the state, and
// how a difference reads. lib/store/verify.ts reads the files, parses and opens them, and feeds
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
  /**
   * How a certificate outside its validity is judged: "error" when it is trusted or served now
   * (an active or prepared CA, a current leaf), "warning" when it is on its way out (a retiring
   * CA, the cross-signed root; a leaf of a workload that renews it itself), null when its state
   * already says it is not used (retired, revoked).
   */
  readonly validity: Severity | null;
  /** The command that replaces it, for the message. */
  readonly reissue: string;
}

/** Every certificate the state records (every generation, live or not, every leaf, the cross-signed root). */
export function certRecords(s: Snapshot): CertRecord[] {
  const out: CertRecord[] = [];
  const domain = s.config?.domain ?? "";
  const dated = (g: { serial: string; fingerprint: string; notBefore: string; notAfter: string }) =>
    ({ serial: g.serial, fingerprint: g.fingerprint, notBefore: g.notBefore, notAfter: g.notAfter });
  for (const g of s.root.generations) {
    // A root whose key lives on a PKCS#11 token (pki.json rootKeys) has no sealed file in the tree;
    // apply holds the token's public key to the certificate before every signature.
    const onToken = s.config?.rootKeys?.[`G${g.gen}`] !== undefined;
    out.push({ what: `root G${g.gen}`, cert: P.rootCert(g.gen), key: onToken ? null : P.rootKey(g.gen), posture: "root", issuer: null, ...dated(g), validity: inUse(g), reissue: "inforge pki rotate --root (root posture)" });
  }
  const x = s.root.crossSigned;
  if (x) {
    out.push({ what: `root G${x.gen} cross-signed by G${x.by}`, cert: P.crossCert(x.gen, x.by), key: null, posture: "root", issuer: P.rootCert(x.by), serial: "", fingerprint: x.fingerprint, notBefore: null, notAfter: null, validity: "warning", reissue: "inforge pki rotate --root --finish once nothing needs the old root (root posture)" });
  }
  for (const scope of Object.keys(s.scopes).sort()) {
    for (const g of s.scopes[scope]!.generations) {
      out.push({
        what: `${scope} G${g.gen}`, cert: P.intermediateCert(scope, g.gen), key: P.intermediateKey(scope, g.gen), posture: "ci",
        issuer: g.issuer === null ? null : P.rootCert(g.issuer), ...dated(g), permitted: `${scope}.${domain}`,
        validity: inUse(g), reissue: `inforge pki recover-intermediate ${scope} (root posture)`,
      });
    }
    // Mesh issuers (pki issuer): CAs like the intermediates, keys sealed to CI, fenced as recorded.
    for (const mesh of MESHES) {
      for (const g of generationsOf(s.scopes[scope], mesh)) {
        out.push({
          what: `${scope} ${mesh} issuer G${g.gen}`, cert: P.intermediateCert(scope, g.gen, mesh), key: P.intermediateKey(scope, g.gen, mesh), posture: "ci",
          issuer: g.issuer === null ? null : P.rootCert(g.issuer), ...dated(g), ...(g.permittedDns?.[0] ? { permitted: g.permittedDns[0] } : {}),
          validity: inUse(g), reissue: `inforge pki issuer ${scope} --mesh ${mesh} --rotate (root posture)`,
        });
      }
    }
  }
  for (const scope of Object.keys(s.leaves).sort()) {
    for (const [svc, l] of Object.entries(s.leaves[scope]!.leaves).sort(([a], [b]) => a.localeCompare(b))) {
      out.push({
        what: `leaf ${scope}/${svc}`, cert: P.leafCert(scope, svc), key: P.leafKey(scope, svc), posture: "ci",
        issuer: P.intermediateCert(scope, l.gen), ...dated(l), dns: `${svc}.${scope}.${domain}`, uri: l.names?.find((n) => n.startsWith("spiffe://")) ?? `spiffe://${scope}.${domain}/svc/${svc}`,
        leaf: { scope, service: svc }, validity: "error", reissue: `inforge pki rotate --leaf ${svc} --region ${scope} (CI posture)`,
      });
    }
    // Leaves of workloads that keep their own key (pki sign-csr): a certificate and no sealed key.
    for (const [svc, l] of Object.entries(s.leaves[scope]!.csr ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      out.push({
        what: `leaf ${scope}/${svc} (csr)`, cert: P.csrLeafCert(scope, svc), key: null, posture: "ci",
        issuer: P.intermediateCert(scope, l.gen), ...dated(l), dns: `${svc}.${scope}.${domain}`, uri: l.names?.find((n) => n.startsWith("spiffe://")) ?? `spiffe://${scope}.${domain}/svc/${svc}`,
        validity: "warning", reissue: `inforge pki sign-csr --region ${scope} --service ${svc} with a new CSR (CI posture)`,
      });
    }
  }
  return out;
}

const inUse = (g: Generation): Severity | null => (g.state === "active" || g.state === "prepared" ? "error" : LIVE.has(g.state) ? "warning" : null);

/**
 * Time in both directions, as a verifier at `now` sees the certificate. Not yet valid: inforge
 * backdates every notBefore by the clock skew, so a notBefore still ahead of now was set by a
 * clock running ahead — beyond the skew every verifier refuses it (openssl: "certificate is not
 * yet valid"), within it only those whose clock is not ahead do (a warning: this host's clock
 * may be the one behind). Expired: refused by every verifier.
 */
export function validityFindings(r: CertRecord, c: { notBefore: Date; notAfter: Date }, now: Date, skewMs: number): Finding[] {
  if (!r.validity) return [];
  const out: Finding[] = [];
  const t = now.getTime();
  const nb = c.notBefore.getTime();
  const at = `at ${iso(t)}`;
  if (nb > t) {
    const ahead = `${r.cert} (${r.what}) is not valid until ${iso(nb)}, ${formatDuration(nb - t)} from now (${at.slice(3)})`;
    out.push(nb > t + skewMs
      ? error("cert.not-yet-valid", `${ahead}: beyond the clock skew of ${formatDuration(skewMs)}, so every verifier refuses it — the clock of the machine that minted it runs ahead; correct that clock (NTP) and re-issue it: ${r.reissue}`, r.cert)
      : warning("cert.not-yet-valid", `${ahead}: within the clock skew of ${formatDuration(skewMs)}, verifiers whose clock is not ahead (openssl) refuse it until then; check this host's clock and the minting runner's`, r.cert));
  }
  const na = c.notAfter.getTime();
  if (na <= t) {
    const msg = `${r.cert} (${r.what}) expired on ${iso(na)} (checked ${at}); every verifier refuses it — ${r.reissue}`;
    out.push(r.validity === "error" ? error("cert.expired", msg, r.cert) : warning("cert.expired", msg, r.cert));
  }
  return out;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * What strict DER reading (lib/x509 derDefects) found in a certificate or CRL, one finding per
 * defect: codes `cert.<defect>` / `crl.<defect>`. Only inforge writes these files, so a defect is
 * tampering (with the journal rewritten to match) or a bug: either way the file means different
 * things to different verifiers.
 */
export function defectFindings(kind: "cert" | "crl", file: string, what: string, defects: readonly { code: string; detail: string }[]): Finding[] {
  return defects.map((d) => error(`${kind}.${d.code}`, `${file} (${what}): ${d.detail}; strict verifiers refuse what lenient ones accept here — restore it from git`, file));
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

/**
 * For each file, what the latest journal entry that wrote it recorded; `n` is that entry's place
 * in `entries` (commit order), so a leaf manifest's listing (lib/store/manifest.ts) can be
 * ordered against direct records.
 */
export function latestWrites(entries: readonly { seq: number; command: string; files: readonly { path: string; sha256: string }[] }[]): Map<string, { sha256: string; seq: number; command: string; n: number }> {
  const out = new Map<string, { sha256: string; seq: number; command: string; n: number }>();
  for (const [n, e] of entries.entries()) for (const f of e.files) out.set(f.path, { sha256: f.sha256, seq: e.seq, command: e.command, n });
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
