// The one module that talks to a PKCS#11 library (through pkcs11js, loaded lazily: only a
// pkcs11: URI brings it in, so Deno and installs without the native binding are unaffected).
// Everything else sees a Signer (lib/x509/signer.ts).
import { InputError, StateError } from "../errors.ts";
import * as X from "../x509/core.ts";
import { showKey, type Pkcs11Uri } from "./uri.ts";

type Pkcs11Module = typeof import("pkcs11js");
type Handle = Buffer;

/** An opened, logged-in token. */
export interface Token {
  /** The token label from the URI. */
  readonly label: string;
  /** Make a new P-256 key pair on the token (sensitive, never extractable); its public key and Signer. */
  generate(object: string): Promise<TokenKey>;
  /** The existing private key labelled `object`, and its public key. */
  open(object: string): Promise<TokenKey>;
}

export interface TokenKey {
  readonly signer: X.Signer;
  /** SubjectPublicKeyInfo DER of the key, as recorded in pki.json rootKeys. */
  readonly spki: Uint8Array;
}

// P-256's OID as the DER CKA_EC_PARAMS holds it (RFC 5480 §2.1.1.1, secp256r1).
const P256_PARAMS = Buffer.from("06082a8648ce3d030107", "hex");

let binding: Promise<Pkcs11Module> | null = null;
const modules = new Map<string, InstanceType<Pkcs11Module["PKCS11"]>>();

async function loadBinding(): Promise<Pkcs11Module> {
  binding ??= import("pkcs11js").then((m) => ((m as { default?: Pkcs11Module }).default ?? m) as Pkcs11Module).catch((e: unknown) => {
    binding = null;
    throw new InputError(`the PKCS#11 binding (npm package pkcs11js) cannot be loaded (${(e as Error).message?.split("\n")[0]}); the root key on a token needs Node with pkcs11js installed (npm i pkcs11js) — Deno cannot load it`);
  });
  return binding;
}

const code = (e: unknown) => (e instanceof Error ? /CKR_[A-Z_]+/.exec(e.message)?.[0] ?? e.message.split("\n")[0] : String(e));

const tokens = new Map<string, Promise<Token>>();

/**
 * Load the module, find the token by label and log in with the PIN `pin` yields — once per
 * process and token: PKCS#11 logins are per application, so a second login would not check a PIN.
 */
export function openToken(uri: Pkcs11Uri, pin: () => Promise<string>): Promise<Token> {
  const k = `${uri.modulePath}\0${uri.token}`;
  let t = tokens.get(k);
  if (!t) {
    tokens.set(k, (t = login(uri, pin)));
    t.catch(() => tokens.delete(k));
  }
  return t;
}

async function login(uri: Pkcs11Uri, pin: () => Promise<string>): Promise<Token> {
  const P = await loadBinding();
  let lib = modules.get(uri.modulePath);
  if (!lib) {
    lib = new P.PKCS11();
    try {
      lib.load(uri.modulePath);
      lib.C_Initialize();
    } catch (e) {
      throw new InputError(`the PKCS#11 module "${uri.modulePath}" cannot be loaded (${code(e)}); check module-path in the pkcs11: URI`);
    }
    modules.set(uri.modulePath, lib);
  }
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === uri.token);
  if (!slot) throw new InputError(`no token labelled "${uri.token}" is present in the PKCS#11 module ${uri.modulePath}; insert the token, or fix token= in the pkcs11: URI (list tokens with pkcs11-tool --module ${uri.modulePath} --list-token-slots)`);
  const session = lib.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
  try {
    lib.C_Login(session, P.CKU_USER, await pin());
  } catch (e) {
    const c = code(e);
    if (c === "CKR_USER_ALREADY_LOGGED_IN") {
      // Another session of this process logged in: the login is per token (PKCS#11 §5.6).
    } else {
      lib.C_CloseSession(session);
      if (c === "CKR_PIN_INCORRECT" || c === "CKR_PIN_LEN_RANGE") throw new InputError(`the PIN for pkcs11 token "${uri.token}" is wrong (${c}); check the PIN file pin-source names (or what was typed) — nothing was changed, and a token locks after a few wrong PINs`);
      if (c === "CKR_PIN_LOCKED") throw new InputError(`pkcs11 token "${uri.token}" is locked after too many wrong PINs (${c}); unlock it with the security officer PIN, then run again`);
      throw new InputError(`logging in to pkcs11 token "${uri.token}" failed (${c}); check the token and its PIN`);
    }
  }
  const L = lib;
  const find = (cls: number, object: string): Handle | null => {
    L.C_FindObjectsInit(session, [{ type: P.CKA_CLASS, value: cls }, { type: P.CKA_LABEL, value: object }]);
    try {
      const found = L.C_FindObjects(session, 2);
      if (found.length > 1) throw new StateError(`pkcs11 token "${uri.token}" holds more than one ${cls === P.CKO_PRIVATE_KEY ? "private" : "public"} key labelled "${object}"; give the root key a label of its own`);
      return found[0] ?? null;
    } finally {
      L.C_FindObjectsFinal(session);
    }
  };
  const keyOf = async (priv: Handle, point: Buffer): Promise<TokenKey> => {
    const publicKey = await X.importP256Point(unwrapPoint(point));
    const signer = X.digestSigner(publicKey, async (digest) => {
      L.C_SignInit(session, { mechanism: P.CKM_ECDSA }, priv);
      return new Uint8Array(L.C_Sign(session, Buffer.from(digest), Buffer.alloc(64)));
    });
    const spki = new Uint8Array(await globalThis.crypto.subtle.exportKey("spki", publicKey));
    return { signer, spki };
  };
  return Object.freeze({
    label: uri.token,
    async generate(object: string): Promise<TokenKey> {
      if (find(P.CKO_PRIVATE_KEY, object) || find(P.CKO_PUBLIC_KEY, object)) {
        throw new InputError(`pkcs11 token "${uri.token}" already holds a key labelled "${object}"; a new root gets a new key — choose another object= label (an existing key is never reused or overwritten)`);
      }
      const id = Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(16)));
      const common = [{ type: P.CKA_TOKEN, value: true }, { type: P.CKA_LABEL, value: object }, { type: P.CKA_ID, value: id }];
      const { publicKey, privateKey } = L.C_GenerateKeyPair(
        session,
        { mechanism: P.CKM_EC_KEY_PAIR_GEN },
        [...common, { type: P.CKA_EC_PARAMS, value: P256_PARAMS }, { type: P.CKA_VERIFY, value: true }, { type: P.CKA_ENCRYPT, value: false }, { type: P.CKA_WRAP, value: false }],
        // The hardware root: it signs, and nothing — not even this process — can read it out.
        [...common, { type: P.CKA_PRIVATE, value: true }, { type: P.CKA_SENSITIVE, value: true }, { type: P.CKA_EXTRACTABLE, value: false }, { type: P.CKA_SIGN, value: true }, { type: P.CKA_DECRYPT, value: false }, { type: P.CKA_UNWRAP, value: false }, { type: P.CKA_DERIVE, value: false }],
      );
      const [attr] = L.C_GetAttributeValue(session, publicKey, [{ type: P.CKA_EC_POINT }]);
      return keyOf(privateKey, attr!.value as Buffer);
    },
    async open(object: string): Promise<TokenKey> {
      const priv = find(P.CKO_PRIVATE_KEY, object);
      const pub = find(P.CKO_PUBLIC_KEY, object);
      if (!priv || !pub) throw new StateError(`${showKey({ token: uri.token, object })} has no ${priv ? "public" : "private"} key; check object= in the pkcs11: URI (list keys with pkcs11-tool --module ${uri.modulePath} --login --list-objects)`);
      const [attr] = L.C_GetAttributeValue(session, pub, [{ type: P.CKA_EC_POINT }]);
      return keyOf(priv, attr!.value as Buffer);
    },
  });
}

/** CKA_EC_POINT is the DER OCTET STRING around the point (PKCS#11 v2.40 §2.3.3); some modules omit the wrapper. */
function unwrapPoint(v: Buffer): Uint8Array {
  if (v.length === 67 && v[0] === 0x04 && v[1] === 0x41) return new Uint8Array(v.subarray(2));
  return new Uint8Array(v);
}
