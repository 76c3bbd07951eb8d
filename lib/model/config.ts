import * as v from "valibot";
import { InputError } from "../errors.ts";
import { DomainName } from "./names.ts";
import { NamingSchema } from "./naming.ts";
import { Duration, parseDuration, type Millis } from "./duration.ts";
import { Address, ProbesSchema, Sni } from "./probes.ts";

// pki/pki.json: what the mesh is called, who may open which keys, how long things live.
//
// Default lifetimes, compared with what others ship:
// - root 10 years (step-ca and Istio's self-signed root: 10 years; Vault's docs: roots of years);
//   it is offline and rotated deliberately, with a dual-root overlap.
// - intermediate 1 year (Istio's plug-in intermediates and Vault's usual ones: 1 year; step-ca's
//   10-year default is for an online intermediate we would not accept here). A planned rotation
//   is expected well before: status warns at 60 days left, like Vault.
// - leaf 7 days: leaves are minted in CI, not by an on-node agent (Istio/SPIRE use 1 hour–1 day
//   with an agent). With renewal at 2/3 of life (as step and cert-manager do) a daily CI run has
//   more than two days of slack before a leaf expires.
// - propagation 1 day: how long a new bundle takes to reach every consumer; the minimum overlap
//   of an intermediate rotation is longest leaf life + propagation + clock skew.
export const DEFAULTS = {
  // What `pki init` writes: the DNS fence holds on OpenSSL, Go, GnuTLS, NSS and rustls alike
  // (docs/interop.md, measured by test/interop-matrix.test.ts); a URI constraint does not.
  nameConstraints: "dns",
  lifetimes: { root: "3650d", intermediate: "365d", leaf: "7d" },
  renewAt: 2 / 3,
  propagation: "24h",
  clockSkew: "5m",
  crlLifetime: "180d",
  // How often SPIFFE consumers re-fetch a bundle; SPIRE's bundle endpoint hints 5 minutes.
  spiffeRefreshHint: "5m",
  // Vault flags roots at 365/182 days left and intermediates at 60/30; the offline-signed CRL
  // must be re-signed (any root-posture run) before its nextUpdate.
  thresholds: {
    root: { warn: "365d", crit: "182d" },
    intermediate: { warn: "60d", crit: "30d" },
    crl: { warn: "30d", crit: "7d" },
  },
} as const;

/**
 * A consumer that anchors on bundles/root.pem rather than on a scope bundle (DESIGN invariant 3):
 * `reloads: "live"` picks a new root.pem up by itself, `"restart"` must be restarted after it is
 * distributed (older Istio, Linkerd proxies). Only root anchors exist: scope bundles reach mesh
 * services through deploy and their Secret, which every mesh reloads.
 */
export const ConsumerSchema = v.strictObject({
  name: v.pipe(v.string(), v.regex(/^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/, "a consumer name of lowercase letters, digits, '.', '_' or '-', such as daemon-fleet")),
  anchors: v.literal("root", 'a consumer anchors on "root" (bundles/root.pem)'),
  reloads: v.picklist(["live", "restart"], 'reloads is "live" (picks up a new root.pem by itself) or "restart"'),
  /**
   * Endpoints of the consumer that ask for client certificates and check them against root.pem
   * (issue 18): during a root overlap, `pki probe` tests whether each trusts the new root, and
   * under promotion "probe" no intermediate of the new root is promoted before every one does.
   */
  probes: v.optional(v.pipe(v.array(v.strictObject({ address: Address, sni: v.optional(Sni) })), v.maxLength(256, "at most 256 endpoints per consumer"))),
});
export type Consumer = v.InferOutput<typeof ConsumerSchema>;

const Recipient = v.pipe(v.string(), v.regex(/^age1[02-9ac-hj-np-z]{58}$/, "an age X25519 recipient (age1…, 62 characters)"));

// IA5String in the certificate (§4.2.1.6), so ASCII only; no query or fragment, so a file name
// can be appended; bounded so the extension stays small.
const CrlUrl = v.pipe(
  v.string(),
  v.maxLength(200, "crl.url is at most 200 characters"),
  v.regex(
    /^https?:\/\/[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?(?::[0-9]{1,5})?\/(?:[A-Za-z0-9._~-]+\/)*$/,
    'crl.url is an http:// or https:// URL of a directory, ending in "/", such as "http://pki.example.internal/crl/"',
  ),
);

/** Where a root key lives when it is not an age-sealed file: a key pair on a PKCS#11 token. */
function RootKeyLocationSchema() {
  const Label = v.pipe(v.string(), v.minLength(1), v.maxLength(64, "a PKCS#11 label is at most 64 characters"), v.regex(/^[^\u0000-\u001f]+$/, "a label without control characters"));
  return v.strictObject({
    in: v.literal("pkcs11", 'rootKeys entries say in: "pkcs11"'),
    token: Label,
    object: Label,
    /** SubjectPublicKeyInfo DER, base64: the key the token must hold. */
    publicKey: v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]{20,200}={0,2}$/, "base64 of the key's SubjectPublicKeyInfo")),
  });
}
export type RootKeyLocation = v.InferOutput<ReturnType<typeof RootKeyLocationSchema>>;

export const PkiConfigSchema = v.strictObject({
  version: v.literal(1, "pki.json version must be 1"),
  name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$/, "a mesh name of letters, digits, space, '.', '_' or '-'")),
  domain: DomainName,
  recipients: v.strictObject({ root: Recipient, ci: Recipient }),
  lifetimes: v.strictObject({ root: Duration, intermediate: Duration, leaf: Duration }),
  renewAt: v.pipe(v.number(), v.minValue(0.1), v.maxValue(0.95)),
  propagation: Duration,
  clockSkew: Duration,
  crlLifetime: Duration,
  /**
   * Which name forms the intermediates constrain. "dns" (written by `pki init` since issue 12)
   * fences DNS names, which every stack enforces; SPIFFE IDs are fenced by per-trust-domain
   * bundles instead (docs/concepts.md). "dns+uri" adds a URI constraint: rustls refuses every
   * chain that carries one (RUSTSEC-2026-0098), GnuTLS ignores it, Go reads it as host-or-
   * subdomain. Absent means "dns+uri": what every tree made before the field was written got.
   */
  nameConstraints: v.optional(v.picklist(["dns+uri", "dns"], 'nameConstraints is "dns" or "dns+uri"')),
  /** When status warns and `status --check` alerts (optional; Vault's thresholds by default). */
  thresholds: v.optional(
    v.strictObject({
      root: v.strictObject({ warn: Duration, crit: Duration }),
      intermediate: v.strictObject({ warn: Duration, crit: Duration }),
      crl: v.strictObject({ warn: Duration, crit: Duration }),
    }),
  ),
  /** How often SPIFFE consumers should re-fetch the trust bundles (`spiffe_refresh_hint`); optional, "5m" by default. */
  spiffeRefreshHint: v.optional(Duration),
  /**
   * Whether the infra repo commits the leaf certificates and key files (leaves/<scope>/*.crt.pem,
   * keys.age): "committed" (absent: the default) or "shipped" — CI mints and deploys a leaf in one
   * job and the repo keeps only the index, serials and digests (README "Repository footprint"):
   * a leaf file absent from the checkout is then not tampering, and deploy mints the leaf anew.
   * A present file is still held to the digest the journal recorded.
   */
  leafFiles: v.optional(v.picklist(["committed", "shipped"], 'leafFiles is "committed" or "shipped"')),
  /**
   * Where the CRLs are published (optional): certificates issued once it is set carry a CRL
   * distribution point (RFC 5280 §4.2.1.13) under it — see P.crlUrl for the file names. http(s)
   * only (http is what verifiers fetch CRLs over: a CRL is signed, and https would need a
   * certificate check of its own), ending in "/".
   */
  crl: v.optional(v.strictObject({ url: CrlUrl })),
  /** Root-anchoring consumers (daemon fleet, cross-repo): root-rotation plans say what each must do. Optional. */
  consumers: v.optional(v.array(ConsumerSchema)),
  /**
   * When renew promotes a prepared intermediate (issue 18). "time" (absent: the default) once the
   * propagation delay has passed; "probe" as soon as the last `pki probe` shows every endpoint of
   * the scope that asks for client certificates accepting one the prepared generation issued —
   * and not before, however long that takes. Signed: it decides when leaves move to a new issuer.
   */
  promotion: v.optional(v.picklist(["time", "probe"], 'promotion is "time" or "probe"')),
  /** How old the probe evidence may be for a promotion (optional; "1h" by default). Signed. */
  probeMaxAge: v.optional(Duration),
  /**
   * Root generations whose key lives on a PKCS#11 token rather than in root/G<n>.key.age, by
   * "G<n>" (issue 17). Signed into custody.json like every other field, so an edit that points a
   * root at another token or key is refused before anything is opened; the public key is checked
   * against the root certificate whenever the key signs. Never the PIN or the module path.
   */
  rootKeys: v.optional(v.record(v.pipe(v.string(), v.regex(/^G[1-9][0-9]{0,5}$/, 'a root generation such as "G1"')), RootKeyLocationSchema())),
});
export type PkiConfig = v.InferOutput<typeof PkiConfigSchema>;

/**
 * The options of `pki init`, checked before anything is made (root().init calls this): a bad value
 * would otherwise be written into pki.json, and a secret key given as the CI recipient would sit
 * there in plaintext. One sentence naming the flag; a secret key is never echoed.
 */
export function checkInitOptions(o: { name: string; domain: string; ciRecipient: string }): void {
  const fail = (m: string): never => {
    throw new InputError(m);
  };
  if (/AGE-SECRET-KEY-/i.test(o.ciRecipient)) {
    fail(`--ci-recipient holds an age identity (a secret AGE-SECRET-KEY-… key), not a recipient; give its public key instead (the "# public key:" line of the identity file, or age-keygen -y <file>)`);
  }
  const show = (x: string) => JSON.stringify(x.length > 80 ? x.slice(0, 80) + "…" : x);
  if (!v.is(Recipient, o.ciRecipient)) {
    fail(`--ci-recipient ${show(o.ciRecipient)} is not an age X25519 recipient (age1…, 62 characters); copy it again from the "# public key:" line of the CI identity file, or run age-keygen -y <file>`);
  }
  const domain = v.safeParse(DomainName, o.domain);
  if (!domain.success) fail(`--domain ${show(o.domain)} is invalid: ${domain.issues[0].message}`);
  const name = v.safeParse(PkiConfigSchema.entries.name, o.name);
  if (!name.success) fail(`--name ${show(o.name)} is invalid: ${name.issues[0].message}, at most 63 characters`);
}

/** The config's durations in milliseconds, parsed once. */
export interface Timing {
  root: Millis;
  intermediate: Millis;
  leaf: Millis;
  propagation: Millis;
  clockSkew: Millis;
  crlLifetime: Millis;
  renewAt: number;
}

/** The constraint mode of a tree: an absent field is an old tree's, which meant "dns+uri". */
export const constraintMode = (c: Pick<PkiConfig, "nameConstraints">): NameConstraintMode => c.nameConstraints ?? "dns+uri";
export type NameConstraintMode = "dns" | "dns+uri";

/** Why "dns+uri" is an opt-in: printed in the plan of an init that chooses it. */
export const URI_CONSTRAINT_CAVEAT =
  `--name-constraints dns+uri: rustls (Deno, Linkerd's proxy, rustls services) refuses every leaf of this tree (RUSTSEC-2026-0098), GnuTLS ignores URI constraints, and Go reads them as "host or any subdomain"; the SPIFFE-ID fence still rests on per-trust-domain bundles (docs/concepts.md); choose it only for fleets without rustls`;

export function timing(c: PkiConfig): Timing {
  // Asked for once per leaf a plan issues: the parsed durations are kept by their text (a plan
  // may change the config it plans with, so never by the object). The last answer first, by its
  // fields: the key below costs ~2 µs, a fleet renewal asks 20,000 times.
  const l = lastTiming;
  if (l && l.root === c.lifetimes.root && l.intermediate === c.lifetimes.intermediate && l.leaf === c.lifetimes.leaf &&
    l.propagation === c.propagation && l.clockSkew === c.clockSkew && l.crlLifetime === c.crlLifetime && l.t.renewAt === c.renewAt) return l.t;
  const key = [c.lifetimes.root, c.lifetimes.intermediate, c.lifetimes.leaf, c.propagation, c.clockSkew, c.crlLifetime, c.renewAt].join(" ");
  let t = timings.get(key);
  if (!t) {
    const d = (s: string) => parseDuration(s)!;
    t = Object.freeze({
      root: d(c.lifetimes.root),
      intermediate: d(c.lifetimes.intermediate),
      leaf: d(c.lifetimes.leaf),
      propagation: d(c.propagation),
      clockSkew: d(c.clockSkew),
      crlLifetime: d(c.crlLifetime),
      renewAt: c.renewAt,
    });
    if (timings.size >= 16) timings.clear();
    timings.set(key, t);
  }
  lastTiming = { ...c.lifetimes, propagation: c.propagation, clockSkew: c.clockSkew, crlLifetime: c.crlLifetime, t };
  return t;
}
const timings = new Map<string, Timing>();
let lastTiming: { root: string; intermediate: string; leaf: string; propagation: string; clockSkew: string; crlLifetime: string; t: Timing } | undefined;

export const RegionFileSchema = v.strictObject({
  name: v.string(),
  services: v.array(v.string()),
  description: v.optional(v.string()),
  /** Endpoints per service that `pki probe` connects to (issue 18; lib/model/probes.ts). */
  probes: v.optional(ProbesSchema),
  /** Naming templates (lib/model/naming.ts): extra DNS names, namespace, service account, SPIFFE path. */
  naming: v.optional(NamingSchema),
});
