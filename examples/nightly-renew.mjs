#!/usr/bin/env zx
// Nightly leaf renewal as an operator's zx automation drives inforge: one `pki renew` per scope
// in parallel processes, each with --json; a summary; `pki verify`; then one git commit of the
// pki directory. Run it in CI from the infra repo (pki/ and regions/ beside it, inforge and zx
// installed), with INFORGE_SECRETS_KEY set:
//
//   npx zx nightly-renew.mjs              renew, verify, commit
//   npx zx nightly-renew.mjs --no-commit  leave the commit to the pipeline
//
// It ends with one JSON line (schema "inforge.nightly/v1") for whatever runs it, and exits 1 if
// any scope failed or verify found an error; when verify fails it commits nothing. INFORGE_PKI_DIR / INFORGE_NOW are passed through.
import { $, argv } from "zx";

$.verbose = false;
$.preferLocal = true; // node_modules/.bin/inforge of the repo it runs in
const dir = process.env.INFORGE_PKI_DIR ?? "pki";

/** With --json, stdout is one JSON document: the report (inforge.run/v1, …) or inforge.error/v1. */
const report = (p) => JSON.parse(p.stdout || "null");

// The scopes come from the status report, not from listing files.
const status = report(await $`inforge pki status --json`);
const scopes = status.scopes.map((s) => s.scope);

// One process per scope. They share the pki directory's lock, so --wait makes them queue for
// it instead of failing; each still plans against the state the previous one left.
const runs = await Promise.all(
  scopes.map(async (scope) => {
    const p = await $({ nothrow: true })`inforge pki renew --region ${scope} --json --wait 5m`;
    const r = report(p);
    if (p.exitCode !== 0) return { scope, ok: false, error: r?.message ?? p.stderr.trim() };
    const leaves = r.steps.filter((s) => s.kind === "issue-leaf").length;
    return { scope, ok: true, applied: r.applied, leaves, written: r.written.length, journal: r.journal ?? null };
  }),
);

for (const r of runs) {
  if (!r.ok) console.log(`${r.scope}: FAILED — ${r.error}`);
  else if (!r.applied) console.log(`${r.scope}: nothing due`);
  else console.log(`${r.scope}: ${r.leaves} leaf(s) issued, ${r.written} file(s) written (journal entry ${r.journal})`);
}

const verify = await $({ nothrow: true })`inforge pki verify --json`;
const verified = verify.exitCode === 0;
console.log(verified ? "verify: ok" : `verify: FAILED\n${verify.stderr.trim()}`);

// Commit only a tree that verifies: a failed verify means something under the pki directory is
// wrong (a plaintext key a misdirected deploy left there, a file changed behind inforge's back),
// and `git add --all` would put it into history.
let commit = null;
if (!verified && runs.some((r) => r.ok && r.applied)) console.log(`not committing ${dir}: verify failed; fix what it reports, run inforge pki verify, then commit`);
if (verified && runs.some((r) => r.ok && r.applied) && argv.commit !== false) {
  await $`git add --all -- ${dir}`;
  const total = runs.reduce((n, r) => n + (r.leaves ?? 0), 0);
  await $`git commit --quiet -m ${`pki: nightly renew, ${total} leaf(s) in ${runs.filter((r) => r.applied).map((r) => r.scope).join(", ")}`} -- ${dir}`;
  commit = (await $`git rev-parse HEAD`).stdout.trim();
  console.log(`committed ${dir} as ${commit.slice(0, 12)}`);
}

const ok = verified && runs.every((r) => r.ok);
console.log(JSON.stringify({ schema: "inforge.nightly/v1", ok, scopes: runs, verified, commit }));
process.exitCode = ok ? 0 : 1;
