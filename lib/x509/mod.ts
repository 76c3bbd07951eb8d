// Public API of lib/x509: certificate profiles for the inforge PKI on @peculiar/x509.
// Nothing outside lib/x509 imports @peculiar/*: the rest of inforge sees only these types.
// core.ts is the part without the library (what a renewal needs); this module adds the readers
// that need it synchronously. read.ts is the one other door: the few reads a read-only command
// needs, without @peculiar/x509.
export * from "./core.ts";
export { derDefects, parseCertificate, parseCertificates } from "./parse.ts";
export { parseCrl, type CrlInfo } from "./crl.ts";
export { MAX_CSR_BYTES, parseCsr, type CsrInfo } from "./csr.ts";
