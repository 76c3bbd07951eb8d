// docs/interop.md, written from the rows the matrix produced (never by hand).
import type { ConsumerKind, Outcome, Row } from "./matrix.ts";
import type { Stack } from "./stacks.ts";

const MARK: Record<Outcome, string> = { accept: "✓", stack: "✗", "no-bundle": "✗ no bundle", id: "✗ id", scope: "✗ scope" };
const KIND: Record<ConsumerKind, string> = {
  eu: "A region service (eu): `ca.crt` = bundles/eu.pem; `trust/` = eu, global",
  us: "A region service (us): `ca.crt` = bundles/us.pem; `trust/` = us, global",
  global: "A `global` service: `ca.crt` = bundles/global.pem; `trust/` = every scope",
  root: "A root-anchoring consumer: bundles/root.pem",
};
const MODE = (kind: ConsumerKind, mode: string, spiffe: boolean) =>
  mode === "recipe"
    ? kind === "root" ? "recipe: root.pem, then the issuer's scope" : "recipe: trust/<trust domain>.pem"
    : `${kind === "root" ? "root.pem" : "ca.crt"}${spiffe ? " + ID match (not documented)" : " + host name"}`;

export const VERSIONS_PREFIX = "Stacks measured: ";

export function renderInterop(rows: readonly Row[], stacks: readonly Stack[], o: { domain: string; go: string }): string {
  const ids = stacks.map((s) => s.id);
  const out: string[] = [
    "# Interop: what each TLS stack accepts",
    "",
    "<!-- Written by test/interop-matrix.test.ts from what it measured; do not edit. The test fails when",
    "     this file differs from its output; UPDATE_INTEROP=1 npm test rewrites it. -->",
    "",
    `${VERSIONS_PREFIX}${stacks.map((s) => s.version).join(", ")}. ${o.go}`,
    "",
    `The tree is a fresh default one (\`pki init\`: name constraints \`dns\`; scopes global, eu, us; domain`,
    `\`${o.domain}\`). Every forgery is a leaf signed with the **eu intermediate's key** — what an attacker who`,
    "stole it can mint — built outside inforge's planner. Each row is one identity a consumer might take",
    "the peer for, checked in each configuration of docs/concepts.md \"Validating a peer\":",
    "",
    "- **ca.crt + host name** / **root.pem + host name**: the flat anchors and the stack's own host name check",
    "  (NSS and PKI.js check no host name: the harness matches DNS SANs, RFC 6125, no CN fallback).",
    "- **recipe: trust/<trust domain>.pem**: the identity's trust domain picks the anchors (that scope's CAs",
    "  only), the stack verifies the chain, the consumer matches the identity (a SPIFFE ID: the one URI SAN).",
    "- **recipe: root.pem, then the issuer's scope**: the stack verifies to the root, the consumer matches the",
    "  identity and requires the issuing intermediate's permitted DNS subtree to be the identity's scope.",
    "- **+ ID match (not documented)**: a SPIFFE ID matched after verifying against the flat anchors — the",
    "  configuration the recipe replaces, shown as the evidence for it.",
    "",
    "✓ accepted · ✗ refused by the stack (chain, name constraints or host name) · ✗ no bundle: the consumer",
    "holds no bundle for that trust domain · ✗ id: the identity is not the certificate's · ✗ scope: the",
    "issuing intermediate belongs to another scope.",
    "",
  ];
  for (const kind of ["eu", "us", "global", "root"] as const) {
    out.push(`## ${KIND[kind]}`, "", `| peer | identity | configuration | ${ids.join(" | ")} |`, `|---|---|---|${ids.map(() => "---|").join("")}`);
    const mine = rows.filter((r) => r.kind === kind);
    for (const r of mine.filter((x) => x.forged)) {
      out.push(`| ${r.label} | ${r.target.kind === "spiffe" ? "" : r.target.kind === "ip" ? "IP " : "DNS "}\`${r.target.value}\` | ${MODE(kind, r.mode, r.target.kind === "spiffe")} | ${ids.map((id) => MARK[r.outcomes[id]!]).join(" | ")} |`);
    }
    // Live leaves: one row per configuration and identity form, all leaves this consumer trusts.
    const live = mine.filter((x) => !x.forged);
    const groups = new Map<string, Row[]>();
    for (const r of live) {
      const k = `${r.mode}|${r.target.kind}`;
      groups.set(k, [...(groups.get(k) ?? []), r]);
    }
    for (const [k, g] of groups) {
      const [mode, tk] = k.split("|") as [string, string];
      const scopes = [...new Set(g.map((r) => r.scope))].sort().join(", ");
      const leaves = new Set(g.map((r) => r.caseId)).size;
      const cell = (id: string) => {
        const n = g.filter((r) => r.outcomes[id] === "accept").length;
        return n === g.length ? "✓" : `${n}/${g.length} ✓`;
      };
      out.push(`| every live leaf of ${scopes} (${leaves}) | its ${tk === "spiffe" ? "SPIFFE ID" : "DNS name"} | ${MODE(kind, mode, tk === "spiffe")} | ${ids.map(cell).join(" | ")} |`);
    }
    out.push("");
  }
  return out.join("\n");
}
