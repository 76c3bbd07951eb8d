import * as v from "valibot";

// Why a certificate was revoked: the CRLReason of RFC 5280 §5.3.1, spelled as operators type it
// (`--reason key-compromise`). Only the reasons that fit this PKI are offered: certificateHold
// (a revocation that can be undone, §5.3.1 removeFromCRL) and the CA/attribute-authority reasons
// have no use for a service's leaf.

export const REVOCATION_REASONS = [
  "unspecified",
  "key-compromise",
  "affiliation-changed",
  "superseded",
  "cessation-of-operation",
  "privilege-withdrawn",
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

export const RevocationReasonSchema = v.picklist(
  REVOCATION_REASONS,
  `a revocation reason is one of ${REVOCATION_REASONS.join(", ")}`,
);

/** The reason a revoked intermediate (recover-intermediate: its key is believed leaked) carries. */
export const INTERMEDIATE_REVOCATION_REASON: RevocationReason = "key-compromise";
