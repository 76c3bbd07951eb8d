import { error, modeFindings, type Finding } from "./verify-rules.ts";

// What verify judges of each file on disk, before reading any of them as state: its mode, that
// it is no symbolic link, and that it holds no secret in plaintext.

const SECRET = /PRIVATE KEY|AGE-SECRET-KEY/;

/** One entry of the pki directory as lstat saw it; `text` is a plain file's bytes as latin1 (null otherwise). */
export function fileFindings(f: { rel: string; mode: number; dir: boolean; symlink: boolean }, text: string | null): Finding[] {
  const out: Finding[] = [];
  if (!f.symlink) out.push(...modeFindings(f.rel, f.mode, f.dir));
  if (f.symlink) out.push(error("file.symlink", `${f.rel} is a symbolic link; inforge writes only plain files, so replace it with the file it points to or restore it from git`, f.rel));
  if (text !== null && SECRET.test(text)) {
    out.push(error("plaintext.secret", `${f.rel} holds a private key or age identity in plaintext; treat that key as exposed — remove the file, purge it from git history and rotate what it opens`, f.rel));
  }
  return out;
}
