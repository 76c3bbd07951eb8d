import { PostureError, StateError, type Posture } from "../errors.ts";
import { assertSingleRecipient, open, seal, type Identity } from "../age/mod.ts";
import * as X from "../x509/mod.ts";
import type { Store } from "../store/fs-store.ts";
import { nativeSign } from "./native-crypto.ts";

// Opening and sealing issuer keys: the age-sealed file is the default custody behind the
// x509 Signer seam. The identity needed is named by the posture that holds it.

export const IDENTITY_VAR: Record<Posture, string> = { root: "INFORGE_PKI_ROOT_KEY", ci: "INFORGE_SECRETS_KEY" };

export interface Identities {
  readonly root?: Identity;
  readonly ci?: Identity;
}

export function need(ids: Identities, p: Posture, why: string): Identity {
  const id = ids[p];
  if (!id) throw new PostureError(`${why} needs the ${p === "root" ? "offline root" : "CI master"} identity: set ${IDENTITY_VAR[p]} (${p === "root" ? "root" : "CI"} posture)`, p);
  return id;
}

export async function sealKey(k: X.KeyPair, recipient: string): Promise<string> {
  return seal(await X.exportPrivateKeyPem(k), [recipient]);
}

/** Open a sealed issuer key and prove it belongs to the certificate beside it. */
export async function openIssuer(store: Store, certPath: string, keyPath: string, id: Identity, p: Posture): Promise<X.Issuer> {
  const [certPem, sealed] = await Promise.all([store.read(certPath), store.read(keyPath)]);
  if (certPem === null) throw new StateError(`${certPath} is missing; restore it from git`);
  if (sealed === null) throw new StateError(`${keyPath} is missing; restore it from git (without it this issuer cannot sign)`);
  assertSingleRecipient(sealed, keyPath); // a second reader of an issuer key is a compromise, not a detail
  const pem = await open(sealed, id, keyPath, IDENTITY_VAR[p]);
  let key: X.KeyPair;
  try {
    key = await X.importPrivateKeyPem(pem);
  } catch {
    throw new StateError(`${keyPath} opened but does not hold a P-256 private key; restore it from git`);
  }
  if (!(await X.publicKeyMatches(certPem, key))) {
    throw new StateError(`${keyPath} does not match ${certPath} (a key or certificate was swapped); restore both from git`);
  }
  // node:crypto signs the same bytes with the same key for less event-loop time (native-crypto.ts).
  return { certPem, signer: X.keySigner(key, { primitive: nativeSign }) };
}
