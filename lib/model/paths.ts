// Where each thing lives under the pki directory. One function per file kind, so a path is
// never assembled by hand elsewhere (and a scope name, already validated, is the only input).

export const CONFIG = "pki.json";
export const ROOT_STATE = "root/root.json";
export const CRL = "crl/root.crl.pem";
/** A scope's CRL: one CRL per live generation of its intermediate, listing its revoked leaves. */
export const scopeCrl = (scope: string) => `crl/${scope}.crl.pem`;
/**
 * Where a certificate's CRL distribution point (pki.json crl.url) says its issuer's CRL is
 * published: one DER CRL per URL (RFC 5280 §4.2.1.13), so one file per issuing generation —
 * `<url>root-G1.crl` for an intermediate signed by root G1, `<url>eu-G2.crl` for a leaf of eu G2.
 */
export const crlUrl = (base: string, issuer: string, gen: number) => `${base}${issuer}-G${gen}.crl`;
export const JOURNAL = "journal/pki.jsonl";

export const rootCert = (gen: number) => `root/G${gen}.crt.pem`;
export const rootKey = (gen: number) => `root/G${gen}.key.age`;
/** Root G(n) cross-signed by root G(by): lets consumers anchored on the old root verify the new. */
export const crossCert = (gen: number, by: number) => `root/G${gen}-by-G${by}.crt.pem`;
export const scopeState = (scope: string) => `scopes/${scope}/scope.json`;
export const intermediateCert = (scope: string, gen: number) => `scopes/${scope}/G${gen}.crt.pem`;
export const intermediateKey = (scope: string, gen: number) => `scopes/${scope}/G${gen}.key.age`;
export const leafIndex = (scope: string) => `leaves/${scope}/index.json`;
export const leafCert = (scope: string, service: string) => `leaves/${scope}/${service}.crt.pem`;
/** A leaf key in a file of its own: the layout before leaves/<scope>/keys.age; still read from older trees. */
export const leafKey = (scope: string, service: string) => `leaves/${scope}/${service}.key.age`;
/** Every leaf key of a scope in one age file (JSON: service → serial + PKCS#8), sealed to CI; see lib/apply/leaf-keys.ts. */
export const leafKeys = (scope: string) => `leaves/${scope}/keys.age`;
export const bundle = (name: string) => `bundles/${name}.pem`;
/** The same bundle for SPIFFE consumers: a JWK set per trust domain (a scope; the root is none). */
export const spiffeBundle = (name: string) => `bundles/${name}.spiffe.json`;
/** The same bundle as a Kubernetes ConfigMap manifest, for trust-manager-style distribution. */
export const bundleConfigMap = (name: string) => `bundles/${name}.configmap.yaml`;
/** The mesh-format files written in the same commit as bundles/<name>.pem (lib/deliver/mesh-bundles.ts). */
export const meshBundles = (name: string) => (name === "root" ? [bundleConfigMap(name)] : [spiffeBundle(name), bundleConfigMap(name)]);
/** A leaf issued by `pki sign-csr` for a workload that keeps its own key (no sealed key beside it). */
export const csrLeafCert = (scope: string, service: string) => `leaves/${scope}/${service}.csr.crt.pem`;
