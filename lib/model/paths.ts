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
/** The root-signed record of pki.json's trust-critical fields (lib/model/custody-record.ts). */
export const CUSTODY = "custody.json";

export const rootCert = (gen: number) => `root/G${gen}.crt.pem`;
export const rootKey = (gen: number) => `root/G${gen}.key.age`;
/** Root G(n) cross-signed by root G(by): lets consumers anchored on the old root verify the new. */
export const crossCert = (gen: number, by: number) => `root/G${gen}-by-G${by}.crt.pem`;
export const scopeState = (scope: string) => `scopes/${scope}/scope.json`;
/** A scope's intermediate, or with `mesh` one of its mesh issuers (scopes/<scope>/<mesh>/G<n>…). */
export const intermediateCert = (scope: string, gen: number, mesh?: string) => `scopes/${scope}/${mesh ? `${mesh}/` : ""}G${gen}.crt.pem`;
export const intermediateKey = (scope: string, gen: number, mesh?: string) => `scopes/${scope}/${mesh ? `${mesh}/` : ""}G${gen}.key.age`;
export const leafIndex = (scope: string) => `leaves/${scope}/index.json`;
export const leafCert = (scope: string, service: string) => `leaves/${scope}/${service}.crt.pem`;
/**
 * The digests of every leaf certificate of a scope, one file the journal records instead of one
 * line per certificate (lib/store/manifest.ts): a fleet renewal journals O(scopes) bytes.
 */
export const leafManifest = (scope: string) => `leaves/${scope}/manifest.json`;
/** A leaf's certificate or key file: what a repo with pki.json leafFiles "shipped" does not commit. */
export const isLeafFile = (path: string) => /^leaves\/[^/]+\/(?:[^/]+\.crt\.pem|[^/]+\.key\.age|keys\.age)$/.test(path);
/** A leaf key in a file of its own: the layout before leaves/<scope>/keys.age; still read from older trees. */
export const leafKey = (scope: string, service: string) => `leaves/${scope}/${service}.key.age`;
/** Every leaf key of a scope in one age file (JSON: service → serial + PKCS#8), sealed to CI; see lib/apply/leaf-keys.ts. */
export const leafKeys = (scope: string) => `leaves/${scope}/keys.age`;
export const bundle = (name: string) => `bundles/${name}.pem`;
/**
 * The bundle of one SPIFFE trust domain, `<scope>.<domain>`: only that scope's own live
 * intermediates (lib/model/bundles.ts). Its bundle name is `trust-domains/<scope>.<domain>`, so
 * its PEM is bundles/trust-domains/<scope>.<domain>.pem: a consumer looks a peer's trust domain
 * up by file name.
 */
export const TRUST_DOMAINS = "trust-domains/";
export const trustDomainBundle = (scope: string, domain: string) => `${TRUST_DOMAINS}${scope}.${domain}`;
/** The scope of a trust-domain bundle name (its first label), or null for any other bundle. */
export const trustDomainScope = (name: string): string | null =>
  name.startsWith(TRUST_DOMAINS) ? name.slice(TRUST_DOMAINS.length).split(".")[0]! : null;
/** The SPIFFE bundle (JWK set) of the scope's trust domain: the same members as its trust-domain PEM. */
export const spiffeBundle = (scope: string) => `bundles/${scope}.spiffe.json`;
/** A scope or root bundle as a Kubernetes ConfigMap manifest, for trust-manager-style distribution. */
export const bundleConfigMap = (name: string) => `bundles/${name}.configmap.yaml`;
/** The mesh-format files written in the same commit as bundles/<name>.pem (lib/deliver/mesh-bundles.ts). */
export const meshBundles = (name: string): string[] => {
  const td = trustDomainScope(name);
  return td === null ? [bundleConfigMap(name)] : [spiffeBundle(td)];
};
/** A leaf issued by `pki sign-csr` for a workload that keeps its own key (no sealed key beside it). */
export const csrLeafCert = (scope: string, service: string) => `leaves/${scope}/${service}.csr.crt.pem`;
