import * as v from "valibot";
import { InputError } from "../errors.ts";
import { scopeDnsConstraints, type Naming } from "./naming.ts";

// Mesh issuers (issue 14): a CA per scope handed to a mesh's control plane, which signs its
// workloads' certificates itself. Each is fenced to that mesh's naming in the scope's trust
// domain `<scope>.<domain>` (/work/shared/MESH-NOTES.md for what each project expects):
// - istio: workloads are `spiffe://<td>/ns/<ns>/sa/<sa>` (URI host = the trust domain), and istiod
//   signs its own serving certificate `istiod.istio-system.svc` with the same CA;
// - linkerd: proxies are `<sa>.<ns>.serviceaccount.identity.linkerd.<td>` (DNS) — no URI
//   constraint, because the proxy verifies with rustls (RUSTSEC-2026-0098, LIBRARY-NOTES.md);
// - cert-manager: a CA Issuer issuing what the scope's naming templates produce (its fence is
//   the scope intermediate's).

export const MESHES = ["istio", "linkerd", "cert-manager"] as const;
export type Mesh = (typeof MESHES)[number];
export const MeshSchema = v.picklist(MESHES, `a mesh is one of ${MESHES.join(", ")}`);

/**
 * Names a mesh's control plane gives itself that are the same in every cluster, so no region
 * fence can hold them apart: istiod's serving certificate is signed by the plug-in CA with these
 * (Istio's own names, not configurable). The checker lets them overlap across scopes and
 * docs/meshes.md says what that means.
 */
export const SHARED_CONTROL_PLANE_NAMES: readonly string[] = ["istiod.istio-system.svc"];

export function parseMesh(input: unknown): Mesh {
  if ((MESHES as readonly unknown[]).includes(input)) return input as Mesh;
  const shown = JSON.stringify(typeof input === "string" && input.length > 40 ? input.slice(0, 40) + "…" : input);
  throw new InputError(`unknown mesh ${shown}; --mesh is one of ${MESHES.join(", ")}`);
}

/** The trust domain of a scope: its SPIFFE trust domain, Istio's trustDomain, Linkerd's identity trust domain. */
export const trustDomain = (scope: string, domain: string) => `${scope}.${domain}`;

/** What a mesh issuer of `scope` permits (RFC 5280 §4.2.1.10), and its common name. */
export function meshIssuerProfile(mesh: Mesh, scope: string, domain: string, o: { naming?: Naming; uriConstraints: boolean; name: string; gen: number }): {
  commonName: string; permittedDns: string[]; permittedUriHosts: string[];
} {
  const td = trustDomain(scope, domain);
  switch (mesh) {
    case "istio":
      // The URI constraint is the SPIFFE fence Envoy (BoringSSL), OpenSSL and NSS enforce. Istio
      // workload certificates carry no DNS name; the only one is istiod's own, so that is all the
      // DNS fence permits (not the scope's <svc>.<scope>.<domain> names, which are inforge's leaves').
      return { commonName: `${o.name} ${scope} istio issuer G${o.gen}`, permittedDns: [...SHARED_CONTROL_PLANE_NAMES], permittedUriHosts: [td] };
    case "linkerd":
      // Linkerd's docs name the issuer identity.linkerd.<trust domain>.
      return { commonName: `identity.linkerd.${td}`, permittedDns: [`identity.linkerd.${td}`], permittedUriHosts: [] };
    case "cert-manager":
      return { commonName: `${o.name} ${scope} cert-manager issuer G${o.gen}`, permittedDns: scopeDnsConstraints(scope, domain, o.naming), permittedUriHosts: o.uriConstraints ? [td] : [] };
  }
}
