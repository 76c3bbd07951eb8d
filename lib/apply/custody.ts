import type { PkiConfig } from "../model/config.ts";
import { CUSTODY_SCHEMA, custodyPayload, custodyText, trustCritical } from "../model/custody-record.ts";
import * as X from "../x509/core.ts";

/**
 * custody.json's text for `config`, signed by root G`gen` (certificate fingerprint `fingerprint`)
 * through its Signer at `at`. Shared by the sign-custody step and `pki rekey --root-recipient`.
 */
export async function signCustody(config: PkiConfig, gen: number, fingerprint: string, signer: X.Signer, at: string): Promise<string> {
  const unsigned = { schema: CUSTODY_SCHEMA, config: trustCritical(config), signedBy: { gen, fingerprint }, signedAt: at } as const;
  return custodyText({ ...unsigned, signature: await X.signDetached(signer, custodyPayload(unsigned)) });
}
