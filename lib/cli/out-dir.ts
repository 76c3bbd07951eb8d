import { execFile } from "node:child_process";
import { dirname, join, relative, resolve } from "node:path";
import { InputError } from "../errors.ts";
import { DEPLOY_FILES } from "../deliver/deploy-bundle.ts";
import { kindOfSync, realPath, within } from "../store/no-follow.ts";

// Where `deploy` and `releases deploy` may write a plaintext private key. Three routes used to
// lead one into the repo: an --out inside the pki directory by another name (a committed symlink
// `deploy -> pki`, `..` after a symlinked parent), an out directory that is itself a symlink, and
// any out directory git does not ignore — one `git add -A` from history. Paths are compared
// physically (realPath), and git is asked (check-ignore) about every file deploy would write.

export interface OutOptions {
  /** The flag named in messages. */
  readonly flag?: string;
  /** `--allow-in-repo`: the operator accepts an out directory git does not ignore. */
  readonly allowInRepo?: boolean;
  /** Directories below `out` that will be written (releases: `<scope>/<service>`); default: out itself. */
  readonly subdirs?: readonly string[];
  /** The files that will be written in each (default: what `deploy <service>` writes). */
  readonly files?: readonly string[];
}

/**
 * Check an out directory before anything runs and return its real path, which the writes then use.
 * Refuses (one sentence, InputError): a symlink at `out`, a file there, a real path inside the
 * pki directory (`pkiDir` is already real, lib/runbook/context.ts), and — unless allowInRepo — a
 * path inside a git work tree that git does not ignore.
 */
export async function checkOut(out: string, pkiDir: string, o: OutOptions = {}): Promise<string> {
  const flag = o.flag ?? "--out";
  const kind = kindOfSync(out);
  if (kind === "symlink") {
    throw new InputError(`${flag} "${out}" is a symbolic link; deploy never writes a private key through one — give the directory it points to, or remove the link`);
  }
  if (kind !== null && kind !== "dir") throw new InputError(`${flag} "${out}" is a file, not a directory; give a directory for the service's files (it is created if missing)`);
  const real = realPath(out);
  for (let up = dirname(real); up !== dirname(up); up = dirname(up)) {
    const k = kindOfSync(up);
    if (k === null) continue;
    if (k !== "dir") throw new InputError(`${flag} "${out}" lies under ${up}, which is not a directory; give a directory for the service's files`);
    break;
  }
  if (within(real, pkiDir)) {
    throw new InputError(`${flag} "${out}" is inside the pki directory ${pkiDir}${real !== resolve(out) ? ` (it resolves to ${real})` : ""}; deploy writes a plaintext private key, which must never sit beside the sealed ones — choose a directory outside it, and outside the repository`);
  }
  if (!o.allowInRepo) await checkIgnored(out, real, flag, o.subdirs ?? [""], o.files ?? DEPLOY_FILES);
  return real;
}

/** The work tree holding `real`: the nearest ancestor with a `.git` entry (directory or file), or null. */
function workTreeOf(real: string): string | null {
  for (let d = real; ; d = dirname(d)) {
    if (kindOfSync(join(d, ".git")) !== null) return d;
    if (d === dirname(d)) return null;
  }
}

async function checkIgnored(out: string, real: string, flag: string, subdirs: readonly string[], files: readonly string[]): Promise<void> {
  const top = workTreeOf(real);
  if (top === null) return;
  const paths = subdirs.flatMap((s) => files.map((f) => relative(top, join(real, s, f))));
  const how = `choose a directory outside the repository (for example --out /run/inforge/…), add it to .gitignore, or pass --allow-in-repo`;
  let verdict: Map<string, boolean>;
  try {
    verdict = await gitIgnored(top, paths);
  } catch (e) {
    throw new InputError(`${flag} "${out}" is inside the git work tree ${top}, and git could not say whether it ignores it (${(e as Error).message.split("\n")[0]}); ${how}`);
  }
  const exposed = paths.find((p) => !verdict.get(p));
  if (exposed !== undefined) {
    throw new InputError(`${flag} "${out}" is inside the git work tree ${top}, which does not ignore ${exposed}: the plaintext private key would be one git add -A from the repository; ${how}`);
  }
}

/**
 * `git check-ignore --verbose --non-matching`: for each path, whether an ignore rule (not a `!`
 * re-include) matches it. Tracked files come back unmatched, as they should: git would commit them.
 */
function gitIgnored(top: string, paths: readonly string[]): Promise<Map<string, boolean>> {
  return new Promise((resolve, reject) => {
    const child = execFile("git", ["-C", top, "check-ignore", "-z", "--verbose", "--non-matching", "--stdin"], { encoding: "utf8", maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      // Exit 1 means "nothing ignored": still a valid answer.
      if (err && (err as { code?: unknown }).code !== 1) return reject(new Error(stderr.trim() || err.message));
      const f = stdout.split("\0");
      const out = new Map<string, boolean>();
      for (let i = 0; i + 3 < f.length; i += 4) out.set(f[i + 3]!, f[i]! !== "" && !f[i + 2]!.startsWith("!"));
      resolve(out);
    });
    child.stdin?.end(paths.map((p) => p + "\0").join(""));
  });
}
