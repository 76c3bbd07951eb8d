// What `inforge deploy` writes for one service: the files a workload loads, and a Kubernetes
// Secret carrying the same three. Pure: lib/cli reads the pki directory, opens the key and
// writes the files (only when their bytes differ).
//
//   tls.crt      the leaf, then the intermediate that signed it (what a TLS stack sends), and
//                during a root overlap the cross-signed new root (lib/model/bundles.ts servedChain)
//   tls.key      the leaf's private key, PKCS#8 PEM (mode 0600)
//   ca.crt       the scope's trust bundle: bundles/<scope>.pem (partial-chain anchors)
//   trust/<trust-domain>.pem   one per trust domain the service talks to, holding only that
//                domain's CAs: a consumer that authorizes by SPIFFE ID verifies a peer against
//                the file named for the peer's trust domain (docs/concepts.md). A region service
//                gets its own and global's; a global service gets every scope's.
//   secret.yaml  Secret of type kubernetes.io/tls with tls.crt, tls.key and ca.crt (mode 0600)
import { yamlDocument } from "./yaml.ts";
import { toBase64 } from "../bytes.ts";

export interface DeployInputs {
  readonly scope: string;
  readonly service: string;
  readonly domain: string;
  readonly leafPem: string;
  /** What follows the leaf in tls.crt: the files of servedChain (lib/model/bundles.ts), concatenated. */
  readonly chainPem: string;
  readonly keyPem: string;
  readonly bundlePem: string;
  /** Per trust domain the service talks to (`<scope>.<domain>`), that domain's CAs, in bundle order. */
  readonly trustDomains: readonly { readonly name: string; readonly pem: string }[];
  /** The leaf's notAfter, recorded in the Secret so a reviewer sees when it runs out. */
  readonly notAfter: string;
  /** The leaf's SPIFFE ID when a naming template sets it (lib/model/naming.ts); absent: `/svc/<service>`. */
  readonly spiffeId?: string;
}

export interface DeployFile {
  readonly name: string;
  readonly content: string;
  readonly mode: number;
}

export const DEPLOY_FILES = ["tls.crt", "tls.key", "ca.crt", "secret.yaml"] as const;
/** Where a trust domain's bundle sits in a deploy directory. */
export const trustFile = (trustDomain: string) => `trust/${trustDomain}.pem`;

/** The deploy bundle's files, in a fixed order (the key before the certificate that needs it). */
export function deployBundle(i: DeployInputs): DeployFile[] {
  const crt = i.leafPem + i.chainPem;
  return [
    { name: "tls.key", content: i.keyPem, mode: 0o600 },
    { name: "tls.crt", content: crt, mode: 0o644 },
    { name: "ca.crt", content: i.bundlePem, mode: 0o644 },
    ...i.trustDomains.map((t) => ({ name: trustFile(t.name), content: t.pem, mode: 0o644 })),
    { name: "secret.yaml", content: tlsSecret(i, crt), mode: 0o600 },
  ];
}

/**
 * A Secret of type kubernetes.io/tls (the type cert-manager and ingress controllers read), named
 * `<service>-tls`, without a namespace (kubectl apply -n <ns> chooses it). Content depends only
 * on the files, so an unchanged leaf gives byte-identical YAML.
 */
export function tlsSecret(i: DeployInputs, crt: string): string {
  return yamlDocument({
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: {
      name: `${i.service}-tls`,
      labels: {
        "app.kubernetes.io/name": i.service,
        "app.kubernetes.io/managed-by": "inforge",
        "inforge.dev/scope": i.scope,
      },
      annotations: {
        "inforge.dev/spiffe-id": i.spiffeId ?? `spiffe://${i.scope}.${i.domain}/svc/${i.service}`,
        "inforge.dev/not-after": i.notAfter,
        "inforge.dev/trust-bundle": `bundles/${i.scope}.pem`,
      },
    },
    data: { "tls.crt": toBase64(UTF8.encode(crt)), "tls.key": toBase64(UTF8.encode(i.keyPem)), "ca.crt": toBase64(UTF8.encode(i.bundlePem)) },
  });
}

const UTF8 = new TextEncoder();
