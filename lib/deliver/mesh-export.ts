// What `inforge deploy --mesh <m> --region <scope>` writes: a scope's mesh issuer in the format
// that mesh's own docs ask for, and a Kubernetes manifest that installs it. Pure: lib/cli reads
// and vouches for the certificates, opens the key and writes the files.
//
// Trust anchors are the live roots (bundles/root.pem: both during a root overlap). Every issuer
// generation chains to one of them, so during an issuer overlap workloads signed by the old and
// the new issuer both verify against the same anchors; during a root overlap the anchors hold old
// and new root, and the issuer's chain carries the cross-signed root (DESIGN invariant 7).
//
//   istio         ca-cert.pem  ca-key.pem  root-cert.pem  cert-chain.pem  cacerts.yaml
//                 (Secret "cacerts" in istio-system: Istio's "Plug in CA Certificates")
//   linkerd       ca.crt  tls.crt  tls.key  linkerd-identity.yaml
//                 (Secret "linkerd-identity-issuer" of type kubernetes.io/tls and ConfigMap
//                 "linkerd-identity-trust-roots" key ca-bundle.crt, both in namespace linkerd)
//   cert-manager  ca.crt  tls.crt  tls.key  cert-manager.yaml
//                 (Secret "inforge-<scope>-ca" in cert-manager and a ClusterIssuer using it)
import type { Mesh } from "../model/mesh.ts";
import type { DeployFile } from "./deploy-bundle.ts";
import { yamlDocument, type YamlValue } from "./yaml.ts";
import { toBase64 } from "../bytes.ts";

export interface MeshExportInputs {
  readonly mesh: Mesh;
  readonly scope: string;
  readonly trustDomain: string;
  readonly gen: number;
  /** The issuer's certificate, PEM. */
  readonly issuerPem: string;
  /** Its private key, PKCS#8 PEM (plaintext: written mode 0600, outside the repo). */
  readonly keyPem: string;
  /** What follows the issuer on the way to its root: the cross-signed root during a root overlap, else empty. */
  readonly chainPem: string;
  /** The issuer's own root certificate. */
  readonly rootPem: string;
  /** The trust anchors: every live root, in root.pem order. */
  readonly anchorsPem: string;
  readonly notAfter: string;
}

/** The files of each mesh, in write order (keys first), for the git-ignore check of --out. */
export const MESH_FILES: { readonly [M in Mesh]: readonly string[] } = {
  istio: ["ca-key.pem", "ca-cert.pem", "cert-chain.pem", "root-cert.pem", "cacerts.yaml"],
  linkerd: ["tls.key", "tls.crt", "ca.crt", "linkerd-identity.yaml"],
  "cert-manager": ["tls.key", "tls.crt", "ca.crt", "cert-manager.yaml"],
};

const nl = (p: string) => (p === "" || p.endsWith("\n") ? p : p + "\n");
const b64 = (s: string) => toBase64(new TextEncoder().encode(s));
const KEY = 0o600;
const PUB = 0o644;

export function meshExport(i: MeshExportInputs): DeployFile[] {
  const issuer = nl(i.issuerPem);
  const chain = nl(i.chainPem);
  const anchors = nl(i.anchorsPem);
  const meta = (name: string, namespace: string, extra: Record<string, string> = {}) => ({
    name, namespace,
    labels: { "app.kubernetes.io/managed-by": "inforge", "inforge.dev/scope": i.scope, "inforge.dev/mesh": i.mesh },
    annotations: { "inforge.dev/issuer": `${i.scope} ${i.mesh} issuer G${i.gen}`, "inforge.dev/not-after": i.notAfter, "inforge.dev/trust-domain": i.trustDomain, ...extra },
  });
  switch (i.mesh) {
    case "istio": {
      // cert-chain.pem: every certificate from the workload's issuer up to and including its root.
      const certChain = issuer + chain + nl(i.rootPem);
      const files = { "ca-cert.pem": issuer, "ca-key.pem": i.keyPem, "cert-chain.pem": certChain, "root-cert.pem": anchors };
      const secret = yamlDocument({ apiVersion: "v1", kind: "Secret", type: "Opaque", metadata: meta("cacerts", "istio-system"), data: mapValues(files, b64) });
      return [
        { name: "ca-key.pem", content: i.keyPem, mode: KEY },
        { name: "ca-cert.pem", content: issuer, mode: PUB },
        { name: "cert-chain.pem", content: certChain, mode: PUB },
        { name: "root-cert.pem", content: anchors, mode: PUB },
        { name: "cacerts.yaml", content: secret, mode: KEY },
      ];
    }
    case "linkerd": {
      // tls.crt: the issuer, and the cross-signed root during a root overlap, so a proxy still
      // anchored on the old root alone verifies the chain.
      const crt = issuer + chain;
      const secret = yamlDocument({
        apiVersion: "v1", kind: "Secret", type: "kubernetes.io/tls", metadata: meta("linkerd-identity-issuer", "linkerd"),
        data: { "ca.crt": b64(anchors), "tls.crt": b64(crt), "tls.key": b64(i.keyPem) },
      });
      const roots = yamlDocument({ apiVersion: "v1", kind: "ConfigMap", metadata: meta("linkerd-identity-trust-roots", "linkerd"), data: { "ca-bundle.crt": anchors } });
      return [
        { name: "tls.key", content: i.keyPem, mode: KEY },
        { name: "tls.crt", content: crt, mode: PUB },
        { name: "ca.crt", content: anchors, mode: PUB },
        { name: "linkerd-identity.yaml", content: `${secret}---\n${roots}`, mode: KEY },
      ];
    }
    case "cert-manager": {
      const crt = issuer + chain;
      const secretName = `inforge-${i.scope}-ca`;
      const secret = yamlDocument({
        apiVersion: "v1", kind: "Secret", type: "kubernetes.io/tls", metadata: meta(secretName, "cert-manager"),
        data: { "ca.crt": b64(anchors), "tls.crt": b64(crt), "tls.key": b64(i.keyPem) },
      });
      // A ClusterIssuer reads its Secret from the cluster resource namespace (cert-manager by default).
      const clusterIssuer = yamlDocument({
        apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer",
        metadata: { name: `inforge-${i.scope}`, labels: { "app.kubernetes.io/managed-by": "inforge", "inforge.dev/scope": i.scope } },
        spec: { ca: { secretName } },
      });
      return [
        { name: "tls.key", content: i.keyPem, mode: KEY },
        { name: "tls.crt", content: crt, mode: PUB },
        { name: "ca.crt", content: anchors, mode: PUB },
        { name: "cert-manager.yaml", content: `${secret}---\n${clusterIssuer}`, mode: KEY },
      ];
    }
  }
}

function mapValues(o: Record<string, string>, f: (s: string) => string): { [k: string]: YamlValue } {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));
}
