import { execFile } from "node:child_process";
import { InputError } from "../errors.ts";

// The pki directory as git recorded it at an earlier revision: what `pki verify --since` compares
// the tree with (TUF's rollback rule applied to a repo). Only the files whose history must move
// forward are read: the journals, root/root.json (the CRL number), custody.json (when it was
// signed) and the SPIFFE bundles (spiffe_sequence). The pki directory may be a subdirectory of the work tree.

/** Where the pki directory sits in git, or why history cannot be read. */
export type GitPlace =
  | { readonly kind: "repo"; readonly dir: string }
  | { readonly kind: "none" }
  | { readonly kind: "unavailable"; readonly why: string };

/** A revision to compare with, and how it was chosen (for messages). */
export interface Baseline {
  readonly rev: string;
  readonly label: string;
}

/** The history files at one revision, by path relative to the pki directory. */
export type FilesAt = ReadonlyMap<string, string>;

const HISTORY_FILE = /^(journal\/pki\.jsonl|journal\/scopes\/[^/]+\.jsonl|root\/root\.json|custody\.json|bundles\/[^/]+\.spiffe\.json)$/;

function git(dir: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve, reject) => {
    execFile("git", ["-C", dir, ...args], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 }, (e, stdout) => {
      if (e && typeof (e as NodeJS.ErrnoException).code === "string") reject(e); // git missing, or not permitted to run
      else resolve({ ok: !e, out: stdout });
    });
  });
}

/** Whether `dir` is inside a git work tree (and git can be run at all). */
export async function gitPlace(dir: string): Promise<GitPlace> {
  try {
    const r = await git(dir, ["rev-parse", "--is-inside-work-tree"]);
    return r.ok && r.out.trim() === "true" ? { kind: "repo", dir } : { kind: "none" };
  } catch (e) {
    return { kind: "unavailable", why: (e as Error).message.split("\n")[0]! };
  }
}

const commitOf = async (dir: string, rev: string) => {
  const r = await git(dir, ["rev-parse", "--verify", "--quiet", `${rev}^{commit}`]);
  return r.ok ? r.out.trim() : null;
};

/**
 * The revision to compare with. `since` given: that one (refused when git does not know it).
 * Otherwise: HEAD when the pki directory differs from HEAD (an uncommitted change), else the
 * parent of the last commit that touched the pki directory (so a committed rollback is caught
 * in CI). Null when there is nothing earlier to compare with.
 */
export async function baseline(place: Extract<GitPlace, { kind: "repo" }>, since?: string): Promise<Baseline | null> {
  const dir = place.dir;
  if (since !== undefined) {
    const c = since.startsWith("-") ? null : await commitOf(dir, since);
    if (!c) throw new InputError(`--since "${since}" is not a revision git knows here; give a commit, branch or tag such as origin/main (in CI, fetch it first: git fetch origin main)`);
    return { rev: c, label: since };
  }
  const head = await commitOf(dir, "HEAD");
  if (!head) return null;
  const status = await git(dir, ["status", "--porcelain", "--untracked-files=all", "--", "."]);
  if (status.ok && status.out.trim() !== "") return { rev: head, label: "HEAD (the pki directory has uncommitted changes)" };
  const last = (await git(dir, ["log", "-1", "--format=%H", "--", "."])).out.trim();
  if (!last) return null;
  const parent = await commitOf(dir, `${last}^`);
  return parent ? { rev: parent, label: `${parent.slice(0, 12)} (before ${last.slice(0, 12)}, the last commit that changed the pki directory)` } : null;
}

/** The history files of the pki directory at `rev`. */
export async function filesAt(place: Extract<GitPlace, { kind: "repo" }>, rev: string): Promise<FilesAt> {
  const out = new Map<string, string>();
  const list = await git(place.dir, ["ls-tree", "-r", "--name-only", rev, "--", "."]);
  const names = list.out.split("\n").filter((n) => HISTORY_FILE.test(n));
  for (const n of names) {
    const r = await git(place.dir, ["show", `${rev}:./${n}`]);
    if (r.ok) out.set(n, r.out);
  }
  return out;
}

/** Whether a path is one whose history verify holds to moving forward. */
export const isHistoryFile = (rel: string) => HISTORY_FILE.test(rel);
