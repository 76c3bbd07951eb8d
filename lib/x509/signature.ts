// Signature checks through the library: a CRL, another algorithm, an odd encoding, and the error
// for malformed input. lib/x509/read.ts verifySignedBy (the one exported) checks what inforge
// issues (ECDSA P-256, SHA-256) itself and comes here only for the rest.
import { X509Error } from "./errors.ts";
import { assertSingleDerElement, decodePemBlocks } from "./pem.ts";
import { CERT_LABEL, certFromDer, errText, loadCertificate } from "./parse.ts";
import { x509 } from "./vendor.ts";

/**
 * True when `childPem` carries a valid signature by the key of `issuerPem`. Signature only: no
 * dates, names, key usage or constraints — use a real path validator for those. `childPem`
 * may be a certificate or a CRL ("X509 CRL"). Malformed input throws X509Error.
 */
export async function librarySignedBy(childPem: string, issuerPem: string): Promise<boolean> {
  const issuer = loadCertificate(issuerPem, "issuer");
  const describe = (why: string) => `child is not a PEM certificate or CRL: ${why}`;
  const [block, ...more] = decodePemBlocks(childPem, describe);
  if (!block || more.length > 0) {
    throw new X509Error(describe(`expected exactly one block, found ${more.length + (block ? 1 : 0)}`), "not-pem");
  }
  if (block.label === "X509 CRL") {
    assertSingleDerElement(block.der, describe);
    let crl: x509.X509Crl;
    try {
      crl = new x509.X509Crl(block.der);
    } catch (cause) {
      throw new X509Error(describe(`the DER is not a CRL (${errText(cause)})`), "bad-der", { cause });
    }
    // Pass the PublicKey, not the certificate: given a certificate, X509Crl.verify takes the
    // signature algorithm from the issuer certificate instead of from the CRL.
    return crl.verify({ publicKey: issuer.publicKey });
  }
  if (block.label !== CERT_LABEL) {
    throw new X509Error(describe(`found a "${block.label}" block`), "not-pem");
  }
  assertSingleDerElement(block.der, describe);
  const child = certFromDer(block.der, describe);
  return child.verify({ publicKey: issuer.publicKey, signatureOnly: true });
}
