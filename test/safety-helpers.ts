// Helpers shared by the safety tests (verify, faults, locking, bad input): copies of a built
// tree, a forger that rewrites the journal to match tampered files, and `pki verify` as data.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { sealEntry, sha256, readJournal, type JournalEntry } from "../lib/store/journal.ts";
import type { VerifyReport } from "../lib/store/verify.ts";
import { cli, plaintextKeys, type Sandbox } from "./helpers.ts";

/** A byte-for-byte copy (modes too) of the sandbox's pki directory, in a new directory of its own. */
export function clone(sb: Sandbox, from = sb.dir): string {
  const dir = join(mkdtempSync(join(sb.base, "copy-")), "pki");
  cpSync(from, dir, { recursive: true, preserveTimestamps: true });
  return dir;
}

/**
 * Append a journal entry that records the files' current bytes, chained like a real one: what
 * someone who tampers with files and also rewrites the (unkeyed) journal would do. Checks past
 * the journal must still catch the tampering.
 */
export function rechain(dir: string, paths: readonly string[], command = "forged by the test"): void {
  const file = join(dir, "journal/pki.jsonl");
  const text = readFileSync(file, "utf8");
  const { entries, broken } = readJournal(text);
  if (broken) throw new Error(`rechain: the journal is already broken: ${broken}`);
  const last = entries.at(-1);
  const entry: JournalEntry = sealEntry({
    seq: (last?.seq ?? 0) + 1, at: last?.at ?? "2026-01-01T00:00:00Z", command, intents: [], steps: 0,
    files: paths.map((p) => ({ path: p, sha256: sha256(readFileSync(join(dir, p))) })), prev: last!.hash,
  });
  writeFileSync(file, text + JSON.stringify(entry) + "\n");
}

/** `inforge pki verify --json` in-process: exit code and the report. */
export async function verify(dir: string, env: Record<string, string | undefined>, at?: string): Promise<{ code: number; report: VerifyReport; err: string }> {
  const r = await cli(["pki", "verify", "--json", "--dir", dir, ...(at ? ["--at", at] : [])], env);
  let report: VerifyReport;
  try {
    report = JSON.parse(r.out) as VerifyReport;
  } catch {
    throw new Error(`verify printed no JSON (exit ${r.code}): ${r.err}${r.out}`);
  }
  return { code: r.code, report, err: r.err };
}

export const errorCodes = (r: VerifyReport) => [...new Set(r.findings.filter((f) => f.severity === "error").map((f) => f.code))].sort();
/**
 * errorCodes without `cert.expired` on leaves: for tests that let simulated time pass without
 * renewing every scope. verify rightly fails such a tree (those services present dead
 * certificates), but that is the lapse the test chose, not damage it is looking for.
 */
export const errorCodesButExpiredLeaves = (r: VerifyReport) =>
  [...new Set(r.findings.filter((f) => f.severity === "error" && !(f.code === "cert.expired" && f.file?.startsWith("leaves/"))).map((f) => f.code))].sort();
export const findingsOf = (r: VerifyReport) => r.findings.map((f) => `${f.severity} ${f.code} ${f.file ?? "-"}: ${f.message}`).join("\n");

/** The plaintext-key scan every end-to-end test ends with. */
export function assertNoPlaintextKeys(dir: string): void {
  assert.equal(plaintextKeys(dir), [], `plaintext private key material under ${dir}`);
}

/** A message an operator can act on: one line, no stack, not a bug report. */
export function assertOneLine(err: string, what: string): void {
  const text = err.trim();
  assert.ok(text.length > 0, `${what}: nothing on stderr`);
  assert.not.ok(text.includes("\n"), `${what}: more than one line:\n${text}`);
  assert.not.match(text, /unexpected error|\n\s+at |\bat .*\.ts:\d+:\d+/, `${what}: a stack trace or bug report:\n${text}`);
}

/** A random seed for this run, or the one given in `name` (printed either way, so a failure can be replayed). */
export function seedFrom(name: string, label: string): number {
  const given = process.env[name];
  const seed = given ? Number(given) : Math.floor(Math.random() * 2 ** 31);
  console.log(`${label}: seed ${seed} (replay with ${name}=${seed})`);
  return seed;
}

/** The seeded PRNG lives in test/sim.ts; the fault tests take it from here too. */
export { rng } from "./sim.ts";
