import type { Posture } from "../errors.ts";
import type { Intent } from "../dsl/intent.ts";
import type { Ref } from "../model/bundles.ts";
import type { GenState, Snapshot } from "../model/state.ts";
import type { RevocationReason } from "../model/revocation.ts";
import type { Mesh } from "../model/mesh.ts";

// Steps: what applying a plan will do, as frozen JSON data. Each names the identity it needs
// (null: none) and the files it writes, so a plan can be reviewed and checked before any key is
// touched. Certificates are referred to by (scope, generation); their serials and keys only
// exist once applied.

interface Base {
  readonly origin: string;
  /** The age identity needed to open the signing key; null when no key is opened. */
  readonly identity: Posture | null;
  readonly writes: readonly string[];
}

export interface CreateRootIdentity extends Base { readonly kind: "create-root-identity" }
/** A key pair on a PKCS#11 token, by token and object label. */
export interface TokenKeyRef {
  readonly token: string;
  readonly object: string;
}
export interface CreateRoot extends Base {
  readonly kind: "create-root";
  readonly gen: number;
  /** The key is made on this PKCS#11 token (labels only; the module and PIN come from the operator); absent: an age-sealed file. */
  readonly keyIn?: TokenKeyRef;
  readonly commonName: string;
  readonly notBefore: string;
  readonly notAfter: string;
}
export interface CrossSignRoot extends Base {
  readonly kind: "cross-sign-root";
  readonly gen: number;
  readonly by: number;
  readonly notBefore: string;
  readonly notAfter: string;
}
export interface IssueIntermediate extends Base {
  readonly kind: "issue-intermediate";
  readonly scope: string;
  /** A mesh issuer of the scope (`pki issuer`) rather than its intermediate. */
  readonly mesh?: Mesh;
  readonly gen: number;
  readonly rootGen: number;
  readonly state: "prepared" | "active";
  readonly commonName: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly permittedDns: readonly string[];
  readonly permittedUriHosts: readonly string[];
  /** The CRL distribution point it carries (pki.json crl.url set): its root's CRL. */
  readonly crlUrl?: string;
}
export type LeafReason = "missing" | "due" | "new issuer" | "forced" | "issuer revoked" | "replaces revoked" | "names changed";
export interface IssueLeaf extends Base {
  readonly kind: "issue-leaf";
  readonly scope: string;
  readonly service: string;
  readonly gen: number;
  readonly reason: LeafReason;
  readonly commonName: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly dns: readonly string[];
  readonly uris: readonly string[];
  /** The CRL distribution point it carries (pki.json crl.url set): its issuer's CRL. */
  readonly crlUrl?: string;
}
/** A leaf for a workload that keeps its own key (`pki sign-csr`): no key is generated or sealed. */
export interface IssueCsrLeaf extends Base {
  readonly kind: "issue-csr-leaf";
  readonly scope: string;
  readonly service: string;
  readonly gen: number;
  readonly commonName: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly dns: readonly string[];
  readonly uris: readonly string[];
  /** The workload's public key, DER SubjectPublicKeyInfo in base64 (public data). */
  readonly publicKey: string;
  /** The key as people say it ("ECDSA P-256"), for the plan. */
  readonly key: string;
  readonly crlUrl?: string;
}
export interface SetState extends Base {
  readonly kind: "set-state";
  readonly scope: string; // "root" or a scope
  /** A mesh issuer of the scope rather than its intermediate. */
  readonly mesh?: Mesh;
  readonly gen: number;
  readonly from: GenState;
  readonly to: GenState;
  readonly why: string;
}
export interface SignCrl extends Base {
  readonly kind: "sign-crl";
  /** One CRL per live root, each listing what that root signed and revoked. */
  readonly rootGens: readonly number[];
  readonly number: number;
  readonly thisUpdate: string;
  readonly nextUpdate: string;
  readonly revoked: readonly Ref[];
}
/** A scope's CRL file: one CRL per live (active or retiring) generation, each listing the revoked
 *  leaves that generation signed, signed with that generation's key (CI posture). */
export interface SignScopeCrl extends Base {
  readonly kind: "sign-scope-crl";
  readonly scope: string;
  readonly gens: readonly number[];
  readonly number: number;
  readonly thisUpdate: string;
  readonly nextUpdate: string;
  readonly revoked: readonly { readonly service: string; readonly gen: number; readonly serial: string; readonly reason: RevocationReason }[];
  /** Why it is signed now, for the plan ("first leaves", "payments revoked (key-compromise)", "renewal point", …). */
  readonly why: string;
}
export interface WriteBundle extends Base {
  readonly kind: "write-bundle";
  readonly bundle: string;
  readonly members: readonly Ref[];
  readonly enter: readonly Ref[];
  readonly leave: readonly Ref[];
}
/** Sign pki.json's trust-critical fields into custody.json with a root key (DESIGN invariant 6). */
export interface SignCustody extends Base {
  readonly kind: "sign-custody";
  readonly rootGen: number;
  readonly why: string;
}
export interface WriteState extends Base { readonly kind: "write-state"; readonly file: string }

export type Step =
  | CreateRootIdentity
  | CreateRoot
  | CrossSignRoot
  | IssueIntermediate
  | IssueLeaf
  | IssueCsrLeaf
  | SetState
  | SignCrl
  | SignCustody
  | SignScopeCrl
  | WriteBundle
  | WriteState;

export type StepKind = Step["kind"];
/** One handler per step kind: a new kind does not compile until every stage handles it. */
export type StepTable<R> = { readonly [K in StepKind]: (step: Extract<Step, { kind: K }>) => R };

export interface Plan {
  readonly now: string;
  readonly intents: readonly Intent[];
  readonly steps: readonly Step[];
  readonly before: Snapshot;
  /** The state once applied (serials and fingerprints of new certificates still empty). */
  readonly after: Snapshot;
  /** Things the operator should know (clamped lifetimes, nothing to do, …). */
  readonly notes: readonly string[];
  /** What comes next, in which posture, and from when. */
  readonly next: readonly string[];
}

/** The identities a plan needs, in a stable order. */
export function identitiesNeeded(plan: Plan): Posture[] {
  const s = new Set(plan.steps.map((x) => x.identity).filter((x): x is Posture => x !== null));
  return (["root", "ci"] as const).filter((p) => s.has(p));
}
