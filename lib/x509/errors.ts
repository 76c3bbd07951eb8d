/**
 * What went wrong, as data, so callers (the checker, the CLI) can branch without matching
 * message text.
 */
export type X509ErrorCode =
  | "not-pem" // the text is not exactly one well-formed PEM block of the expected type
  | "bad-der" // the PEM decodes, but the DER inside is not what it claims to be
  | "bad-key" // a private key that cannot be used (wrong type, curve, encoding)
  | "bad-input" // an argument that no profile accepts (empty name, bad DNS name, inverted dates…)
  | "outlives-issuer" // the requested validity does not nest inside the issuer's
  | "not-a-ca" // the issuer certificate may not sign certificates or CRLs
  | "signer-mismatch" // the signer's public key is not the issuer certificate's key
  | "bad-signature"; // the signer produced bytes that do not verify

/** The one error class of lib/x509. Messages are lowercase, quote the bad value and say what to do. */
export class X509Error extends Error {
  readonly code: X509ErrorCode;

  constructor(message: string, code: X509ErrorCode = "bad-input", options?: ErrorOptions) {
    super(message, options);
    this.name = "X509Error";
    this.code = code;
  }
}
