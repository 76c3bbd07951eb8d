import { InputError } from "../errors.ts";

// PKCS#11 URIs (RFC 7512): `pkcs11:token=inforge;object=root-g1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/…`.
// Path attributes (§2.3) identify the token and the key; query attributes (§2.3) say how to reach
// the module and the PIN. Values are percent-encoded UTF-8 (§2.3, "pk11-pchar").

export interface Pkcs11Uri {
  /** CKA_LABEL of the token (`token=`). */
  readonly token: string;
  /** CKA_LABEL of the key pair on it (`object=`). */
  readonly object: string;
  /** The PKCS#11 module to load (`module-path=`), an absolute path. */
  readonly modulePath: string;
  /** Where the user PIN comes from: a file (`pin-source=file:…`), or a terminal prompt when absent. */
  readonly pinFile: string | null;
}

const PATH_ATTRS = new Set(["token", "object", "id", "type", "manufacturer", "model", "serial", "library-manufacturer", "library-description", "library-version", "slot-description", "slot-manufacturer", "slot-id"]);
const QUERY_ATTRS = new Set(["module-path", "module-name", "pin-source", "pin-value"]);
const EXAMPLE = "pkcs11:token=inforge;object=root-g1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin";

export const isPkcs11Uri = (s: string) => /^pkcs11:/i.test(s.trim());

/**
 * Parse a PKCS#11 URI naming one key pair. The PIN itself is refused (`pin-value`): a URI travels
 * in argv, shell history and plans, so the PIN comes from a file or a prompt.
 * `where` names the source of the text (a flag or variable) for the error.
 */
export function parsePkcs11Uri(text: string, where: string): Pkcs11Uri {
  const s = text.trim();
  if (!isPkcs11Uri(s)) throw new InputError(`${where} is not a PKCS#11 URI; expected ${EXAMPLE}`);
  const [pathPart = "", queryPart, ...rest] = s.slice("pkcs11:".length).split("?");
  if (rest.length) throw new InputError(`${where} has more than one "?" in its PKCS#11 URI; expected ${EXAMPLE}`);
  const path = attrs(pathPart, ";", PATH_ATTRS, where, "path");
  const query = attrs(queryPart ?? "", "&", QUERY_ATTRS, where, "query");
  if (query.has("pin-value")) {
    throw new InputError(`${where} carries the PIN in its URI (pin-value); a PIN must never be in argv, plans or logs — put it in a file readable only by you and use pin-source=file:/path, or leave pin-source out to be asked on the terminal`);
  }
  const token = path.get("token");
  const object = path.get("object");
  if (!token || !object) throw new InputError(`${where} must name the token and the key (token=…;object=…); expected ${EXAMPLE}`);
  const type = path.get("type");
  if (type !== undefined && type !== "private") throw new InputError(`${where} names type="${type}"; the root key is the private key (type=private, or leave type out)`);
  const modulePath = query.get("module-path");
  if (!modulePath) throw new InputError(`${where} does not say which PKCS#11 module to load; add ?module-path=/absolute/path/to/the/module.so (SoftHSM: /usr/lib/softhsm/libsofthsm2.so)`);
  if (!modulePath.startsWith("/")) throw new InputError(`${where} module-path "${modulePath}" is not an absolute path; give the module's absolute path`);
  const pinSource = query.get("pin-source");
  let pinFile: string | null = null;
  if (pinSource !== undefined) {
    // RFC 7512 §2.3: pin-source is a URI; "file:" URIs and bare paths are the forms used in practice.
    const f = pinSource.replace(/^file:(\/\/(?=\/))?/, "");
    if (!f.startsWith("/")) throw new InputError(`${where} pin-source "${pinSource}" is not a file; use pin-source=file:/absolute/path/of/the/pin/file`);
    pinFile = f;
  }
  return { token, object, modulePath, pinFile };
}

/** The URI without anything but the token and object: for plans, status and errors. */
export const showKey = (u: { token: string; object: string }) => `pkcs11 token "${u.token}" object "${u.object}"`;

function attrs(part: string, sep: string, known: ReadonlySet<string>, where: string, kind: string): Map<string, string> {
  const out = new Map<string, string>();
  if (part === "") return out;
  for (const kv of part.split(sep)) {
    const i = kv.indexOf("=");
    const name = i < 0 ? kv : kv.slice(0, i);
    if (!known.has(name)) throw new InputError(`${where} has the unknown PKCS#11 URI ${kind} attribute "${name}"; expected ${EXAMPLE}`);
    if (out.has(name)) throw new InputError(`${where} gives the PKCS#11 URI attribute "${name}" twice; give it once`);
    let value: string;
    try {
      value = decodeURIComponent(kv.slice(i + 1));
    } catch {
      throw new InputError(`${where} attribute "${name}" has a malformed %-escape; percent-encode reserved characters as %XX`);
    }
    if (i < 0 || value === "") throw new InputError(`${where} attribute "${name}" is empty; give it a value`);
    out.set(name, value);
  }
  return out;
}
