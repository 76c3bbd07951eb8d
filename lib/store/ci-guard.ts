import { PostureError } from "../errors.ts";

// Apart from lib/store/identities.ts (which loads age): the CLI runs this guard before every
// command, including the read-only ones that never open an identity.

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
