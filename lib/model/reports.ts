import * as v from "valibot";
import { GEN_STATES } from "./state.ts";
import { SavedPlanSchema } from "./saved-plan.ts";
import { EndpointResultSchema } from "./probes.ts";
import { MESHES } from "./mesh.ts";

// The machine-readable outputs of the CLI (`--json`), as versioned valibot schemas: the single
// source for their types, for the tests that validate real output, and for the JSON Schema
// files under docs/schemas/ (npm run schemas). A breaking change bumps the `schema` version.

const Iso = v.pipe(v.string(), v.isoTimestamp());
const Severity = v.picklist(["ok", "warning", "critical"]);
const Ref = v.strictObject({ scope: v.string(), gen: v.number() });

const GenView = v.strictObject({
  gen: v.number(),
  state: v.picklist(GEN_STATES),
  notBefore: Iso,
  notAfter: Iso,
  serial: v.string(),
  issuer: v.nullable(v.number()),
  expiresInDays: v.number(),
  health: Severity,
  activateAfter: v.optional(Iso),
  retireAfter: v.optional(Iso),
  /** Roots only: where the key lives — an age-sealed file in the tree, or a PKCS#11 token (pki.json rootKeys). */
  key: v.optional(v.union([v.strictObject({ in: v.literal("age") }), v.strictObject({ in: v.literal("pkcs11"), token: v.string(), object: v.string() })])),
});

export const StatusReportSchema = v.strictObject({
  schema: v.literal("inforge.status/v1"),
  at: Iso,
  mesh: v.nullable(v.strictObject({ name: v.string(), domain: v.string() })),
  health: Severity,
  roots: v.array(GenView),
  scopes: v.array(
    v.strictObject({
      scope: v.string(),
      generations: v.array(GenView),
      leaves: v.strictObject({ total: v.number(), due: v.number(), expired: v.number(), nextRenewal: v.nullable(Iso) }),
      /** The last `pki probe` of the scope that counts (journalled, signed): when, how many endpoints, which prepared generation it tested. */
      probe: v.optional(v.strictObject({ at: Iso, endpoints: v.number(), prepared: v.nullable(v.number()) })),
      /** Mesh issuers of the scope (`pki issuer`); absent when it has none. */
      issuers: v.optional(v.array(v.strictObject({ mesh: v.picklist(MESHES), generations: v.array(GenView) }))),
    }),
  ),
  crl: v.strictObject({ number: v.number(), thisUpdate: v.nullable(Iso), nextUpdate: v.nullable(Iso) }),
  findings: v.array(v.strictObject({ severity: v.picklist(["warning", "critical"]), code: v.string(), message: v.string(), file: v.optional(v.string()), scope: v.optional(v.string()) })),
  calendar: v.array(v.strictObject({ at: Iso, subject: v.string(), event: v.string(), severity: Severity })),
});

export const StepSchema = v.looseObject({
  kind: v.string(),
  origin: v.string(),
  identity: v.nullable(v.picklist(["root", "ci"])),
  writes: v.array(v.string()),
});

export const RunReportSchema = v.strictObject({
  schema: v.literal("inforge.run/v1"),
  at: Iso,
  task: v.string(),
  applied: v.boolean(),
  planOnly: v.boolean(),
  needs: v.array(v.picklist(["root", "ci"])),
  steps: v.array(StepSchema),
  bundles: v.array(v.strictObject({ bundle: v.string(), enter: v.array(Ref), leave: v.array(Ref), members: v.array(Ref) })),
  notes: v.array(v.string()),
  next: v.array(v.string()),
  written: v.array(v.string()),
  /** The entry's number in its own journal (see `entry` for which journal). */
  journal: v.nullable(v.number()),
  /** The entry named by its journal: "pki#12" (journal/pki.jsonl) or "eu#1" (a one-region run's journal/scopes/eu.jsonl). */
  entry: v.nullable(v.string()),
});

export const ErrorReportSchema = v.strictObject({
  schema: v.literal("inforge.error/v1"),
  error: v.string(),
  message: v.string(),
});

export const VerifyReportSchema = v.strictObject({
  schema: v.literal("inforge.verify/v1"),
  ok: v.boolean(),
  at: Iso,
  dir: v.string(),
  findings: v.array(v.strictObject({ code: v.string(), severity: v.picklist(["error", "warning"]), file: v.optional(v.string()), message: v.string() })),
  checked: v.strictObject({
    files: v.number(),
    certificates: v.number(),
    bundles: v.number(),
    crls: v.number(),
    keys: v.strictObject({ present: v.number(), opened: v.number(), skipped: v.number() }),
    journal: v.strictObject({ entries: v.number(), files: v.number() }),
    /** Leaves whose files the checkout lacks under pki.json leafFiles "shipped" (not checked here). */
    shipped: v.number(),
  }),
});

export const TasksReportSchema = v.strictObject({
  schema: v.literal("inforge.tasks/v1"),
  tasks: v.array(v.strictObject({ name: v.string(), summary: v.string(), file: v.string(), shipped: v.boolean() })),
});

const Minted = v.nullable(v.string());
export const DeployReportSchema = v.strictObject({
  schema: v.literal("inforge.deploy/v1"),
  scope: v.string(),
  service: v.string(),
  out: v.string(),
  minted: Minted,
  notAfter: Iso,
  changed: v.array(v.string()),
});

/** `deploy --mesh <m> --json`: which issuer generation was exported where. */
export const DeployMeshReportSchema = v.strictObject({
  schema: v.literal("inforge.deploy-mesh/v1"),
  scope: v.string(),
  mesh: v.picklist(MESHES),
  gen: v.number(),
  out: v.string(),
  notAfter: Iso,
  changed: v.array(v.string()),
});

export const ReleaseReportSchema = v.strictObject({
  schema: v.literal("inforge.release/v1"),
  release: v.string(),
  ok: v.boolean(),
  delivered: v.array(v.strictObject({ scope: v.string(), service: v.string(), out: v.string(), minted: Minted, changed: v.array(v.string()) })),
  failed: v.array(v.strictObject({ scope: v.string(), service: v.string(), error: v.string() })),
});

/** `pki graph --json`: the same nodes and edges the Mermaid and Graphviz renderings draw. */
export const GraphReportSchema = v.strictObject({
  schema: v.literal("inforge.graph/v1"),
  nodes: v.array(v.strictObject({
    id: v.string(),
    kind: v.picklist(["root", "intermediate", "bundle"]),
    /** "root", a scope, or the bundle's name. */
    name: v.string(),
    gen: v.optional(v.number()),
    state: v.optional(v.string()),
  })),
  edges: v.array(v.strictObject({ from: v.string(), to: v.string(), kind: v.picklist(["signs", "carries", "cross-signs"]) })),
});
export type GraphReport = v.InferOutput<typeof GraphReportSchema>;

/** `pki probe --json`: per scope, what each endpoint served and whether it trusts a prepared generation. */
export const ProbeReportSchema = v.strictObject({
  schema: v.literal("inforge.probe/v1"),
  at: Iso,
  /** Wall-clock milliseconds of the whole run. */
  ms: v.number(),
  scopes: v.array(v.strictObject({
    scope: v.string(),
    prepared: v.nullable(v.strictObject({ gen: v.number(), fingerprint: v.string() })),
    endpoints: v.array(EndpointResultSchema),
    /** With a prepared generation and pki.json promotion "probe": what renew decides on this evidence. */
    promotion: v.optional(v.strictObject({ ready: v.boolean(), blockers: v.array(v.string()) })),
  })),
  /** The journal entry that recorded the run: "pki#12", or "eu#3" for a one-region probe. */
  entry: v.string(),
});

export const REPORT_SCHEMAS = {
  "inforge.status/v1": StatusReportSchema,
  "inforge.run/v1": RunReportSchema,
  "inforge.verify/v1": VerifyReportSchema,
  "inforge.tasks/v1": TasksReportSchema,
  "inforge.deploy/v1": DeployReportSchema,
  "inforge.deploy-mesh/v1": DeployMeshReportSchema,
  "inforge.release/v1": ReleaseReportSchema,
  "inforge.error/v1": ErrorReportSchema,
  "inforge.graph/v1": GraphReportSchema,
  "inforge.plan/v1": SavedPlanSchema,
  "inforge.probe/v1": ProbeReportSchema,
} as const;

export type RunReport = v.InferOutput<typeof RunReportSchema>;
