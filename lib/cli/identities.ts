import { readFile } from "node:fs/promises";
import { InputError, PostureError } from "../errors.ts";
import { parseIdentity, type Identity } from "../age/mod.ts";
import { IDENTITY_VAR, type Identities } from "../apply/keys.ts";
import type { PkiConfig } from "../model/config.ts";
import { isDenied } from "./runtime.ts";

type Env = Readonly<Record<string, string | undefined>>;

const truthy = (s: string | undefined) => s !== undefined && s !== "" && s !== "0" && s.toLowerCase() !== "false";

/** The cold root identity must never reach CI: refuse to do anything at all if it has. */
export function ciGuard(env: Env): void {
  if (truthy(env.CI) && env.INFORGE_PKI_ROOT_KEY) {
    throw new PostureError(
      "INFORGE_PKI_ROOT_KEY is set in a CI environment (CI is set); the offline root identity must never reach CI — remove it from the CI secrets, rotate the root if it was exposed, and run root-posture steps on the offline workstation",
      "root",
    );
  }
}

export const isCi = (env: Env) => truthy(env.CI);

/** An identity from its variable: the AGE-SECRET-KEY-1… itself, or a path to an identity file. */
async function fromEnv(name: string, env: Env): Promise<Identity | undefined> {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const value = raw.trim();
  if (/^AGE-SECRET-KEY-/i.test(value) || value.startsWith("age1")) return parseIdentity(value, name);
  let text: string;
  try {
    text = await readFile(value, "utf8");
  } catch (e) {
    if (isDenied(e)) throw new InputError(`${name} names the identity file "${value}" but deno may not read it; add the file to --allow-read`);
    throw new InputError(`${name} is neither an age secret key (AGE-SECRET-KEY-1…) nor a readable identity file: "${value.slice(0, 120)}"; set it to the key or to the file age-keygen wrote`);
  }
  return parseIdentity(text, `${name} (${value})`);
}

export async function loadIdentities(env: Env): Promise<Identities> {
  const [root, ci] = await Promise.all([fromEnv(IDENTITY_VAR.root, env), fromEnv(IDENTITY_VAR.ci, env)]);
  return { ...(root ? { root } : {}), ...(ci ? { ci } : {}) };
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
