// The NameConstraints extension (RFC 5280 §4.2.1.10). @peculiar/x509 has no class for it, so
// it is built from the ASN.1 schema of @peculiar/asn1-x509 and wrapped as a raw Extension.
import { AsnConvert, asn1x509, x509 } from "./vendor.ts";

export const ID_CE_NAME_CONSTRAINTS = "2.5.29.30";

// An intermediate is fenced to its scope's names. Constraints only bind the name forms they
// mention (§4.2.1.10), so a form left out is an open door: a leaked regional key could mint
// an iPAddress SAN that every verifier would accept. We permit the DNS and URI forms our
// leaves carry and exclude every IPv4 and IPv6 address (mask /0) to close that form too.
const EXCLUDED_IP_RANGES = ["0.0.0.0/0", "::/0"];

/** A critical NameConstraints extension permitting these DNS subtrees and URI hosts. */
export function nameConstraintsExtension(
  permittedDns: readonly string[],
  permittedUriHosts: readonly string[],
): x509.Extension {
  const subtree = (base: asn1x509.GeneralName) => new asn1x509.GeneralSubtree({ base });
  const value = new asn1x509.NameConstraints({
    permittedSubtrees: new asn1x509.GeneralSubtrees([
      ...permittedDns.map((dNSName) => subtree(new asn1x509.GeneralName({ dNSName }))),
      ...permittedUriHosts.map((uniformResourceIdentifier) =>
        subtree(new asn1x509.GeneralName({ uniformResourceIdentifier }))
      ),
    ]),
    excludedSubtrees: new asn1x509.GeneralSubtrees(
      EXCLUDED_IP_RANGES.map((iPAddress) => subtree(new asn1x509.GeneralName({ iPAddress }))),
    ),
  });
  // Critical: §4.2.1.10 says conforming CAs MUST mark it so; a verifier that cannot enforce the
  // fence must then refuse the chain instead of ignoring it.
  return new x509.Extension(ID_CE_NAME_CONSTRAINTS, true, AsnConvert.serialize(value));
}

export interface PermittedNames {
  permittedDns: string[];
  permittedUris: string[];
}

/** The permitted DNS and URI subtrees of a certificate (empty lists when it has none). */
export function readNameConstraints(cert: x509.X509Certificate): PermittedNames {
  const ext = cert.getExtension(ID_CE_NAME_CONSTRAINTS);
  const out: PermittedNames = { permittedDns: [], permittedUris: [] };
  if (!ext) return out;
  const nc = AsnConvert.parse(ext.value, asn1x509.NameConstraints);
  for (const { base } of nc.permittedSubtrees ?? []) {
    if (base.dNSName !== undefined) out.permittedDns.push(base.dNSName);
    if (base.uniformResourceIdentifier !== undefined) {
      out.permittedUris.push(base.uniformResourceIdentifier);
    }
  }
  return out;
}
