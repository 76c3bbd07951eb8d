import * as X from "../x509/mod.ts";
import * as P from "../model/paths.ts";
import type { Snapshot } from "../model/state.ts";
import { compareCrl, expectedCrls, expectedScopeCrls, pendingScopeCrls, type WantedCrl } from "../check/crl-rules.ts";
import { defectFindings, error, type Finding } from "../check/verify-rules.ts";
import type { Store } from "./fs-store.ts";

// `pki verify`, the CRL files: crl/root.crl.pem (one CRL per signing root) and crl/<scope>.crl.pem
// (one per live intermediate of the scope). Reads and parses them and checks each signature;
// what each must say is lib/check/crl-rules.ts.

const CRL_BLOCK = /-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----\n?/g;
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function checkCrls(
  store: Store, snap: Snapshot, certs: Map<string, string>, infos: Map<string, X.CertInfo>, now: Date,
  add: (...f: Finding[]) => void, counted: () => void,
): Promise<void> {
  if (snap.root.generations.length) {
    await checkCrlFile(store, P.CRL, expectedCrls(snap), snap.root.crl.number, { fix: "re-sign it with inforge pki crl (root posture)", lapsed: "error" }, "signing root", certs, infos, now, add, counted);
  }
  for (const s of expectedScopeCrls(snap)) {
    await checkCrlFile(store, s.file, s.crls, s.number, { fix: `re-sign it with inforge pki renew --region ${s.scope} (CI posture)`, lapsed: "warning" }, `live ${s.scope} intermediate`, certs, infos, now, add, counted);
  }
  add(...pendingScopeCrls(snap, now));
}

/** One file of concatenated PEM CRLs: exactly one CRL per wanted issuer, each signed by it and as the state says. */
async function checkCrlFile(
  store: Store, file: string, want: readonly WantedCrl[], number: number, o: { fix: string; lapsed: "error" | "warning" }, issuers: string,
  certs: Map<string, string>, infos: Map<string, X.CertInfo>, now: Date, add: (...f: Finding[]) => void, counted: () => void,
): Promise<void> {
  const fix = o.fix;
  const text = await store.read(file);
  if (text === null) {
    add(error("crl.missing", `${file} is missing; ${fix} or restore it from git`, file));
    return;
  }
  const blocks = text.match(CRL_BLOCK) ?? [];
  if (blocks.join("") !== text) {
    add(error("crl.invalid", `${file} is not a concatenation of PEM CRLs ("X509 CRL"); restore it from git`, file));
    return;
  }
  if (blocks.length !== want.length) {
    add(error("crl.count", `${file} holds ${blocks.length} CRL(s) but there are ${want.length} ${issuers}(s) (${want.map((w) => w.what).join(", ")}); ${fix}`, file));
  }
  const seen = new Set<string>();
  for (const block of blocks) {
    let crl: X.CrlInfo;
    try {
      crl = X.parseCrl(block, file);
    } catch (e) {
      add(error("crl.invalid", `${messageOf(e)}; restore it from git`, file));
      continue;
    }
    counted();
    // Matched to its issuer by key identifier (AKI = the issuer's SKI, RFC 5280 §5.2.1), then the signature decides.
    const w = want.find((x) => crl.aki !== null && infos.get(x.cert)?.ski === crl.aki);
    if (!w) {
      add(error("crl.unknown-issuer", `${file} holds a CRL of "${crl.issuerCn}", which is not a ${issuers} of this tree; ${fix}`, file));
      continue;
    }
    if (seen.has(w.what)) add(error("crl.count", `${file} holds two CRLs of ${w.what}; ${fix}`, file));
    seen.add(w.what);
    const issuerPem = certs.get(w.cert);
    add(...defectFindings("crl", file, `the CRL of ${w.what}`, strictDefects(block, file, issuerPem)));
    if (issuerPem && !(await X.verifySignedBy(block, issuerPem).catch(() => false))) {
      add(error("crl.bad-signature", `the CRL of ${w.what} in ${file} is not signed by ${w.what}; restore it from git`, file));
    }
    add(...compareCrl(w, { serials: crl.revokedSerials, reasons: crl.reasons, emptyEntryExtensions: crl.emptyEntryExtensions, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, number: crl.crlNumber }, now, number, { file, ...o }));
  }
  for (const w of want) {
    if (!seen.has(w.what) && blocks.length === want.length) add(error("crl.count", `${file} has no CRL of ${w.what}; ${fix}`, file));
  }
}

/** lib/x509's strict DER reading; a file that is not even one PEM block is reported by the parse. */
export function strictDefects(pem: string, file: string, issuerPem: string | undefined): X.Defect[] {
  try {
    return X.derDefects(pem, file, issuerPem);
  } catch {
    return [];
  }
}
