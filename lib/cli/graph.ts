import { bundleMembers, bundleNames } from "../model/bundles.ts";
import { trustDomainScope } from "../model/paths.ts";
import { generationsOf, type Snapshot } from "../model/state.ts";
import { MESHES } from "../model/mesh.ts";
import type { GraphReport } from "../model/reports.ts";

// `inforge pki graph`: the tree as Mermaid or Graphviz — roots, each scope's generations with
// their states, who signed whom, and which bundle carries which certificate. Pure.

export type GraphFormat = "mermaid" | "dot";

interface Node {
  readonly id: string;
  readonly label: string;
  readonly kind: "root" | "intermediate" | "bundle";
  readonly name: string;
  readonly gen?: number;
  readonly state?: string;
}
interface Edge {
  readonly from: string;
  readonly to: string;
  readonly kind: "signs" | "carries" | "cross-signs";
}

const id = (scope: string, gen: number) => `${scope.replace(/-/g, "_")}_G${gen}`;

function model(s: Snapshot, withRetired: boolean): { nodes: Node[]; edges: Edge[] } {
  const nodes: Node[] = [];
  const edges: Edge[] = [];
  for (const g of s.root.generations) {
    if (!withRetired && g.state === "retired") continue;
    nodes.push({ id: id("root", g.gen), label: `root G${g.gen}\\n${g.state}`, kind: "root", name: "root", gen: g.gen, state: g.state });
  }
  if (s.root.crossSigned) edges.push({ from: id("root", s.root.crossSigned.by), to: id("root", s.root.crossSigned.gen), kind: "cross-signs" });
  for (const scope of Object.keys(s.scopes).sort()) {
    for (const g of s.scopes[scope]!.generations) {
      if (!withRetired && g.state === "retired") continue;
      nodes.push({ id: id(scope, g.gen), label: `${scope} G${g.gen}\\n${g.state}`, kind: "intermediate", name: scope, gen: g.gen, state: g.state });
      if (g.issuer !== null && nodes.some((n) => n.id === id("root", g.issuer!))) edges.push({ from: id("root", g.issuer), to: id(scope, g.gen), kind: "signs" });
    }
    // Mesh issuers (pki issuer): CAs signed by a root, carried by no bundle (meshes anchor on the root).
    for (const mesh of MESHES) {
      for (const g of generationsOf(s.scopes[scope], mesh)) {
        if (!withRetired && g.state === "retired") continue;
        const nid = id(`${scope}_${mesh}`, g.gen);
        nodes.push({ id: nid, label: `${scope} ${mesh} issuer G${g.gen}\\n${g.state}`, kind: "intermediate", name: `${scope} ${mesh} issuer`, gen: g.gen, state: g.state });
        if (g.issuer !== null && nodes.some((n) => n.id === id("root", g.issuer!))) edges.push({ from: id("root", g.issuer), to: nid, kind: "signs" });
      }
    }
  }
  // Trust-domain bundles mirror each scope's own generations (the signs edges show them already).
  for (const b of bundleNames(s).filter((n) => trustDomainScope(n) === null)) {
    const bid = `bundle_${b.replace(/-/g, "_")}`;
    nodes.push({ id: bid, label: `${b}.pem`, kind: "bundle", name: b });
    for (const m of bundleMembers(s, b)) edges.push({ from: bid, to: id(m.scope, m.gen), kind: "carries" });
  }
  return { nodes, edges };
}

/** `pki graph --json` (inforge.graph/v1): the nodes and edges as data. */
export function graphReport(s: Snapshot, o: { withRetired?: boolean } = {}): GraphReport {
  const { nodes, edges } = model(s, o.withRetired ?? false);
  return { schema: "inforge.graph/v1", nodes: nodes.map(({ label: _, ...n }) => n), edges };
}

export function renderGraph(s: Snapshot, format: GraphFormat, o: { withRetired?: boolean } = {}): string {
  const { nodes, edges } = model(s, o.withRetired ?? false);
  if (format === "dot") {
    const shape = { root: "doubleoctagon", intermediate: "box", bundle: "note" } as const;
    const colour = (st?: string) => (st === "active" ? "palegreen" : st === "prepared" ? "lightblue" : st === "retiring" ? "khaki" : st === "revoked" ? "salmon" : st === "retired" ? "lightgrey" : "white");
    const lines = ["digraph inforge {", "  rankdir=LR;", '  node [fontname="Helvetica", style=filled];'];
    for (const n of nodes) lines.push(`  ${n.id} [label="${n.label}", shape=${shape[n.kind]}, fillcolor=${colour(n.state)}];`);
    for (const e of edges) lines.push(`  ${e.from} -> ${e.to}${e.kind === "carries" ? " [style=dashed, arrowhead=none]" : e.kind === "cross-signs" ? ' [label="cross-signs", style=bold]' : ""};`);
    lines.push("}");
    return lines.join("\n");
  }
  const lines = ["flowchart LR"];
  const text = (l: string) => l.replace(/\\n/g, "<br/>");
  for (const n of nodes) {
    const [open, close] = n.kind === "root" ? ["{{", "}}"] : n.kind === "bundle" ? ["[/", "/]"] : ["[", "]"];
    lines.push(`  ${n.id}${open}"${text(n.label)}"${close}`);
  }
  for (const e of edges) lines.push(`  ${e.from} ${e.kind === "carries" ? "-.-" : e.kind === "cross-signs" ? "==>|cross-signs|" : "-->"} ${e.to}`);
  lines.push("  classDef active fill:#cfc;", "  classDef prepared fill:#cdf;", "  classDef retiring fill:#ffc;", "  classDef revoked fill:#fcc;", "  classDef retired fill:#ddd;");
  for (const st of ["active", "prepared", "retiring", "revoked", "retired"]) {
    const ids = nodes.filter((n) => n.state === st).map((n) => n.id);
    if (ids.length) lines.push(`  class ${ids.join(",")} ${st};`);
  }
  return lines.join("\n");
}
