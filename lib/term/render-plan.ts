import { refKey } from "../model/bundles.ts";
import { TRUST_DOMAINS, trustDomainScope } from "../model/paths.ts";
import type { Identities } from "../apply/keys.ts";
import { IDENTITY_VAR } from "../apply/keys.ts";
import { identitiesNeeded, type Plan, type StepTable } from "../plan/step.ts";
import { bold, cyan, dim, green, red, table, yellow } from "./style.ts";

interface Row {
  readonly action: string;
  readonly subject: string;
  readonly issuer: string;
}

const G = (scope: string, gen: number) => `${scope} G${gen}`;

/** How each step kind reads in a plan (a new kind does not compile until it has a row). */
const describe: StepTable<Row> = {
  "create-root-identity": () => ({ action: "create identity", subject: "root age identity (printed once)", issuer: "-" }),
  "create-root": (s) => ({ action: "create root", subject: `${G("root", s.gen)} — ${s.keyIn ? `pkcs11 token ${s.keyIn.token}` : "age key file"} until ${s.notAfter.slice(0, 10)}`, issuer: "self-signed" }),
  "cross-sign-root": (s) => ({ action: "cross-sign root", subject: G("root", s.gen), issuer: G("root", s.by) }),
  "issue-intermediate": (s) => ({ action: s.mesh ? `issue ${s.mesh} issuer` : "issue intermediate", subject: `${G(s.mesh ? `${s.scope} ${s.mesh}` : s.scope, s.gen)} (${s.state}) until ${s.notAfter.slice(0, 10)}`, issuer: G("root", s.rootGen) }),
  "issue-leaf": (s) => ({ action: "issue leaf", subject: `${s.scope}/${s.service} (${s.reason})`, issuer: G(s.scope, s.gen) }),
  "issue-csr-leaf": (s) => ({ action: "issue leaf (csr)", subject: `${s.scope}/${s.service} for its own ${s.key} key`, issuer: G(s.scope, s.gen) }),
  "set-state": (s) => ({ action: `${s.from} → ${s.to}`, subject: G(s.mesh ? `${s.scope} ${s.mesh}` : s.scope, s.gen), issuer: s.why }),
  "sign-crl": (s) => ({ action: "sign CRL", subject: `#${s.number}, ${s.revoked.length} revoked`, issuer: s.rootGens.map((g) => G("root", g)).join(", ") }),
  "sign-custody": (s) => ({ action: "sign custody record", subject: `custody.json: ${s.why}`, issuer: G("root", s.rootGen) }),
  "sign-scope-crl": (s) => ({
    action: "sign scope CRL",
    subject: `${s.scope} #${s.number}, ${s.revoked.length} revoked (${s.why})`,
    issuer: s.gens.map((g) => G(s.scope, g)).join(", "),
  }),
  "write-bundle": (s) => ({
    action: "write bundle",
    subject: `${s.bundle}.pem`,
    issuer: [...s.enter.map((r) => green("+" + refKey(r).replace("/", " "))), ...s.leave.map((r) => red("-" + refKey(r).replace("/", " ")))].join(" ") || "reordered",
  }),
  "write-state": (s) => ({ action: "write state", subject: s.file, issuer: "-" }),
};

/** The plan as an operator reviews it: steps, bundle changes, notes, what comes next. */
export function renderPlan(plan: Plan, ids: Identities, title: string): string {
  const out: string[] = [];
  out.push(bold(`plan: ${title}`) + dim(`  (at ${plan.now}; ${plan.intents.map((i) => i.origin).filter((o, n, a) => a.indexOf(o) === n).join(", ")})`));
  const needed = identitiesNeeded(plan);
  if (needed.length) {
    out.push("needs: " + needed.map((p) => `${p} identity (${IDENTITY_VAR[p]}) ${ids[p] ? green("present") : red("MISSING")}`).join(", "));
  }
  // Leaves can be many: collapse them by scope and reason so the plan stays readable.
  const rows: string[][] = [["#", "action", "subject", "issuer / change", "identity", "writes"]];
  const leafGroups = new Map<string, number>();
  // Counted once: a fleet renewal has thousands of leaf steps.
  const manyLeaves = plan.steps.filter((x) => x.kind === "issue-leaf").length > 12;
  plan.steps.forEach((s, n) => {
    if (s.kind === "issue-leaf" && manyLeaves) {
      const k = `${s.scope}|${s.reason}|${s.gen}`;
      leafGroups.set(k, (leafGroups.get(k) ?? 0) + 1);
      if (leafGroups.get(k)! > 1) return;
    }
    const d = (describe[s.kind] as (x: typeof s) => Row)(s);
    const missing = s.identity && !ids[s.identity];
    rows.push([String(n + 1), d.action, d.subject, d.issuer, s.identity ? (missing ? red(s.identity + "!") : s.identity) : "-", s.writes.length > 2 ? `${s.writes[0]} +${s.writes.length - 1}` : s.writes.join(", ")]);
  });
  for (const [k, count] of leafGroups) {
    if (count < 2) continue;
    const [scope, reason, gen] = k.split("|");
    out.push(dim(`(${count} leaves of ${scope} (${reason}) under ${scope} G${gen} are shown as one row)`));
  }
  out.push(plan.steps.length ? table(rows) : dim("no steps"));
  const bundles = plan.steps.filter((s) => s.kind === "write-bundle");
  if (bundles.length) {
    // Per bundle: who loads it, and which certificates enter and leave it.
    const state = (r: { scope: string; gen: number }) =>
      (r.scope === "root" ? plan.after.root.generations : plan.after.scopes[r.scope]?.generations ?? []).find((g) => g.gen === r.gen)?.state ?? "gone";
    const who = (b: string) =>
      b === "root" ? "root-anchoring consumers"
      : b === "global" ? "global services (trust every scope)"
      : trustDomainScope(b) !== null ? `SPIFFE peers of ${b.slice(TRUST_DOMAINS.length)}`
      : `${b} services`;
    out.push(bold("bundle changes") + dim(" (who loads it: what enters, what leaves)"));
    out.push(table(bundles.map((s) => [
      `  bundles/${s.bundle}.pem`, who(s.bundle),
      [...s.enter.map((r) => green(`+ ${refKey(r).replace("/", " ")} (${state(r)})`)), ...s.leave.map((r) => red(`- ${refKey(r).replace("/", " ")} (${state(r)})`))].join("  ") || dim("reordered"),
    ])));
  }
  for (const n of plan.notes) out.push(yellow("note: ") + n);
  for (const n of plan.next) out.push(cyan("next, ") + n);
  return out.join("\n");
}
