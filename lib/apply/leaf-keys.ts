import { StateError } from "../errors.ts";
import { assertSingleRecipient, open, seal, type Identity } from "../age/mod.ts";
import * as P from "../model/paths.ts";
import { isPkcs8Pem } from "../x509/core.ts";
import type { Store } from "../store/fs-store.ts";

// A scope's leaf keys live together in one age file, leaves/<scope>/keys.age, sealed to the CI
// recipient. Sealing costs about 1.2 ms per age file (an X25519 exchange and a header MAC), so
// one file per leaf capped a fleet renewal near 850 leaves/s and wrote a second file per leaf;
// one file per scope per run costs the same 1.2 ms for 500 keys. Whoever deploys a scope's
// leaves opens one file instead of hundreds, and the age CLI still opens it:
//
//   age -d -i ci.key pki/leaves/eu/keys.age | jq -r '.keys.payments.key' > payments.key
//
// Each key carries the serial of the certificate it belongs to, so a key file restored from
// another commit than the certificates is caught instead of deployed.

export const LEAF_KEYS_FORMAT = "inforge.leaf-keys/v1";

export interface LeafKeyEntry {
  /** Serial of leaves/<scope>/<service>.crt.pem, lowercase hex. */
  readonly serial: string;
  /** PKCS#8 PEM. */
  readonly key: string;
}

export interface LeafKeysFile {
  readonly format: typeof LEAF_KEYS_FORMAT;
  readonly scope: string;
  readonly keys: Readonly<Record<string, LeafKeyEntry>>;
}

/** The plaintext of a scope's key file: stable (sorted by service) so equal sets seal equal text. */
export function encodeLeafKeys(scope: string, keys: ReadonlyMap<string, LeafKeyEntry>): string {
  const sorted: Record<string, LeafKeyEntry> = {};
  for (const svc of [...keys.keys()].sort()) {
    const e = keys.get(svc)!;
    sorted[svc] = { serial: e.serial, key: e.key };
  }
  const file: LeafKeysFile = { format: LEAF_KEYS_FORMAT, scope, keys: sorted };
  return JSON.stringify(file, null, 1) + "\n";
}

export function decodeLeafKeys(text: string, scope: string, path: string): Map<string, LeafKeyEntry> {
  let data: Partial<LeafKeysFile>;
  try {
    data = JSON.parse(text) as Partial<LeafKeysFile>;
  } catch {
    throw new StateError(`${path} opened but is not a leaf key file (not JSON); restore it from git`);
  }
  if (data.format !== LEAF_KEYS_FORMAT || data.scope !== scope || typeof data.keys !== "object" || data.keys === null) {
    throw new StateError(`${path} opened but is not the leaf key file of scope "${scope}" (format ${JSON.stringify(data.format)}, scope ${JSON.stringify(data.scope)}); restore it from git`);
  }
  const out = new Map<string, LeafKeyEntry>();
  for (const [svc, e] of Object.entries(data.keys)) {
    if (typeof e?.serial !== "string" || typeof e?.key !== "string" || !isPkcs8Pem(e.key)) {
      throw new StateError(`${path} holds a malformed entry for "${svc}"; restore it from git`);
    }
    out.set(svc, { serial: e.serial, key: e.key });
  }
  return out;
}

export async function sealLeafKeys(scope: string, keys: ReadonlyMap<string, LeafKeyEntry>, recipient: string): Promise<string> {
  return seal(encodeLeafKeys(scope, keys), [recipient]);
}

/**
 * Open a scope's key file with the CI identity; null when the scope has none yet. `read` defaults
 * to the store's (deploy passes one that also checks the bytes against the journal). A file
 * sealed to more than the one CI recipient is refused: someone else may read every key in it.
 */
export async function openLeafKeys(
  store: Store, scope: string, id: Identity, read: (path: string) => Promise<string | null> = (p) => store.read(p),
): Promise<Map<string, LeafKeyEntry> | null> {
  const path = P.leafKeys(scope);
  const sealed = await read(path);
  if (sealed === null) return null;
  assertSingleRecipient(sealed, path);
  return decodeLeafKeys(await open(sealed, id, path, "INFORGE_SECRETS_KEY"), scope, path);
}
