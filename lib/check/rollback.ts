import { error, type Finding } from "./verify-rules.ts";

// Anti-rollback (DESIGN invariant 6): the tree may only move forward from an earlier revision.
// Each journal is a strict extension of the one at that revision (the same lines — entries with
// their hashes — possibly followed by more); the root CRL number, the custody record's signing
// time and every SPIFFE bundle's spiffe_sequence never go down. Pure: the caller reads both sides (lib/store/history.ts).

export interface RollbackInput {
  /** How the earlier revision is named in messages ("origin/main"). */
  readonly label: string;
  /** History files at that revision, by path relative to the pki directory. */
  readonly then: ReadonlyMap<string, string>;
  /** The same paths now (null: absent). */
  readonly now: ReadonlyMap<string, string | null>;
}

const lines = (t: string) => t.split("\n").filter((l) => l.length);
const json = (t: string | null | undefined): Record<string, unknown> | null => {
  try {
    return t ? (JSON.parse(t) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
};
const FIX = "restore the pki directory from that revision (or later) and re-run what was lost; a rollback re-trusts what was revoked";

export function rollbackFindings(i: RollbackInput): Finding[] {
  const out: Finding[] = [];
  for (const [path, then] of [...i.then].sort(([a], [b]) => a.localeCompare(b))) {
    const now = i.now.get(path) ?? null;
    if (path.endsWith(".jsonl")) {
      const a = lines(then);
      const b = lines(now ?? "");
      const n = a.findIndex((line, k) => b[k] !== line);
      if (n >= 0) {
        const what = b[n] === undefined ? `has ${b.length} entr${b.length === 1 ? "y" : "ies"} where ${i.label} has ${a.length}` : `differs from ${i.label} at entry ${n + 1}`;
        out.push(error("rollback.journal", `${path} is not a strict extension of the journal at ${i.label}: it ${what} — entries were removed or rewritten; ${FIX}`, path));
      }
    } else if (path === "root/root.json") {
      const a = (json(then)?.crl as { number?: unknown } | undefined)?.number;
      const b = (json(now)?.crl as { number?: unknown } | undefined)?.number;
      if (typeof a === "number" && (typeof b !== "number" || b < a)) {
        out.push(error("rollback.crl-number", `the root CRL number went down from ${a} at ${i.label} to ${typeof b === "number" ? b : "none"} (${path}); ${FIX}`, path));
      }
    } else if (path === "custody.json") {
      // A genuine but older record (say, one naming a CI recipient since retired) replayed with a
      // journal entry appended to match: its signature verifies, its date gives it away.
      const a = json(then)?.signedAt;
      const b = json(now)?.signedAt;
      if (typeof a === "string" && (typeof b !== "string" || b < a)) {
        out.push(error("rollback.custody", `${path} was signed at ${typeof b === "string" ? b : "(missing)"}, before the record at ${i.label} (signed at ${a}): an older record was put back; ${FIX}`, path));
      }
    } else if (path.endsWith(".spiffe.json")) {
      const a = json(then)?.spiffe_sequence;
      const b = json(now)?.spiffe_sequence;
      if (typeof a === "number" && typeof b === "number" && b < a) {
        out.push(error("rollback.spiffe-sequence", `${path} spiffe_sequence went down from ${a} at ${i.label} to ${b}; SPIFFE consumers ignore an older bundle, and it would re-trust what was dropped; ${FIX}`, path));
      }
    }
  }
  return out;
}
