import * as v from "valibot";
import type { Issue } from "../errors.ts";
import type { PkiConfig } from "../model/config.ts";
import {
  CustodyRecordSchema, custodyPayload, fieldChanges, showValue, trustCritical, type CustodyRecord,
} from "../model/custody-record.ts";
import * as P from "../model/paths.ts";
import { LIVE, type RootFile } from "../model/state.ts";
import * as X from "../x509/read.ts";

// The custody checks (DESIGN invariant 6), over what lib/store/custody.ts read: pki.json against
// the root-signed record, the record's signature against the root generation it names, and every
// live root against the fingerprints pinned outside the repo (INFORGE_ROOT_FINGERPRINT). No I/O:
// the caller hands in the files' texts. Issues are data; lib/store turns the first into a refusal
// and `pki verify` lists them all.

export interface CustodyInput {
  /** pki.json as read (validated). */
  readonly config: PkiConfig;
  /** custody.json's text, null when absent. */
  readonly recordText: string | null;
  readonly root: RootFile;
  /** root/G<n>.crt.pem of every root generation the state records (null: missing). */
  readonly rootCerts: ReadonlyMap<number, string | null>;
  /** root/G<n>-by-G<m>.crt.pem files present. */
  readonly crossCerts: readonly { readonly gen: number; readonly by: number; readonly pem: string }[];
  /** bundles/root.pem, null when absent. */
  readonly rootBundle: string | null;
  /** INFORGE_ROOT_FINGERPRINT, parsed; null when unset. */
  readonly pins: readonly string[] | null;
  /** False for `pki config`, which shows the differences and signs them instead of refusing. */
  readonly compareFields: boolean;
}

export interface CustodyVerdict {
  readonly issues: Issue[];
  /** The record, when it parsed and its signature verified with a live root of the state. */
  readonly record: CustodyRecord | null;
  /** Things to say without refusing (a root anchored only through its cross certificate). */
  readonly notes: string[];
}

const ACCEPT = "if you meant it, accept it with inforge pki config on the offline workstation (root posture)";
const short = (fp: string) => `${fp.slice(0, 16)}…`;

export async function checkCustody(i: CustodyInput): Promise<CustodyVerdict> {
  const issues: Issue[] = [];
  const notes: string[] = [];
  const add = (code: string, message: string) => issues.push({ code, message, origin: code.startsWith("anchor.") ? P.ROOT_STATE : P.CUSTODY });
  const fp = (pem: string | null | undefined) => {
    if (!pem) return null;
    try {
      return X.certificateFingerprint(pem);
    } catch {
      return null;
    }
  };

  // 1. The pinned anchor: every live root is pinned, or certified by a pinned root's cross certificate.
  const anchored = i.pins ? await anchoredRoots(i, fp, notes) : null;
  if (i.pins && anchored) {
    for (const g of i.root.generations.filter((g) => LIVE.has(g.state))) {
      if (anchored.has(g.gen)) continue;
      const f = fp(i.rootCerts.get(g.gen));
      add("anchor.unpinned", `root G${g.gen} (${P.rootCert(g.gen)}${f ? `, sha256 ${short(f)}` : ", missing"}) is not anchored on INFORGE_ROOT_FINGERPRINT: its fingerprint is not pinned and no cross certificate from a pinned root certifies its key; if this root is yours, add its fingerprint to INFORGE_ROOT_FINGERPRINT, otherwise restore the pki directory from git — nothing was changed`);
    }
    const good = new Set([...anchored.values()]);
    if (i.rootBundle !== null) {
      let members: string[] = [];
      try {
        members = await X.certificateFingerprints(i.rootBundle, P.bundle("root"));
      } catch {
        add("anchor.root-bundle", `${P.bundle("root")} does not parse as PEM certificates; restore it from git — nothing was changed`);
      }
      const stray = members.find((m) => !good.has(m));
      if (stray) add("anchor.root-bundle", `${P.bundle("root")} carries a root (sha256 ${short(stray)}) that is not anchored on INFORGE_ROOT_FINGERPRINT; restore it from git — nothing was changed`);
    }
  }

  // 2. The record: present, well-formed, signed by the live root generation it names.
  if (i.recordText === null) {
    add("custody.missing", `${P.CUSTODY} is missing, so nothing proves the root approved pki.json's recipients, domain and lifetimes; sign them with inforge pki config on the offline workstation (root posture) after reviewing pki.json — nothing was changed`);
    return { issues, record: null, notes };
  }
  let data: unknown;
  try {
    data = JSON.parse(i.recordText);
  } catch {
    add("custody.invalid", `${P.CUSTODY} is not valid JSON; restore it from git (git log -- ${P.CUSTODY}) — nothing was changed`);
    return { issues, record: null, notes };
  }
  const parsed = v.safeParse(CustodyRecordSchema, data);
  if (!parsed.success) {
    add("custody.invalid", `${P.CUSTODY} is invalid at ${v.getDotPath(parsed.issues[0]) ?? "(top level)"}: ${parsed.issues[0].message}; restore it from git — nothing was changed`);
    return { issues, record: null, notes };
  }
  const r = parsed.output;
  const gen = i.root.generations.find((g) => g.gen === r.signedBy.gen);
  const cert = i.rootCerts.get(r.signedBy.gen) ?? null;
  const forged = (why: string) => add("custody.forged", `${P.CUSTODY} ${why}, so it is not a record the root signed; restore it from git (git log -- ${P.CUSTODY}) — nothing was changed`);
  const certProblem = (): string | null => {
    const path = P.rootCert(r.signedBy.gen);
    if (!cert) return `${path} is missing, so ${P.CUSTODY} cannot be checked against it; restore it from git — nothing was changed`;
    try {
      return X.certificateFingerprint(cert, path) === gen!.fingerprint ? null : `${path} is not the certificate ${P.ROOT_STATE} records for root G${gen!.gen} (fingerprint differs): it was swapped or edited; restore it from git — nothing was changed`;
    } catch (e) {
      return `${(e as Error).message}; restore it from git — nothing was changed`;
    }
  };
  const problem = gen && LIVE.has(gen.state) ? certProblem() : null;
  if (!gen) forged(`names root G${r.signedBy.gen} as its signer, which ${P.ROOT_STATE} does not record`);
  else if (!LIVE.has(gen.state)) forged(`is signed by root G${gen.gen}, which is ${gen.state}`);
  else if (problem) add("custody.root-cert", problem);
  else if (gen.fingerprint !== r.signedBy.fingerprint) forged(`names root G${gen.gen} with fingerprint ${short(r.signedBy.fingerprint)}, which is not the certificate ${P.ROOT_STATE} records for it`);
  else if (!(await X.verifyDetached(cert!, custodyPayload(r), r.signature))) forged(`does not carry a valid signature by root G${gen.gen}: it was edited, or signed by another key`);
  else if (anchored && !anchored.has(gen.gen)) add("anchor.custody", `${P.CUSTODY} is signed by root G${gen.gen}, which is not anchored on INFORGE_ROOT_FINGERPRINT; restore the pki directory from git — nothing was changed`);
  const verified = issues.every((x) => !x.code.startsWith("custody."));

  // 3. pki.json's trust-critical fields equal the signed ones.
  if (verified && i.compareFields) {
    const changes = fieldChanges(r.config, trustCritical(i.config));
    const c = changes[0];
    if (c) {
      const more = changes.length > 1 ? ` (and ${changes.length - 1} other field(s): ${changes.slice(1).map((x) => x.field).join(", ")})` : "";
      add("custody.field", `pki.json ${c.field} differs from the custody record the root signed (${showValue(c.signed)} → ${showValue(c.now)})${more}; ${ACCEPT} — nothing was changed`);
    }
  }
  return { issues, record: verified ? r : null, notes };
}

/**
 * The root generations anchored on the pins (gen → certificate fingerprint): a root whose
 * certificate's fingerprint is pinned, or one whose key a cross certificate certifies that an
 * anchored root signed (root/G<n>-by-G<m>.crt.pem, DESIGN invariant 7).
 */
async function anchoredRoots(i: CustodyInput, fp: (pem: string | null | undefined) => string | null, notes: string[]): Promise<Map<number, string>> {
  const pins = new Set(i.pins);
  const out = new Map<number, string>();
  for (const g of i.root.generations) {
    const f = fp(i.rootCerts.get(g.gen));
    // The state must record this very certificate: a pinned file beside a rewritten root.json is no anchor.
    if (f && pins.has(f) && g.fingerprint === f) out.set(g.gen, f);
  }
  // Cross certificates (a root overlap) are checked with the full library; the rest of custody
  // needs only lib/x509/read.ts, which keeps @peculiar/x509 out of `pki status`'s start.
  const full = i.crossCerts.length ? await import("../x509/core.ts") : null;
  for (let grew = true; grew && full; ) {
    grew = false;
    for (const x of i.crossCerts) {
      if (out.has(x.gen) || !out.has(x.by)) continue;
      const subject = i.rootCerts.get(x.gen);
      const g = i.root.generations.find((y) => y.gen === x.gen);
      const f = fp(subject);
      if (!subject || !g || !f || g.fingerprint !== f) continue;
      let ok = false;
      try {
        ok = full.samePublicKey(x.pem, subject) && (await full.verifySignedBy(x.pem, i.rootCerts.get(x.by)!));
      } catch {
        ok = false;
      }
      if (!ok) continue;
      out.set(x.gen, f);
      grew = true;
      if (LIVE.has(g.state)) notes.push(`root G${x.gen} (sha256 ${f}) is trusted through its cross certificate from the pinned root G${x.by}; add its fingerprint to INFORGE_ROOT_FINGERPRINT before the overlap is finished`);
    }
  }
  return out;
}
