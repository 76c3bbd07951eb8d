import { dirname, resolve } from "node:path";
import { InputError } from "../errors.ts";
import { kindOfSync, realPath } from "./no-follow.ts";

// Its own small module: every command resolves --dir first, and lib/pki.ts (which loads the
// whole library) is not needed for that — `inforge pki status` would pay for all of it.

/**
 * The pki directory as a real path, resolved once: the path given may pass through symlinks (a
 * CI workspace, /var on macOS, even a symlinked `pki`), and is then used as the physical
 * directory it names; nothing below it may be a symlink (lib/store/no-follow.ts).
 */
export function pkiDir(given: string): string {
  const real = realPath(given);
  const kind = kindOfSync(real);
  if (kind !== null && kind !== "dir") {
    throw new InputError(`--dir "${given}" is ${kind === "file" ? "a file" : "not a directory"}, not a pki directory; point --dir / INFORGE_PKI_DIR at the directory pki init made (or a new one for pki init)`);
  }
  if (kind === null) {
    // The nearest ancestor that can be seen must be a directory (one that cannot be read, under
    // Deno's flags, is left to the runtime to refuse).
    let up = dirname(real);
    while (kindOfSync(up) === null && up !== dirname(up)) up = dirname(up);
    const k = kindOfSync(up);
    if (k !== null && k !== "dir") throw new InputError(`--dir "${given}" lies under ${up}, which is not a directory; point --dir / INFORGE_PKI_DIR at a directory`);
  }
  return resolve(real);
}
