// Validation of the names that go into certificates. dNSName and uniformResourceIdentifier are
// IA5String (RFC 5280 §4.2.1.6), so only ASCII is representable; we further require lowercase
// so that names compare as plain strings in the checker and in bundles.
import { X509Error } from "./errors.ts";

const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const DNS_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

// ub-common-name (RFC 5280 Appendix A.1).
const MAX_CN = 64;

export function checkCommonName(cn: string, what: string): void {
  if (typeof cn !== "string" || cn.trim() === "") {
    throw new X509Error(`${what} common name is empty; give the certificate a name`);
  }
  if (cn.length > MAX_CN) {
    throw new X509Error(
      `${what} common name ${JSON.stringify(cn)} is ${cn.length} characters; at most ${MAX_CN} fit (RFC 5280 ub-common-name)`,
    );
  }
}

function isDnsName(name: string): boolean {
  return typeof name === "string" && name.length <= 253 && DNS_NAME.test(name);
}

/** A SAN dNSName: lowercase LDH labels, optionally one leading "*." wildcard label. */
export function checkDnsName(name: string, what: string): void {
  const bare = typeof name === "string" && name.startsWith("*.") ? name.slice(2) : name;
  if (!isDnsName(bare)) {
    throw new X509Error(
      `${what} DNS name ${JSON.stringify(name)} is not a lowercase DNS name (like "payments.eu.mesh.example")`,
    );
  }
}

/**
 * A dNSName constraint: RFC 5280 §4.2.1.10 — "any DNS name that can be constructed by simply
 * adding zero or more labels to the left-hand side of the name satisfies the name constraint".
 * A leading dot is not part of that syntax, so we refuse it rather than guess.
 */
export function checkDnsConstraint(name: string, what: string): void {
  if (!isDnsName(name)) {
    throw new X509Error(
      `${what} permitted DNS name ${JSON.stringify(name)} is not a lowercase DNS name (like "eu.mesh.example")`,
    );
  }
}

/**
 * A uniformResourceIdentifier constraint names a host (RFC 5280 §4.2.1.10): "eu.mesh.example"
 * permits exactly that host, ".eu.mesh.example" permits its subdomains only.
 */
export function checkUriHostConstraint(host: string, what: string): void {
  const bare = typeof host === "string" && host.startsWith(".") ? host.slice(1) : host;
  if (!isDnsName(bare)) {
    throw new X509Error(
      `${what} permitted URI host ${JSON.stringify(host)} is not a lowercase host name (like "eu.mesh.example")`,
    );
  }
}

/**
 * A SAN URI must carry an authority with a host: name constraints on URIs apply to the host,
 * and RFC 5280 §4.2.1.10 leaves host-less URIs unmatchable, so verifiers reject them.
 */
export function checkUri(uri: string, what: string): void {
  const bad = () =>
    new X509Error(
      `${what} URI ${JSON.stringify(uri)} is not an ASCII URI with a host (like "spiffe://eu.mesh.example/svc/payments")`,
    );
  if (typeof uri !== "string" || !/^[a-z][a-z0-9+.-]*:\/\/[\x21-\x7e]+$/.test(uri)) throw bad();
  let host: string;
  try {
    host = new URL(uri).hostname;
  } catch {
    throw bad();
  }
  if (!isDnsName(host)) throw bad();
}

/**
 * A CRL distribution point URI (RFC 5280 §4.2.1.13): http or https (what relying parties fetch
 * CRLs over; LDAP and others are refused), ASCII only (IA5String), no spaces, at most 255 characters.
 */
export function checkCrlUrl(url: string, what: string): void {
  if (typeof url !== "string" || url.length > 255 || !/^https?:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?\/[\x21-\x7e]*$/.test(url)) {
    throw new X509Error(`${what} CRL distribution point ${JSON.stringify(url)} is not an http:// or https:// URL of printable ASCII`);
  }
}
