// Detached signatures over arbitrary bytes (the custody record, lib/model/custody-record.ts), made
// through the same Signer seam as certificates — so a root held in an HSM signs the record too —
// and checked against the public key of a certificate, which the CI posture has without any key.
import { X509Error } from "./errors.ts";
import { spkiOf } from "./key-match.ts";
import { bytesEqual, toBase64 } from "../bytes.ts";
import type { Signer } from "./signer.ts";

// verifyDetached, which the read-only commands need without @peculiar/x509, is in read.ts.

/** ECDSA P-256/SHA-256 over `data` through `signer`: base64 of the 64-byte IEEE P1363 r||s. */
export async function signDetached(signer: Signer, data: Uint8Array): Promise<string> {
  const sig = await signer.sign(data.slice());
  if (!(sig instanceof Uint8Array) || sig.length !== 64) {
    throw new X509Error("signer returned a signature that is not 64 bytes of P1363 r||s (ECDSA P-256)", "bad-signature");
  }
  return toBase64(sig);
}

/** True when two certificates carry the same SubjectPublicKeyInfo (a root and its cross certificate). */
export function samePublicKey(aPem: string, bPem: string): boolean {
  return bytesEqual(spkiOf(aPem), spkiOf(bPem));
}
