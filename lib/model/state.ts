import * as v from "valibot";
import { ScopeName, ServiceName } from "./names.ts";
import { PkiConfigSchema, type PkiConfig } from "./config.ts";
import { RevocationReasonSchema } from "./revocation.ts";
import type { Probes } from "./probes.ts";
import type { Naming } from "./naming.ts";
import { MeshSchema, type Mesh } from "./mesh.ts";

// The state of the tree as plain data: what the files under pki/ say, validated when read.
// Certificates stay in their PEM files; these records carry what the planner reasons about.

/** Lifecycle of a CA generation: prepared → active → retiring → retired, or revoked from any. */
export const GEN_STATES = ["prepared", "active", "retiring", "retired", "revoked"] as const;
export type GenState = (typeof GEN_STATES)[number];

/** States whose certificate is in bundles (trusted); only `active` issues. */
export const LIVE: ReadonlySet<GenState> = new Set(["prepared", "active", "retiring"]);

const Iso = v.pipe(v.string(), v.isoTimestamp("a UTC timestamp such as 2026-11-27T10:00:00Z"));

export const GenerationSchema = v.strictObject({
  gen: v.pipe(v.number(), v.integer(), v.minValue(1)),
  state: v.picklist(GEN_STATES),
  serial: v.pipe(v.string(), v.regex(/^[0-9a-f]*$/)),
  fingerprint: v.pipe(v.string(), v.regex(/^[0-9a-f]*$/)),
  notBefore: Iso,
  notAfter: Iso,
  /** The root generation that signed an intermediate; null for a root. */
  issuer: v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1))),
  /** When it entered its current state. */
  since: Iso,
  /** Earliest time a prepared generation may become active (publish trust before use). */
  activateAfter: v.optional(Iso),
  /** Earliest time a retiring generation may leave the bundles: when its last leaf expires. */
  retireAfter: v.optional(Iso),
  /** The DNS subtrees an intermediate permits when naming templates widen them beyond
   *  `<scope>.<domain>` (lib/model/naming.ts); absent: exactly `<scope>.<domain>`. */
  permittedDns: v.optional(v.array(v.string())),
});
export type Generation = v.InferOutput<typeof GenerationSchema>;

export const RevokedSchema = v.strictObject({
  scope: ScopeName,
  /** A mesh issuer of the scope (pki issuer --recover); absent: the scope's intermediate. */
  mesh: v.optional(MeshSchema),
  gen: v.number(),
  serial: v.string(),
  date: Iso,
  /** The CRL reasonCode; absent in trees from before reasons were recorded, where only
   *  recover-intermediate revoked (read as "key-compromise"). */
  reason: v.optional(RevocationReasonSchema),
});
export type Revoked = v.InferOutput<typeof RevokedSchema>;

export const RootFileSchema = v.strictObject({
  generations: v.array(GenerationSchema),
  /** The cross-signed certificate of a newer root by the older one, during a root overlap. */
  crossSigned: v.optional(v.nullable(v.strictObject({ gen: v.number(), by: v.number(), fingerprint: v.string() }))),
  crl: v.strictObject({ number: v.number(), revoked: v.array(RevokedSchema), thisUpdate: v.optional(Iso) }),
});
export type RootFile = v.InferOutput<typeof RootFileSchema>;

export const ScopeFileSchema = v.strictObject({
  scope: ScopeName,
  generations: v.array(GenerationSchema),
  /** Mesh issuers of the scope (`pki issuer`, lib/model/mesh.ts): their generations, by mesh.
   *  Optional (absent until the first). */
  issuers: v.optional(v.record(MeshSchema, v.array(GenerationSchema))),
});
export type ScopeFile = v.InferOutput<typeof ScopeFileSchema>;

export const LeafSchema = v.strictObject({
  /** The generation of the scope's intermediate that signed it. */
  gen: v.number(),
  serial: v.string(),
  fingerprint: v.string(),
  notBefore: Iso,
  notAfter: Iso,
  /** The names it carries (DNS names, then SPIFFE IDs) when naming templates change them;
   *  absent: `<service>.<scope>.<domain>` and `spiffe://<scope>.<domain>/svc/<service>`. */
  names: v.optional(v.array(v.string())),
});
export type Leaf = v.InferOutput<typeof LeafSchema>;

export const RevokedLeafSchema = v.strictObject({
  service: ServiceName,
  /** The intermediate generation that signed it (whose CRL lists it). */
  gen: v.number(),
  serial: v.pipe(v.string(), v.regex(/^[0-9a-f]+$/)),
  notAfter: Iso,
  date: Iso,
  reason: RevocationReasonSchema,
});
export type RevokedLeaf = v.InferOutput<typeof RevokedLeafSchema>;

export const ScopeCrlSchema = v.strictObject({
  number: v.pipe(v.number(), v.integer(), v.minValue(1)),
  thisUpdate: Iso,
  nextUpdate: Iso,
  /** The generations that sign a CRL in the file (active and retiring ones), ascending. */
  gens: v.array(v.pipe(v.number(), v.integer(), v.minValue(1))),
});
export type ScopeCrl = v.InferOutput<typeof ScopeCrlSchema>;

export const LeafIndexSchema = v.strictObject({
  scope: ScopeName,
  leaves: v.record(ServiceName, LeafSchema),
  /** Leaves issued by `pki sign-csr` to workloads that keep their own key: recorded so that
   *  their issuer stays in the bundles until they expire. Optional (absent until the first). */
  csr: v.optional(v.record(ServiceName, LeafSchema)),
  /** Leaves revoked before they expired (`pki revoke --leaf`), listed on the scope's CRL until a
   *  CRL issued after their notAfter has listed them (RFC 5280 §3.3). Optional (absent until the first). */
  revoked: v.optional(v.array(RevokedLeafSchema)),
  /** The scope's CRL, crl/<scope>.crl.pem: one CRL per intermediate generation in `gens`, each
   *  signed by that generation (CI posture). Absent until the scope's first leaves are minted. */
  crl: v.optional(ScopeCrlSchema),
});
export type LeafIndex = v.InferOutput<typeof LeafIndexSchema>;

/** The generations of a scope's intermediate, or of one of its mesh issuers. */
export function generationsOf(sf: ScopeFile | undefined, mesh?: Mesh): Generation[] {
  if (!sf) return [];
  return mesh ? (sf.issuers?.[mesh] ?? []) : sf.generations;
}

/** Everything the planner and checker need, read from pki/ at one instant. */
export interface Snapshot {
  readonly config: PkiConfig | null;
  readonly root: RootFile;
  readonly scopes: Readonly<Record<string, ScopeFile>>;
  readonly leaves: Readonly<Record<string, LeafIndex>>;
}

const freeze = <T>(o: T): T => {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) freeze(v);
    Object.freeze(o);
  }
  return o;
};

export const EMPTY_SNAPSHOT: Snapshot = freeze({
  config: null,
  root: { generations: [], crossSigned: null, crl: { number: 0, revoked: [] } },
  scopes: {},
  leaves: {},
});

/** The scopes and services the operator declared in regions/*.json. */
export interface Topology {
  readonly scopes: Readonly<Record<string, { readonly services: readonly ServiceName[]; readonly probes?: Probes; readonly naming?: Naming }>>;
}

export { PkiConfigSchema };
export type { PkiConfig };
