import { InputError, PostureError, StateError, type Posture } from "../errors.ts";
import type { RootKeyLocation } from "../model/config.ts";
import { showKey, type Pkcs11Uri } from "../pkcs11/uri.ts";
import type { Token, TokenKey } from "../pkcs11/token.ts";
import { assertSingleRecipient, open, seal, type Identity } from "../age/mod.ts";
import * as X from "../x509/core.ts";
import type { Store } from "../store/fs-store.ts";
import { nativeSign } from "./native-crypto.ts";
import { toBase64 } from "../bytes.ts";

// Opening and sealing issuer keys: the age-sealed file is the default custody behind the
// x509 Signer seam. The identity needed is named by the posture that holds it.

export const IDENTITY_VAR: Record<Posture, string> = { root: "INFORGE_PKI_ROOT_KEY", ci: "INFORGE_SECRETS_KEY" };

export interface Identities {
  readonly root?: Identity;
  readonly ci?: Identity;
  /** The root's PKCS#11 token (INFORGE_PKI_ROOT_KEY holds a pkcs11: URI), for root keys recorded in pki.json rootKeys. */
  readonly rootToken?: RootToken;
}

/** A PKCS#11 token named by a URI; opened (module loaded, PIN asked, logged in) only when a root key on it signs. */
export interface RootToken {
  readonly uri: Pkcs11Uri;
  open(): Promise<Token>;
}

/** Whether a posture's identity is present: the root's may be an age identity or a token. */
export const hasIdentity = (ids: Identities, p: Posture) => !!ids[p] || (p === "root" && !!ids.rootToken);

/**
 * Open a root key that lives on a token and prove it is the key of the root certificate and of
 * the signed record (pki.json rootKeys, compared with custody.json before this runs).
 */
export async function openTokenIssuer(certPem: string, gen: number, loc: RootKeyLocation, token: RootToken | undefined): Promise<X.Issuer> {
  if (!token) {
    throw new PostureError(`root G${gen} lives on ${showKey(loc)} (pki.json rootKeys); set INFORGE_PKI_ROOT_KEY to its pkcs11: URI, e.g. pkcs11:token=${encodeURIComponent(loc.token)};object=${encodeURIComponent(loc.object)}?module-path=…&pin-source=file:…`, "root");
  }
  if (token.uri.token !== loc.token) {
    throw new InputError(`root G${gen} lives on pkcs11 token "${loc.token}", but INFORGE_PKI_ROOT_KEY names token "${token.uri.token}"; point it at token=${encodeURIComponent(loc.token)}`);
  }
  const key = await (await token.open()).open(loc.object);
  return { certPem, signer: await checkedTokenKey(key, certPem, `root G${gen}`, loc) };
}

/** A token key is used only if its public key is the certificate's and the recorded one. */
export async function checkedTokenKey(key: TokenKey, certPem: string | null, what: string, loc: { token: string; object: string; publicKey?: string }): Promise<X.Signer> {
  const b64 = toBase64(key.spki);
  if ((loc.publicKey && loc.publicKey !== b64) || (certPem !== null && !X.certificateHasSpki(certPem, key.spki))) {
    throw new StateError(`the key on ${showKey(loc)} is not the key of ${what} (its public key differs from ${certPem !== null ? "the root certificate" : "the one pki.json rootKeys records"}); a key on the token was replaced or the URI names the wrong object — nothing was signed`);
  }
  return key.signer;
}

/** The key's SubjectPublicKeyInfo as pki.json rootKeys records it. */
export const spkiBase64 = (k: TokenKey) => toBase64(k.spki);

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
