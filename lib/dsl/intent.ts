import type { ScopeName, ServiceName } from "../model/names.ts";

// Intents: what an operator asked for, as frozen JSON data with a `kind`. No key material,
// no I/O. `origin` is the runbook line that asked ("tasks/rotate.ts:12"), so a check failure
// points at the operator's own code.

export type Intent =
  | { readonly kind: "root.init"; readonly origin: string; readonly name: string; readonly domain: string; readonly ciRecipient: string; readonly nameConstraints?: "dns+uri" | "dns" }
  | { readonly kind: "root.rotate"; readonly origin: string }
  | { readonly kind: "root.finish"; readonly origin: string }
  | { readonly kind: "root.crl"; readonly origin: string }
  | { readonly kind: "scope.add"; readonly origin: string; readonly scope: ScopeName }
  | { readonly kind: "intermediate.rotate"; readonly origin: string; readonly scope: ScopeName; readonly force: boolean }
  | { readonly kind: "intermediate.recover"; readonly origin: string; readonly scope: ScopeName }
  | { readonly kind: "leaves.renew"; readonly origin: string; readonly scope: ScopeName | "all"; readonly services?: readonly ServiceName[] }
  | { readonly kind: "leaf.rotate"; readonly origin: string; readonly scope: ScopeName; readonly service: ServiceName }
  | { readonly kind: "leaf.sign-csr"; readonly origin: string; readonly scope: ScopeName; readonly service: ServiceName; readonly csr: CsrRequest };

/** What a verified CSR asks for (lib/x509 parseCsr): its public key (DER SPKI, base64 — public
 *  data) and the names it requests, which the planner holds to the service's own names. */
export interface CsrRequest {
  readonly publicKey: string;
  readonly key: string;
  readonly commonNames: readonly string[];
  readonly dns: readonly string[];
  readonly uris: readonly string[];
  readonly other: readonly string[];
}

export type IntentKind = Intent["kind"];
