// The forgery matrix: certificates minted with one region's intermediate key (skipping every
// check of our planner) and the tree's own live leaves, each judged by every stack in the
// documented configuration of each kind of consumer (docs/concepts.md "Validating a peer").
//
// Two configurations per consumer kind:
// - flat: the one anchor file deploy hands out (ca.crt = bundles/<scope>.pem, partial chain) or
//   bundles/root.pem, and the stack's host name check. It fences DNS names where the stack
//   enforces the intermediates' name constraints; it cannot fence SPIFFE IDs.
// - recipe: the identity's trust domain picks the anchors — trust/<scope>.<domain>.pem, only
//   that scope's CAs — then the chain is verified against them and the identity matched; a
//   root-anchoring consumer verifies to root.pem, then requires the issuing intermediate's
//   permitted DNS subtree to be the identity's scope. This holds on every stack.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { run, type Sandbox } from "../helpers.ts";
import { matchName, type Check, type Stack } from "./stacks.ts";

export type Target = { readonly kind: "dns"; readonly value: string } | { readonly kind: "spiffe"; readonly value: string } | { readonly kind: "ip"; readonly value: string };

export interface Peer {
  readonly leaf: string;
  readonly intermediate: string;
  readonly chain: string;
  readonly key: string;
  readonly dns: readonly string[];
  readonly uris: readonly string[];
  readonly ips: readonly string[];
}

export interface Case {
  readonly id: string;
  readonly label: string;
  readonly forged: boolean;
  readonly peer: Peer;
  /** The identities the peer would be taken for; one matrix row each. */
  readonly targets: readonly Target[];
  /** For a live leaf: its scope (consumers that do not trust that scope refuse it by design). */
  readonly scope?: string;
}

export type ConsumerKind = "eu" | "us" | "global" | "root";
export type Mode = "flat" | "recipe";

/** Why a consumer refused: the stack, or a step of the recipe before or after it. */
export type Outcome = "accept" | "stack" | "no-bundle" | "id" | "scope";

/** A leaf signed by the `scope` intermediate's key (opened with the age CLI), with these extensions. */
export function forge(sb: Sandbox, work: string, scope: string, id: string, o: { subject?: string; san?: string }): Peer {
  const intKey = join(work, `${scope}-int.key`);
  const opened = run("age", ["-d", "-i", sb.ciKey, "-o", intKey, join(sb.dir, `scopes/${scope}/G1.key.age`)]);
  if (opened.status !== 0) throw new Error(opened.stderr);
  const key = join(work, `${id}.key`);
  const csr = join(work, `${id}.csr`);
  const r1 = run("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", o.subject ?? "/O=forged", "-out", csr]);
  if (r1.status !== 0) throw new Error(r1.stderr);
  const ext = join(work, `${id}.cnf`);
  writeFileSync(ext, `${o.san ? `subjectAltName=${o.san}\n` : ""}basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`);
  const leaf = join(work, `${id}.crt.pem`);
  const intermediate = join(sb.dir, `scopes/${scope}/G1.crt.pem`);
  const r2 = run("openssl", ["x509", "-req", "-in", csr, "-CA", intermediate, "-CAkey", intKey, "-set_serial", String(Date.now()), "-days", "1", "-extfile", ext, "-out", leaf]);
  if (r2.status !== 0) throw new Error(r2.stderr);
  return peerOf(work, id, leaf, intermediate, readFileSync(key, "utf8"));
}

/** What a peer presents (leaf + intermediate in one file) and the names its leaf carries. */
export function peerOf(work: string, id: string, leaf: string, intermediate: string, key: string): Peer {
  const chain = join(work, `${id}.chain.pem`);
  writeFileSync(chain, readFileSync(leaf, "utf8") + readFileSync(intermediate, "utf8"));
  const sans = new X509Certificate(readFileSync(leaf)).subjectAltName ?? "";
  const of = (kind: string) => sans.split(/,\s*/).filter((s) => s.startsWith(kind + ":")).map((s) => s.slice(kind.length + 1));
  return { leaf, intermediate, chain, key, dns: of("DNS"), uris: of("URI"), ips: of("IP Address") };
}

/** The scope an identity belongs to, read off its name (`<svc>.<scope>.<domain>`, `spiffe://<scope>.<domain>/…`). */
export function scopeOfIdentity(t: Target, domain: string): string | null {
  const host = t.kind === "spiffe" ? /^spiffe:\/\/([^/]+)\//.exec(t.value)?.[1] : t.kind === "dns" ? t.value.split(".").slice(1).join(".") : undefined;
  if (!host || !host.endsWith(`.${domain}`)) return null;
  const scope = host.slice(0, -domain.length - 1);
  return /^[a-z][a-z0-9-]*$/.test(scope) ? scope : null;
}

export interface Layout {
  readonly domain: string;
  readonly scopes: readonly string[];
  /** The flat anchor file of a consumer kind (ca.crt or root.pem). */
  flat(kind: ConsumerKind): string;
  /** The trust-domain bundles a consumer kind holds, by trust domain (root-anchoring: none). */
  trustDomains(kind: ConsumerKind): ReadonlyMap<string, string>;
  readonly root: string;
}

/** Which live scopes a consumer is meant to accept (a region: its own and global; global and root: all). */
export const trusts = (kind: ConsumerKind, scope: string) => kind === "global" || kind === "root" || scope === kind || scope === "global";

const permittedCache = new Map<string, string[]>();
/** The permitted DNS subtrees of a CA certificate, as openssl reads them. */
function permittedDns(file: string): string[] {
  let out = permittedCache.get(file);
  if (!out) {
    const nc = run("openssl", ["x509", "-noout", "-ext", "nameConstraints", "-in", file]).stdout;
    const permitted = /Permitted:([\s\S]*?)(?:Excluded:|$)/.exec(nc)?.[1] ?? "";
    permittedCache.set(file, (out = [...permitted.matchAll(/DNS:([^\s,]+)/g)].map((m) => m[1]!)));
  }
  return out;
}

interface Pending {
  readonly check: Check | null; // null: decided before any stack ran
  readonly before?: Outcome;
  after(ok: boolean, stack: Stack, peer: Peer): Outcome;
}

/** The recipe for one consumer, one peer, one identity: the stack check to run and what follows it. */
function plan(l: Layout, kind: ConsumerKind, mode: Mode, peer: Peer, t: Target): Pending {
  const base = { leaf: peer.leaf, intermediate: peer.intermediate, chain: peer.chain, key: peer.key };
  const name = t.kind === "dns" ? { dns: t.value } : t.kind === "ip" ? { ip: t.value } : undefined;
  const nameOk = (stack: Stack) => !name || stack.checksName || matchName(name, peer);
  // SPIFFE X509-SVID §2: exactly one URI SAN, the SPIFFE ID.
  const idOk = () => t.kind !== "spiffe" || (peer.uris.length === 1 && peer.uris[0] === t.value);
  if (mode === "flat") {
    // A SPIFFE ID matched against the flat anchors: not a documented configuration, shown as the
    // evidence for why SPIFFE consumers need the recipe.
    const check: Check = { ...base, anchors: l.flat(kind), partial: kind !== "root", ...(name ? { name } : {}) };
    return { check, after: (ok, stack) => (!ok ? "stack" : nameOk(stack) && idOk() ? "accept" : "id") };
  }
  const scope = scopeOfIdentity(t, l.domain);
  if (kind === "root") {
    const check: Check = { ...base, anchors: l.root, partial: false, ...(name ? { name } : {}) };
    return {
      check,
      after: (ok, stack, p) => {
        if (!ok) return "stack";
        if (!nameOk(stack) || !idOk()) return "id";
        // The root alone cannot tell scopes apart: the issuing intermediate's permitted DNS subtree can.
        const permitted = permittedDns(p.intermediate);
        return scope !== null && permitted.length === 1 && permitted[0] === `${scope}.${l.domain}` ? "accept" : "scope";
      },
    };
  }
  const anchors = scope === null ? undefined : l.trustDomains(kind).get(`${scope}.${l.domain}`);
  if (!anchors) return { check: null, before: "no-bundle", after: () => "no-bundle" };
  const check: Check = { ...base, anchors, partial: true, ...(t.kind === "spiffe" ? {} : name ? { name } : {}) };
  return { check, after: (ok, stack) => (!ok ? "stack" : nameOk(stack) && idOk() ? "accept" : "id") };
}

export interface Row {
  readonly caseId: string;
  readonly label: string;
  readonly forged: boolean;
  readonly target: Target;
  readonly kind: ConsumerKind;
  readonly mode: Mode;
  readonly scope?: string;
  readonly outcomes: Record<string, Outcome>;
}

/** Every case × identity × consumer kind × mode, judged by every stack (each stack gets one batch). */
export async function runMatrix(l: Layout, cases: readonly Case[], stacks: readonly Stack[]): Promise<Row[]> {
  const kinds: ConsumerKind[] = ["eu", "us", "global", "root"];
  const items: { row: Omit<Row, "outcomes">; peer: Peer; p: Pending }[] = [];
  for (const c of cases) {
    for (const t of c.targets) {
      for (const kind of kinds) {
        if (!c.forged && !trusts(kind, c.scope!)) continue; // a peer this consumer is not meant to trust: not a live-leaf row
        for (const mode of ["flat", "recipe"] as const) {
          const p = plan(l, kind, mode, c.peer, t);
          items.push({ row: { caseId: c.id, label: c.label, forged: c.forged, target: t, kind, mode, ...(c.scope ? { scope: c.scope } : {}) }, peer: c.peer, p });
        }
      }
    }
  }
  const rows = items.map((i) => ({ ...i.row, outcomes: {} as Record<string, Outcome> }));
  for (const stack of stacks) {
    const idx = items.flatMap((it, n) => (it.p.check ? [n] : []));
    const t = performance.now();
    const verdicts = await stack.verifyAll(idx.map((n) => items[n]!.p.check!));
    if (process.env.INTEROP_TIMING) console.error(`${stack.id}: ${idx.length} checks in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    idx.forEach((n, k) => (rows[n]!.outcomes[stack.id] = items[n]!.p.after(verdicts[k]!.ok, stack, items[n]!.peer)));
    items.forEach((it, n) => {
      if (!it.p.check) rows[n]!.outcomes[stack.id] = it.p.before!;
    });
  }
  return rows;
}
