/**
 * What inforge takes from a verified CSR (lib/x509 parseCsr): the public key and the names it
 * asks for. Plain data, carried in the sign-csr intent and step; the planner holds the names to
 * the service's own.
 */
export interface CsrRequest {
  /** DER SubjectPublicKeyInfo, base64: public data. */
  readonly publicKey: string;
  /** The key, as people say it: "ECDSA P-256", "RSA 1024". */
  readonly key: string;
  /** Every CN in the subject (usually one); other subject attributes are not copied. */
  readonly commonNames: readonly string[];
  readonly dns: readonly string[];
  readonly uris: readonly string[];
  /** Requested names of other types ("IP:10.0.0.1", "email:a@b"): never issued. */
  readonly other: readonly string[];
}
