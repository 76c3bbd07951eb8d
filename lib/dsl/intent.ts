import type { ScopeName, ServiceName } from "../model/names.ts";
import type { CsrRequest } from "../model/csr.ts";
import type { RevocationReason } from "../model/revocation.ts";
import type { Mesh } from "../model/mesh.ts";

export type { CsrRequest };

// Intents: what an operator asked for, as frozen JSON data with a `kind`. No key material,
// no I/O. `origin` is the runbook line that asked ("tasks/rotate.ts:12"), so a check failure
// points at the operator's own code.

/** Where a new root key is made (`--root-in`): an age-sealed file, or a key pair on a PKCS#11 token (labels only). */
export type RootKeyIn = "age" | { readonly token: string; readonly object: string; readonly uri?: string };

/** pki.json fields `pki config` may set while it signs (issue 18): when renew promotes. */
export interface ConfigChange {
  readonly promotion?: "time" | "probe";
  readonly probeMaxAge?: string;
}

export type Intent =
  | { readonly kind: "root.init"; readonly origin: string; readonly name: string; readonly domain: string; readonly ciRecipient: string; readonly nameConstraints?: "dns+uri" | "dns"; readonly rootIn?: RootKeyIn }
  | { readonly kind: "root.rotate"; readonly origin: string; readonly rootIn?: RootKeyIn }
  | { readonly kind: "root.finish"; readonly origin: string }
  | { readonly kind: "root.crl"; readonly origin: string }
  | { readonly kind: "root.config"; readonly origin: string; readonly set?: ConfigChange }
  | { readonly kind: "scope.add"; readonly origin: string; readonly scope: ScopeName }
  | { readonly kind: "intermediate.rotate"; readonly origin: string; readonly scope: ScopeName; readonly force: boolean }
  | { readonly kind: "intermediate.recover"; readonly origin: string; readonly scope: ScopeName }
  | { readonly kind: "issuer.add"; readonly origin: string; readonly scope: ScopeName; readonly mesh: Mesh }
  | { readonly kind: "issuer.rotate"; readonly origin: string; readonly scope: ScopeName; readonly mesh: Mesh; readonly force: boolean }
  | { readonly kind: "issuer.recover"; readonly origin: string; readonly scope: ScopeName; readonly mesh: Mesh }
  | {
    readonly kind: "leaves.renew"; readonly origin: string; readonly scope: ScopeName | "all"; readonly services?: readonly ServiceName[];
    /** Of `services`, those whose leaf files this checkout lacks (pki.json leafFiles "shipped"): minted anew, as missing. Set by deploy. */
    readonly absent?: readonly ServiceName[];
  }
  | { readonly kind: "leaf.rotate"; readonly origin: string; readonly scope: ScopeName; readonly service: ServiceName }
  | { readonly kind: "leaf.revoke"; readonly origin: string; readonly scope: ScopeName; readonly service: ServiceName; readonly reason: RevocationReason }
  | { readonly kind: "leaf.sign-csr"; readonly origin: string; readonly scope: ScopeName; readonly service: ServiceName; readonly csr: CsrRequest };

export type IntentKind = Intent["kind"];
