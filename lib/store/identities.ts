import { readFile } from "node:fs/promises";
import { InputError, PostureError } from "../errors.ts";
import { parseIdentity, type Identity } from "../age/mod.ts";
import { IDENTITY_VAR, type Identities, type RootToken } from "../apply/keys.ts";
import { isPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from "../pkcs11/uri.ts";
import type { PkiConfig } from "../model/config.ts";
import { isDenied } from "../runtime.ts";

type Env = Readonly<Record<string, string | undefined>>;

export { ciGuard, isCi } from "./ci-guard.ts";

/**
 * An identity from its variable: the AGE-SECRET-KEY-1… itself, the text of an identity file as
 * age-keygen writes it (comment lines first; CI secret stores keep newlines, so pasting the file
 * works), or the path of such a file. A value that is none of these is never echoed, not in part:
 * a key with a stray quote or `KEY=` in front is still the key. Only a value shaped like a path
 * is quoted, when that file cannot be read.
 */
async function fromEnv(name: string, env: Env): Promise<Identity | undefined> {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const value = raw.trim();
  if (/AGE-SECRET-KEY-/i.test(value) || /[\r\n]/.test(value) || value.startsWith("#") || value.startsWith("age1")) {
    const wrapped = wrapping(value);
    if (wrapped) throw new InputError(`${name} holds an age secret key ${wrapped} (the value is not shown); set ${name} to the key alone, AGE-SECRET-KEY-1… as age-keygen prints it, or to the path of the identity file age-keygen wrote`);
    return parseIdentity(value, name);
  }
  const shown = pathShaped(value) ? `"${value}"` : `its value (${[...value].length} characters, not shown: it may be a secret)`;
  let text: string;
  try {
    text = await readFile(value, "utf8");
  } catch (e) {
    if (isDenied(e)) throw new InputError(`${name} names the identity file ${shown} but deno may not read it; add the file to --allow-read`);
    throw new InputError(`${name} is neither an age secret key (AGE-SECRET-KEY-1…) nor a readable identity file: ${shown}; set it to the key or to the file age-keygen wrote`);
  }
  return parseIdentity(text, `${name} (${value})`);
}

/** How a key in the value is wrapped (said without quoting any of it), or null. */
function wrapping(value: string): string | null {
  const line = value.split(/\r?\n/).map((l) => l.trim()).find((l) => /AGE-SECRET-KEY-/i.test(l)) ?? "";
  if (/^export\s/.test(line)) return "behind an `export NAME=` shell assignment";
  if (/^[A-Za-z_][A-Za-z0-9_]*\s*[:=]/.test(line)) return "behind a `NAME=` assignment";
  if (/^["'`]|["'`]$/.test(line) || /^["'`]/.test(value)) return "wrapped in quotes";
  return null;
}

/**
 * Whether a value that could not be read as a file may be quoted in the error: a plain path of
 * short segments. A mangled key (prefix typed wrong, or its bech32 body alone) has a run of 20+
 * letters and digits, so it is never shown.
 */
function pathShaped(value: string): boolean {
  return value.length <= 240 && /^[\w.~/+@,-]+$/.test(value) && !/[A-Za-z0-9]{20,}/.test(value);
}

export async function loadIdentities(env: Env): Promise<Identities> {
  // INFORGE_PKI_ROOT_KEY may name a PKCS#11 key (a pkcs11: URI line) beside, or instead of, the
  // age identity: during a rotation between a token and an age key the root posture needs both.
  const lines = (env[IDENTITY_VAR.root] ?? "").split(/\r?\n/);
  const uris = lines.filter((l) => isPkcs11Uri(l));
  if (uris.length > 1) throw new InputError(`${IDENTITY_VAR.root} holds ${uris.length} pkcs11: URIs; give one (the token the root keys live on)`);
  const rootToken = uris[0] ? tokenIdentity(parsePkcs11Uri(uris[0], IDENTITY_VAR.root)) : undefined;
  const rootEnv = uris.length ? { ...env, [IDENTITY_VAR.root]: lines.filter((l) => !isPkcs11Uri(l)).join("\n").trim() } : env;
  const [root, ci] = await Promise.all([fromEnv(IDENTITY_VAR.root, rootEnv), fromEnv(IDENTITY_VAR.ci, env)]);
  return { ...(root ? { root } : {}), ...(ci ? { ci } : {}), ...(rootToken ? { rootToken } : {}) };
}

/** A token from its URI: loaded and logged in on first use only (lib/pkcs11/token.ts, imported then). */
export function tokenIdentity(uri: Pkcs11Uri): RootToken {
  return {
    uri,
    open: async () => {
      // A computed specifier: Deno never resolves the native binding unless a pkcs11: URI is used.
      const mod = "../pkcs11/token.ts";
      const { openToken } = (await import(mod)) as typeof import("../pkcs11/token.ts");
      return openToken(uri, () => readPin(uri));
    },
  };
}

/**
 * The token's user PIN: the file pin-source names (first line; the file should be readable by
 * the operator alone), or typed on the terminal without echo. Never from argv or the environment.
 */
async function readPin(uri: Pkcs11Uri): Promise<string> {
  if (uri.pinFile !== null) {
    let text: string;
    try {
      text = await readFile(uri.pinFile, "utf8");
    } catch (e) {
      throw new InputError(`the PIN file "${uri.pinFile}" (pin-source of the pkcs11: URI for token "${uri.token}") cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"}); fix pin-source=file:/path`);
    }
    const pin = text.split(/\r?\n/)[0] ?? "";
    if (!pin) throw new InputError(`the PIN file "${uri.pinFile}" for pkcs11 token "${uri.token}" is empty; write the user PIN on its first line`);
    return pin;
  }
  return promptPin(`PIN for pkcs11 token "${uri.token}": `);
}

/** Read a line from the terminal with echo off (raw mode: nothing typed is printed). */
async function promptPin(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new InputError("the pkcs11: URI has no pin-source and stdin is not a terminal to ask for the PIN; add pin-source=file:/path/of/a/pin/file to the URI");
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let pin = "";
      const onData = (b: Buffer) => {
        for (const ch of b.toString("utf8")) {
          if (ch === "\r" || ch === "\n") return done(() => resolve(pin));
          if (ch === "\u0003") return done(() => reject(new InputError("PIN entry was interrupted; nothing was changed")));
          if (ch === "\u007f" || ch === "\b") pin = pin.slice(0, -1);
          else pin += ch;
        }
      };
      const done = (f: () => void) => {
        stdin.off("data", onData);
        f();
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}

/** A present identity must be the one the pki directory seals to: say so before any work. */
export function matchRecipients(ids: Identities, config: PkiConfig | null): void {
  if (!config) return;
  for (const p of ["root", "ci"] as const) {
    const id = ids[p];
    const want = config.recipients[p];
    if (id && want && id.recipient !== want) {
      throw new InputError(`${IDENTITY_VAR[p]} holds the identity of ${id.recipient.slice(0, 16)}…, but this pki directory seals ${p} keys to ${want.slice(0, 16)}… (pki.json); set ${IDENTITY_VAR[p]} to the matching key`);
    }
  }
}
