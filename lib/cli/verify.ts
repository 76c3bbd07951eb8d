import type { RunContext } from "../runbook/context.ts";
import { loadIdentities } from "../store/identities.ts";
import { verifyDir, type VerifyReport } from "../store/verify.ts";

/** `inforge pki verify [--since REV] [--json]`: exit 0 when clean (warnings allowed), 1 on any error. */
export async function verifyCommand(ctx: RunContext, since?: string): Promise<number> {
  const r = await verifyDir(ctx.dir, { now: ctx.now, identities: await loadIdentities(ctx.env), env: ctx.env, history: since === undefined ? {} : { since } });
  process.stdout.write((ctx.json ? JSON.stringify(r, null, 2) : renderVerify(r)) + "\n");
  return r.ok ? 0 : 1;
}

/** One line per finding, then a summary. */
export function renderVerify(r: VerifyReport): string {
  const w = Math.max(0, ...r.findings.map((f) => f.code.length));
  const lines = r.findings.map((f) => `${f.severity.padEnd(7)}  ${f.code.padEnd(w)}  ${f.file ?? "-"}  ${f.message}`);
  const errors = r.findings.filter((f) => f.severity === "error").length;
  const warnings = r.findings.length - errors;
  const c = r.checked;
  const what = `${c.certificates} certificate(s), ${c.bundles} bundle(s), ${c.crls} CRL(s), ${c.keys.present} sealed key(s) of which ${c.keys.opened} opened, ${c.journal.files} journal-recorded file(s) in ${c.journal.entries} entr${c.journal.entries === 1 ? "y" : "ies"}${c.shipped ? `; ${c.shipped} leaf(s) not in this checkout (leafFiles "shipped": the deploy targets hold them)` : ""}`;
  lines.push(r.ok
    ? `verify: ok${warnings ? ` (${warnings} warning(s))` : ""} — ${r.dir}: ${what}`
    : `verify: ${errors} error(s), ${warnings} warning(s) — ${r.dir}: ${what}`);
  return lines.join("\n");
}
