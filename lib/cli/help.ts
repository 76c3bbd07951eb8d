export const USAGE = `inforge — run a service-mesh PKI from an infra repo

usage:
  inforge pki init [--domain mesh.example.internal] [--name NAME] [--ci-recipient age1…] [--identity-out FILE]
  inforge pki intermediate <scope>            add a region (or global): its intermediate and bundle   [root posture]
  inforge pki renew [--region R]              mint missing leaves, renew due ones, advance rotations  [CI posture]
  inforge pki rotate --leaf <service> --region R   force a new leaf for one service                  [CI posture]
  inforge pki rotate --intermediate <scope> [--force]   planned key roll with overlap                   [root posture]
  inforge pki rotate --root [--finish]        start / finish a dual-root overlap                       [root posture]
  inforge pki recover-intermediate <scope>    revoke a compromised intermediate, replace it at once    [root posture]
  inforge pki status [--json]                 the tree: generations, states, expiry
  inforge tasks                               list runbooks (./tasks first, then the shipped ones)
  inforge run <task> [--arg value …]          run a runbook from tasks/

common flags:
  --dir PATH       the pki directory (default ./pki, or INFORGE_PKI_DIR)
  --regions PATH   the region files (default ./regions, or INFORGE_REGIONS_DIR)
  --plan           print the plan and change nothing
  --at TIME        act as if it were TIME (ISO 8601), for simulation (or INFORGE_NOW)
  --json           machine-readable output
  --wait 60s       wait this long for another run's lock instead of failing

identities (age X25519; the key itself or a path to an age-keygen identity file):
  INFORGE_PKI_ROOT_KEY   offline root — never in CI
  INFORGE_SECRETS_KEY    CI master — opens intermediate keys to mint leaves

examples:
  INFORGE_SECRETS_KEY=ci.key inforge pki init --domain mesh.example.internal --identity-out /media/usb/root.key
  INFORGE_PKI_ROOT_KEY=/media/usb/root.key inforge pki intermediate eu
  INFORGE_SECRETS_KEY=ci.key inforge pki renew --region eu
`;
