// A certificate's validity period, normalised and nested inside its issuer's. Pure: the leaf
// minter (lib/x509/leaf-der.ts, also run on worker threads) checks periods without loading the
// certificate library.
import { X509Error } from "./errors.ts";

/** What a child's period is checked against: the issuer's own period, and its name for the message. */
export interface IssuerPeriod {
  readonly subjectCn: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * Normalises and checks a validity period. X.509 times have whole seconds (§4.1.2.5), so
 * milliseconds are dropped first; otherwise a child given its issuer's own notAfter Date would
 * appear to outlive it. A certificate never outlives its issuer: the child's period must nest
 * inside the issuer's (DESIGN invariant 4), or relying parties see it expire "early" anyway
 * and rotations mis-plan.
 */
export function validity(
  o: { notBefore: Date; notAfter: Date },
  what: string,
  issuer: IssuerPeriod | null,
): { notBefore: Date; notAfter: Date } {
  const notBefore = wholeSeconds(o.notBefore, `${what} notBefore`);
  const notAfter = wholeSeconds(o.notAfter, `${what} notAfter`);
  if (notAfter <= notBefore) {
    throw new X509Error(
      `${what}: notAfter ${notAfter.toISOString()} is not after notBefore ${notBefore.toISOString()}`,
    );
  }
  if (issuer) {
    if (notAfter > issuer.notAfter) {
      throw new X509Error(
        `${what} would outlive its issuer "${issuer.subjectCn}": notAfter ${notAfter.toISOString()} is after the issuer's ${issuer.notAfter.toISOString()}; shorten the lifetime or renew the issuer first`,
        "outlives-issuer",
      );
    }
    if (notBefore < issuer.notBefore) {
      throw new X509Error(
        `${what} would start before its issuer "${issuer.subjectCn}": notBefore ${notBefore.toISOString()} is before the issuer's ${issuer.notBefore.toISOString()}`,
        "outlives-issuer",
      );
    }
  }
  return { notBefore, notAfter };
}

function wholeSeconds(d: Date, what: string): Date {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) {
    throw new X509Error(`${what} is not a valid Date`);
  }
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}
