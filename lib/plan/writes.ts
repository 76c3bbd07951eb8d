import * as P from "../model/paths.ts";
import type { StepTable } from "./step.ts";

/**
 * The files a step's executor writes, derived from the step's own fields — the same paths
 * lib/apply builds. The checker holds a step's declared `writes` to these, so a step cannot
 * declare eu paths while its fields make the executor write us files.
 */
export const derivedWrites: StepTable<string[]> = {
  "create-root-identity": () => [],
  "create-root": (s) => (s.keyIn ? [P.rootCert(s.gen)] : [P.rootCert(s.gen), P.rootKey(s.gen)]),
  "cross-sign-root": (s) => [P.crossCert(s.gen, s.by)],
  "issue-intermediate": (s) => [P.intermediateCert(s.scope, s.gen, s.mesh), P.intermediateKey(s.scope, s.gen, s.mesh)],
  "issue-leaf": (s) => [P.leafCert(s.scope, s.service), P.leafKeys(s.scope)],
  "issue-csr-leaf": (s) => [P.csrLeafCert(s.scope, s.service)],
  "set-state": (s) => [s.scope === "root" ? P.ROOT_STATE : P.scopeState(s.scope)],
  "sign-crl": () => [P.CRL],
  "sign-custody": () => [P.CUSTODY],
  "sign-scope-crl": (s) => [P.scopeCrl(s.scope)],
  "write-bundle": (s) => [P.bundle(s.bundle), ...P.meshBundles(s.bundle)],
  "write-state": (s) => [s.file],
};
