import { StateError } from "../errors.ts";
import { AgeError, assertSingleRecipient, looksSealed, open, type Identity } from "../age/mod.ts";
import * as X from "../x509/core.ts";
import { IDENTITY_VAR, type Identities } from "../apply/keys.ts";
import { decodeLeafKeys, type LeafKeyEntry } from "../apply/leaf-keys.ts";
import * as P from "../model/paths.ts";
import type { Snapshot } from "../model/state.ts";
import { error, warning, type CertRecord, type Finding } from "../check/verify-rules.ts";
import type { Store } from "./fs-store.ts";

/**
 * Sealed keys: present, age files with one recipient, and (when the identity is here) the key of
 * their certificate. Counts into `keys` what was present, opened and skipped.
 */
export async function checkKeys(
  store: Store, snap: Snapshot, records: readonly CertRecord[], certs: Map<string, string>, identities: Identities,
  add: (...f: Finding[]) => void, keys: { present: number; opened: number; skipped: number },
): Promise<void> {
  const ids = usableIdentities(identities, snap, add);
  const skipped = { root: 0, ci: 0 };
  const leafScopes = new Map<string, CertRecord[]>();
  // Whether each scope has its key file, asked once per scope (not once per leaf: the file holds every leaf's key).
  const keyFiles = new Map<string, boolean>();
  for (const r of records) {
    if (!r.key) continue;
    if (r.leaf) {
      let has = keyFiles.get(r.leaf.scope);
      if (has === undefined) keyFiles.set(r.leaf.scope, (has = (await store.read(P.leafKeys(r.leaf.scope))) !== null));
      if (has) {
        let list = leafScopes.get(r.leaf.scope);
        if (!list) leafScopes.set(r.leaf.scope, (list = []));
        list.push(r);
        continue;
      }
    }
    const sealed = await store.read(r.key);
    if (sealed === null) {
      add(error("key.missing", `${r.key} is missing, so ${r.what} has lost its key; restore it from git (a key that is gone for good means re-issuing ${r.what})`, r.key));
      continue;
    }
    keys.present++;
    if (!looksSealed(sealed)) {
      add(error("key.not-sealed", `${r.key} is not an age-encrypted file; restore it from git`, r.key));
      continue;
    }
    const stanzas = recipientFinding(sealed, r.key);
    if (stanzas) {
      add(stanzas);
      continue;
    }
    const id = ids[r.posture];
    if (!id) {
      skipped[r.posture]++;
      continue;
    }
    const pem = certs.get(r.cert);
    if (!pem) continue;
    const f = await keyFinding(r, sealed, pem, id);
    if (f) add(f);
    else keys.opened++;
  }
  // The scopes at once (their keys' checks all in flight, on workers in a fleet's verify), their findings in order.
  const scopes = await Promise.all([...leafScopes].map(async ([scope, leaves]) => {
    const found: Finding[] = [];
    const n = await checkLeafKeys(store, scope, leaves, certs, ids.ci, (...f) => void found.push(...f));
    return { leaves, n, found };
  }));
  for (const { leaves, n, found } of scopes) {
    add(...found);
    keys.present += leaves.length;
    keys.opened += n.opened;
    skipped.ci += n.skipped;
  }
  for (const p of ["root", "ci"] as const) {
    keys.skipped += skipped[p];
    if (skipped[p]) add(warning("key.skipped", `skipped: identity not present — ${skipped[p]} sealed ${p === "root" ? "root" : "intermediate/leaf"} key(s) not opened; set ${IDENTITY_VAR[p]} to check that they match their certificates`));
  }
}

/** The identities that may open this tree's keys: a present identity that is not the tree's recipient is an error. */
function usableIdentities(ids: Identities, snap: Snapshot, add: (f: Finding) => void): { root?: Identity; ci?: Identity } {
  const out: { root?: Identity; ci?: Identity } = {};
  for (const p of ["root", "ci"] as const) {
    const id = ids[p];
    if (!id) continue;
    const want = snap.config?.recipients[p];
    if (want && id.recipient !== want) {
      add(error("identity.mismatch", `${IDENTITY_VAR[p]} holds the identity of ${id.recipient.slice(0, 16)}…, but this pki directory seals ${p} keys to ${want.slice(0, 16)}… (${P.CONFIG}); set ${IDENTITY_VAR[p]} to the matching key`, P.CONFIG));
      continue;
    }
    out[p] = id;
  }
  return out;
}

/** Exactly one X25519 recipient stanza, read from the header alone (no identity needed). */
function recipientFinding(sealed: string, path: string): Finding | null {
  try {
    assertSingleRecipient(sealed, path);
    return null;
  } catch (e) {
    if (!(e instanceof AgeError)) throw e;
    return error("key.recipients", e.message, path);
  }
}

async function keyFinding(r: CertRecord, sealed: string, certPem: string, id: Identity): Promise<Finding | null> {
  const key = r.key!;
  let pem: string;
  try {
    pem = await open(sealed, id, key, IDENTITY_VAR[r.posture]);
  } catch (e) {
    if (!(e instanceof AgeError)) throw e;
    return error("key.unreadable", e.message, key);
  }
  let k: X.KeyPair;
  try {
    k = await X.importPrivateKeyPem(pem);
  } catch {
    return error("key.unreadable", `${key} opened but does not hold a P-256 private key; restore it from git`, key);
  }
  return (await X.publicKeyMatches(certPem, k))
    ? null
    : error("key.mismatch", `${key} does not hold the key of ${r.cert} (${r.what}): a key or certificate was swapped; restore both from git`, key);
}

/** A scope's leaf keys, all in one sealed file: every leaf has its entry, for its serial, holding its key. */
async function checkLeafKeys(
  store: Store, scope: string, leaves: readonly CertRecord[], certs: Map<string, string>, id: Identity | undefined, add: (...f: Finding[]) => void,
): Promise<{ opened: number; skipped: number }> {
  const path = P.leafKeys(scope);
  const sealed = (await store.read(path))!;
  if (!looksSealed(sealed)) {
    add(error("key.not-sealed", `${path} is not an age-encrypted file; restore it from git`, path));
    return { opened: 0, skipped: 0 };
  }
  const stanzas = recipientFinding(sealed, path);
  if (stanzas) {
    add(stanzas);
    return { opened: 0, skipped: 0 };
  }
  if (!id) return { opened: 0, skipped: leaves.length };
  let keys: Map<string, LeafKeyEntry>;
  try {
    keys = decodeLeafKeys(await open(sealed, id, path, IDENTITY_VAR.ci), scope, path);
  } catch (e) {
    if (!(e instanceof AgeError) && !(e instanceof StateError)) throw e;
    add(error("key.unreadable", e.message, path));
    return { opened: 0, skipped: 0 };
  }
  // Each leaf judged once: a finding, "opened", or nothing to say (its certificate is missing and
  // reported as such). The keys' d·G against their certificates' points (lib/x509
  // keyMatchesCertificate, without importing thousands of keys) are all asked for at once.
  const verdicts = await Promise.all(leaves.map(async (r): Promise<Finding | "opened" | null> => {
    const svc = r.leaf!.service;
    const entry = keys.get(svc);
    const pem = certs.get(r.cert);
    if (!entry) return error("key.missing", `${path} holds no key for ${r.what}, so that leaf has lost its key; restore it from git, or rotate the leaf (inforge pki rotate --leaf ${svc} --region ${scope})`, path);
    if (!pem) return null;
    if (r.serial && entry.serial.replace(/^0+/, "") !== r.serial.replace(/^0+/, "")) {
      return error("key.mismatch", `${path} holds the key of serial ${entry.serial} for ${r.what}, but ${r.cert} has serial ${r.serial}: the key file and the certificate are from different runs; restore both from git`, path);
    }
    const m = await X.keyMatchesCertificate(entry.key, pem);
    if (m === "unreadable") return error("key.unreadable", `${path} holds no usable P-256 key for ${r.what}; restore it from git`, path);
    return m === "match" ? "opened" : error("key.mismatch", `${path} does not hold the key of ${r.cert} (${r.what}): a key or certificate was swapped; restore both from git`, path);
  }));
  let opened = 0;
  for (const v of verdicts) {
    if (v === "opened") opened++;
    else if (v) add(v);
  }
  return { opened, skipped: 0 };
}
