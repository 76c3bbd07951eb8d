// The flags and identities every run takes: the tail of `inforge --help` and of a task file's
// own `--help` (`tsx tasks/x.ts --help`), kept in one place.
export const COMMON_FLAGS = `common flags:
  --dir PATH       the pki directory (default ./pki, or INFORGE_PKI_DIR)
  --regions PATH   the region files (default ./regions, or INFORGE_REGIONS_DIR)
  --plan           print the plan and change nothing; with --out FILE, save it for inforge apply
  --yes            apply a root-posture plan without asking (without a terminal, required — or a plan file)
  --at TIME        act as if it were TIME (ISO 8601), for simulation (or INFORGE_NOW)
  --json           machine-readable output
  --wait 60s       wait this long for another run's lock instead of failing
  --concurrency N  leaves issued at once by renew/rotate on the main thread (default 16);
                   fleets and plans of 1,000 leaves or more also mint on worker threads
                   (INFORGE_MINT_WORKERS=N)

identities (age X25519; the key itself or a path to an age-keygen identity file):
  INFORGE_PKI_ROOT_KEY   offline root — never in CI
  INFORGE_SECRETS_KEY    CI master — opens intermediate keys to mint leaves
  INFORGE_ROOT_FINGERPRINT  pinned root fingerprint(s), comma separated (set in CI, outside the repo)`;
