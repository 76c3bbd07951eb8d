import { COMMON_FLAGS } from "../runbook/flags-help.ts";

export const USAGE = `inforge — run a service-mesh PKI from an infra repo

usage:
  inforge pki init [--domain mesh.example.internal] [--name NAME] [--ci-recipient age1…] [--identity-out FILE] [--name-constraints dns|dns+uri]
  inforge pki intermediate <scope>            add a region (or global): its intermediate and bundle   [root posture]
  inforge pki renew [--region R]              mint missing leaves, renew due ones, advance rotations  [CI posture]
  inforge pki rotate --leaf <service> --region R   force a new leaf for one service                  [CI posture]
  inforge pki rotate --intermediate <scope> [--force]   planned key roll with overlap                   [root posture]
  inforge pki rotate --root [--finish]        start / finish a dual-root overlap                       [root posture]
  inforge pki recover-intermediate <scope>    revoke a compromised intermediate, replace it at once    [root posture]
  inforge pki revoke --leaf <service> --region R [--reason key-compromise|superseded|…]
                                              revoke a leaf (scope CRL), issue its replacement        [CI posture]
  inforge pki issuer <scope> --mesh istio|linkerd|cert-manager [--rotate [--force] | --recover]
                                              a scope's CA for a mesh's control plane (or roll it)    [root posture]
  inforge pki crl                             re-sign the root CRL before it expires                   [root posture]
  inforge pki config [--promotion time|probe]   show pki.json against the signed record, then sign it  [root posture]
  inforge pki status [--json] [--check]       the tree, its health, drift from the last probe, an expiry calendar
  inforge pki probe [--region R] [--timeout 5s]   connect to the services' endpoints: what they serve,
                                              whether they trust a prepared intermediate (journalled)  [CI posture]
  inforge pki graph [--format mermaid|dot]    the tree as a picture (--json: nodes and edges)
  inforge pki verify [--since REV] [--json]   check every file on disk and against git history, change nothing (CI gate)
  inforge pki sign-csr --region R --service S <csr.pem> [--out FILE]   certify a workload's own key  [CI posture]
  inforge pki rekey --ci-recipient age1… | --root-recipient age1…      re-seal keys to a new identity [CI / root posture]
  inforge deploy <service> --region R [--out DIR] [--allow-in-repo]   fresh leaf if due, then the service's files     [CI posture]
  inforge deploy --mesh istio|linkerd|cert-manager --region R [--out DIR]   export the scope's mesh issuer in that mesh's format [CI posture]
  inforge releases deploy <release> [--out DIR] [--allow-in-repo]     deploy every service of releases/<release>.json  [CI posture]
  inforge tasks                               list runbooks (./tasks first, then the shipped ones)
  inforge run <task> [--arg value …]          run a runbook from tasks/ (inforge run <task> --help: its arguments)
  inforge apply <plan.json>                   apply exactly a plan saved with --plan --out, or refuse if the state moved
  inforge completion bash|zsh                 shell completion
  inforge <command> --help                    usage and examples of one command
  inforge --version                           the installed version

${COMMON_FLAGS}
examples:
  inforge pki init --domain mesh.example.internal --ci-recipient age1… --identity-out /media/usb/root.key
  INFORGE_PKI_ROOT_KEY=/media/usb/root.key inforge pki intermediate eu
  INFORGE_SECRETS_KEY=ci.key inforge pki renew --region eu
`;

/** Per-command help: usage, what it does, the posture, and real examples. */
export const COMMAND_HELP: Record<string, { usage: string; about: string; examples: string[] }> = {
  "pki init": {
    usage: "inforge pki init [--domain D] [--name N] [--ci-recipient age1…] [--identity-out FILE] [--name-constraints dns|dns+uri] [--root-in age|pkcs11:URI]",
    about: "Create the offline root (root posture, never in CI). Prints the new root identity once, or writes it to --identity-out (mode 0600, outside the pki directory); --json requires --identity-out, so stdout is one JSON document without the identity. The CI recipient comes from --ci-recipient (public: the offline workstation needs no CI secret) or is derived from INFORGE_SECRETS_KEY. Signs pki.json's trust-critical fields into custody.json and prints the root fingerprint with the line to set in CI: INFORGE_ROOT_FINGERPRINT=<fp>. --name-constraints: dns (default) fences DNS names and is accepted by every TLS stack; dns+uri adds URI constraints, which rustls refuses outright, GnuTLS ignores and Go reads as host-or-subdomain (docs/interop.md) — SPIFFE IDs are fenced by the per-trust-domain bundles either way. --root-in pkcs11:token=T;object=O?module-path=…&pin-source=file:… makes the root key on a PKCS#11 token (sensitive, never extractable) and records token, object and public key in pki.json rootKeys (signed into custody.json); the PIN comes from the pin-source file or a no-echo terminal prompt, never from argv (README \"Root key on hardware\").",
    examples: ["inforge pki init --domain mesh.example.internal --ci-recipient age1… --identity-out /media/usb/root.key", "inforge pki init --domain mesh.example.internal --ci-recipient \"$(age-keygen -y ci.key)\""],
  },
  "pki intermediate": {
    usage: "inforge pki intermediate <scope>",
    about: "Add a region (or global): issue its first intermediate, active at once, and write its trust bundle. Root posture. Needs regions/<scope>.json.",
    examples: ["INFORGE_PKI_ROOT_KEY=/media/usb/root.key inforge pki intermediate eu", "inforge pki intermediate global --plan"],
  },
  "pki renew": {
    usage: "inforge pki renew [--region R]",
    about: "Mint missing leaves, renew those past their renewal point (2/3 of life), promote prepared intermediates whose propagation delay has passed (with pki.json promotion \"probe\": as soon as the last inforge pki probe shows every clientAuth endpoint of the scope trusting it, and not before), retire retiring ones, and re-sign each region's CRL (crl/<region>.crl.pem) when it is first needed, when its issuers change, or at 2/3 of its life. CI posture. Nothing due: nothing written.",
    examples: ["INFORGE_SECRETS_KEY=ci.key inforge pki renew", "inforge pki renew --region eu --plan --at 2027-01-01T00:00:00Z"],
  },
  "pki rotate": {
    usage: "inforge pki rotate --intermediate <scope> [--force] | --root [--root-in age|pkcs11:URI] [--finish] | --leaf <service> --region R",
    about: "--intermediate: planned key roll with overlap (root posture); an already expired intermediate is replaced at once instead (retired, not revoked; no overlap). --root: start a dual-root overlap, re-sign custody.json with the new root and print its fingerprint to add to INFORGE_ROOT_FINGERPRINT; --root --root-in age|pkcs11:…: where the new root key is made (default: an age key file; required when the active root is on a token). --root --finish: end it (root posture). --leaf: force one service's new leaf (CI posture).",
    examples: ["inforge pki rotate --intermediate eu", "inforge pki rotate --root", "inforge pki rotate --root --finish", "inforge pki rotate --leaf payments --region eu"],
  },
  "pki recover-intermediate": {
    usage: "inforge pki recover-intermediate <scope>",
    about: "An intermediate key is believed leaked: revoke it (root CRL), issue a new generation active at once, drop the old one from every bundle now. Root posture. Then run inforge pki renew --region <scope> in CI.",
    examples: ["inforge pki recover-intermediate eu --plan", "INFORGE_PKI_ROOT_KEY=/media/usb/root.key inforge pki recover-intermediate eu"],
  },
  "pki revoke": {
    usage: "inforge pki revoke --leaf <service> --region R [--reason unspecified|key-compromise|affiliation-changed|superseded|cessation-of-operation|privilege-withdrawn]",
    about: "CI posture. Revoke the service's current leaf: list its serial on the region's CRL (crl/<region>.crl.pem, signed by the intermediate that issued the leaf; the reason becomes its RFC 5280 reasonCode, none for \"unspecified\", the default) and issue a replacement with a new key. The plan says who must reload what: the service its tls.crt and tls.key (inforge deploy), every consumer that checks revocation the new CRL.",
    examples: ["INFORGE_SECRETS_KEY=ci.key inforge pki revoke --leaf payments --region eu --reason key-compromise", "inforge pki revoke --leaf payments --region eu --plan"],
  },
  "pki issuer": {
    usage: "inforge pki issuer <scope> --mesh istio|linkerd|cert-manager [--rotate [--force] | --recover]",
    about: "Root posture. Issue the scope's CA for a mesh's control plane: signed by the active root, pathLen 0, key sealed to the CI recipient, lifetime and overlap like the scope's intermediate, name constraints fitted to the mesh in the scope's trust domain <scope>.<domain> — istio: URI spiffe://<trust domain> (plus istiod.istio-system.svc, istiod's own name); linkerd: DNS identity.linkerd.<trust domain> (no URI constraint: the proxy uses rustls); cert-manager: the scope's DNS fence, naming templates included. --rotate prepares the next generation; CI's pki renew promotes it after the propagation delay and retires the old one once the workload certificates it signed (at most lifetimes.leaf) have expired. Files: scopes/<scope>/<mesh>/G<n>.crt.pem and .key.age, recorded in scope.json \"issuers\", vouched for and verified like intermediates. Export with inforge deploy --mesh (CI posture); docs/meshes.md. --recover: the issuer's key is believed leaked — revoke every active or prepared generation on the root CRL and issue a new active one at once (no overlap; meshes anchor on the root, so no bundle changes); then export it with deploy --mesh and restart the control plane.",
    examples: ["INFORGE_PKI_ROOT_KEY=/media/usb/root.key inforge pki issuer eu --mesh istio", "inforge pki issuer eu --mesh linkerd --rotate --plan", "inforge pki issuer eu --mesh istio --recover"],
  },
  "pki crl": {
    usage: "inforge pki crl",
    about: "Re-sign the root CRL before its nextUpdate (root posture). Every root-posture run re-signs it as well.",
    examples: ["INFORGE_PKI_ROOT_KEY=/media/usb/root.key inforge pki crl"],
  },
  "pki config": {
    usage: "inforge pki config [--promotion time|probe] [--probe-max-age 1h] [--plan]",
    about: "Root posture. Every run refuses a pki.json whose trust-critical fields (everything but thresholds and spiffeRefreshHint) differ from custody.json, the record the root signed. This shows the field-by-field difference, then signs pki.json's current values into custody.json (journalled, one commit). A new CI recipient: set recipients.ci in pki.json, run this, then inforge pki rekey --ci-recipient <new> in CI with the current CI identity. The root recipient changes only with pki rekey --root-recipient. Also signs the first record of a tree made before custody.json. --promotion and --probe-max-age set those pki.json fields in the same commit (shown in the difference first): promotion \"probe\" makes renew promote a prepared intermediate on inforge pki probe evidence no older than probeMaxAge (1h by default) instead of after the propagation delay.",
    examples: ["INFORGE_PKI_ROOT_KEY=/media/usb/root.key inforge pki config --plan", "INFORGE_PKI_ROOT_KEY=/media/usb/root.key inforge pki config", "INFORGE_PKI_ROOT_KEY=/media/usb/root.key inforge pki config --promotion probe --probe-max-age 2h"],
  },
  "pki status": {
    usage: "inforge pki status [--json] [--check] [--calendar N] [--at T]",
    about: "The tree (root → scopes → generations, leaf counts) with time to expiry, health against the thresholds in pki.json, findings grouped per scope with counts, criticals first (among them a region declared in regions/ with no intermediate yet, a root overlap ready to finish, and drift from the last inforge pki probe: endpoints serving a leaf of a revoked or retired generation, a leaf no generation issued, a chain that fails, a leaf past its renewal point or not the current one, endpoints that could not be probed), and a calendar of what comes next (--calendar N entries, 12 by default; the rest is counted). --check exits 0 ok, 1 warning, 2 critical.",
    examples: ["inforge pki status", "inforge pki status --check --at 2027-10-01T00:00:00Z", "inforge pki status --json | jq .health"],
  },
  "pki probe": {
    usage: "inforge pki probe [--region R] [--timeout 5s] [--concurrency N] [--json]",
    about: "CI posture. Connect over TLS (node:tls) to every endpoint the region files list under \"probes\" (or one region's), 16 at once (--concurrency) within 2 minutes in all, --timeout per connection (5s). Per endpoint: the leaf it serves (which scope generation issued it, whether it is the one the state records, days left), whether its chain verifies with the region bundle and carries the SNI name — the service's DNS name <service>.<scope>.<domain> unless the entry gives \"sni\". For a scope with a prepared generation and an endpoint with \"clientAuth\": true, it also presents a client certificate issued by the prepared generation (made in memory with the CI identity, never written, five minutes of life, named probe.inforge.<scope>.<domain>) and records whether the endpoint accepted it (kept the connection or answered) or refused it (an alert, or a close right after the handshake). A refused connection, a timeout or a peer that does not speak TLS is a result, not an error. The run is written to probes/<scope>.json, signed with the scope's generation key and journalled: with pki.json promotion \"probe\", renew promotes a prepared generation as soon as this evidence (at most probeMaxAge old, 1h by default) shows every clientAuth endpoint of the scope accepting it; pki status reports drift from it.",
    examples: ["INFORGE_SECRETS_KEY=ci.key inforge pki probe --region eu", "INFORGE_SECRETS_KEY=ci.key inforge pki probe --json | jq '.scopes[].endpoints[] | select(.trust.outcome != \"accepted\")'"],
  },
  "pki verify": {
    usage: "inforge pki verify [--since REV] [--json] [--at T]",
    about: "Check the pki directory without changing it: every trust invariant, each certificate against its state record and its issuer, bundles exactly as defined, the CRL, every certificate and CRL read as strictly as the strictest verifier (signature algorithm inside = outside, canonical ECDSA signature, DER BOOLEANs, no duplicate extension, times that exist), certificates not yet valid (beyond the clockSkew: error) or expired, sealed keys (opened when INFORGE_PKI_ROOT_KEY / INFORGE_SECRETS_KEY is present; exactly one recipient stanza each), plaintext secrets, file modes, the journal's hash chain against every file it recorded (leaf certificates through each scope's leaves/<scope>/manifest.json; with pki.json leafFiles \"shipped\", leaf files absent from the checkout are counted, not checked), pki.json against the root-signed custody.json, the roots against INFORGE_ROOT_FINGERPRINT, and git history (anti-rollback): each journal must extend the one at REV, the CRL number and spiffe_sequence must not go down. Without --since, inside a git work tree: against HEAD when the pki directory has uncommitted changes, else against the commit before the last one that changed it. One line per finding; exit 0 clean, 1 on any error.",
    examples: ["INFORGE_SECRETS_KEY=ci.key inforge pki verify --since origin/main", "inforge pki verify --json | jq '.findings[] | select(.severity == \"error\")'"],
  },
  "pki graph": {
    usage: "inforge pki graph [--format mermaid|dot | --json]",
    about: "The tree as a picture: roots, intermediates per scope with their states, who signed whom, which bundle carries which certificate. --json prints the same nodes and edges as data (inforge.graph/v1).",
    examples: ["inforge pki graph > tree.mmd", "inforge pki graph --format dot | dot -Tpng > tree.png", "inforge pki graph --json | jq '.edges[] | select(.kind == \"signs\")'"],
  },
  "pki sign-csr": {
    usage: "inforge pki sign-csr --region R --service S <csr.pem> [--out chain.pem]",
    about: "For a workload that keeps its own key: verify the PKCS#10 CSR's signature, accept only an ECDSA P-256 key and only the service's own names (CN/DNS <service>.<region>.<domain>, URI spiffe://<region>.<domain>/svc/<service>, or what the naming templates of regions/<region>.json give it), issue a leaf under the region's active intermediate (recorded in leaves/<region>/index.json \"csr\") and print the chain (leaf + intermediate, + the cross-signed root during a root overlap), or write it to --out. CI posture.",
    examples: ["openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -subj /CN=payments.eu.mesh.example.internal -out payments.csr", "INFORGE_SECRETS_KEY=ci.key inforge pki sign-csr --region eu --service payments payments.csr > chain.pem"],
  },
  "pki rekey": {
    usage: "inforge pki rekey --ci-recipient age1… | --root-recipient age1…",
    about: "Re-seal every key one identity holds (CI: intermediate and leaf keys; root: root keys) to a new recipient, in one crash-safe commit. Needs the current identity (CI or root posture). --root-recipient also updates pki.json and re-signs custody.json. --ci-recipient seals only to the CI recipient custody.json holds: accept it first with inforge pki config (root posture). Each re-sealed file is checked before the commit: one X25519 recipient, not openable by the old identity.",
    examples: ["INFORGE_SECRETS_KEY=ci.key inforge pki rekey --ci-recipient $(age-keygen -y ci-new.key)", "INFORGE_PKI_ROOT_KEY=/media/usb/root.key inforge pki rekey --root-recipient age1…"],
  },
  deploy: {
    usage: "inforge deploy <service> --region R [--out DIR] [--allow-in-repo]\n       inforge deploy --mesh istio|linkerd|cert-manager --region R [--out DIR] [--allow-in-repo]",
    about: "CI posture. Mint the service's leaf if it is missing or due (one plan, like renew for that service only; with pki.json leafFiles \"shipped\", also when this checkout lacks its certificate or key, which the repo does not commit), then write DIR (default ./deploy/<region>/<service>, created 0700): tls.crt (leaf + intermediate, + the cross-signed root during a root overlap), tls.key (0600), ca.crt (bundles/<region>.pem), trust/<trust-domain>.pem (one per trust domain the service talks to) and secret.yaml (a kubernetes.io/tls Secret). Every file handed out is first checked against the journal and the chain to a live root (a tampered or unrecorded file refuses the run, nothing written). Files already right are not rewritten: nothing due, nothing touched. Refused before anything runs: DIR inside the pki directory by its real path (symlinks and `..` followed), DIR or a file in it a symbolic link, and DIR inside a git work tree that git does not ignore (the plaintext key would be one git add -A from the repo) unless --allow-in-repo. With --mesh: no leaf is minted; the scope's active mesh issuer (pki issuer), its key and the trust anchors (every live root: both during a root overlap) are written in that project's format with a Kubernetes manifest (default DIR ./deploy/<region>/<mesh>) — istio: ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem, cacerts.yaml (Secret cacerts in istio-system); linkerd: ca.crt, tls.crt, tls.key, linkerd-identity.yaml (Secret linkerd-identity-issuer + ConfigMap linkerd-identity-trust-roots in linkerd); cert-manager: ca.crt, tls.crt, tls.key, cert-manager.yaml (Secret inforge-<region>-ca in cert-manager + ClusterIssuer inforge-<region>). Same checks on the files and on DIR (docs/meshes.md).",
    examples: ["INFORGE_SECRETS_KEY=ci.key inforge deploy payments --region eu --out /run/inforge/eu/payments", "inforge deploy auth --region global --out /run/inforge/global/auth", "inforge deploy payments --region eu --plan", "inforge deploy --mesh istio --region eu --out /run/inforge/eu/istio"],
  },
  "releases deploy": {
    usage: "inforge releases deploy <release> [--out DIR] [--releases DIR] [--allow-in-repo]",
    about: "CI posture. Deploy every service of releases/<release>.json ({\"name\", \"deploy\": [{\"region\", \"services\"}]}) to DIR/<region>/<service> (default ./deploy): every leaf due (or, with pki.json leafFiles \"shipped\", not in this checkout) in one plan and one commit, then the files. DIR is checked as for deploy (outside the pki directory, no symlink, ignored by git unless --allow-in-repo). Prints minted / reused / failed per region; on a partial failure lists what was and was not delivered and exits 1 — run it again to complete. A file the state does not vouch for (tampered, unrecorded, not chaining to a live root) refuses the whole release before anything is written.",
    examples: ["INFORGE_SECRETS_KEY=ci.key inforge releases deploy 2026-12-checkout --out /run/inforge", "inforge releases deploy 2026-12-checkout --plan"],
  },
  tasks: { usage: "inforge tasks [--json]", about: "List the runbooks: ./tasks (or INFORGE_TASKS_DIR) first, then the shipped ones.", examples: ["inforge tasks"] },
  run: { usage: "inforge run <task> [--arg value …]", about: "Run a runbook from tasks/ — yours or a shipped one — with its arguments as flags.", examples: ["inforge run rotate-intermediate --scope eu --plan", "inforge run renew --region us"] },
  apply: {
    usage: "inforge apply <plan.json> [--json]",
    about: "Apply exactly the plan saved by `inforge run <task> --plan --out plan.json` (or `inforge pki … --plan --out plan.json`). The file binds the plan to every file of the pki directory it was made on (SHA-256 each), the identities it needs and its clock; under the lock the state is compared and the intents are planned again at that clock: anything different refuses the run in one sentence naming the first changed file, as does a file edited by hand (its digest). Nothing is asked: the file is the review. Certificates carry the clock the plan was made at.",
    examples: ["INFORGE_PKI_ROOT_KEY=/media/usb/root.key inforge pki rotate --intermediate eu --plan --out plan.json", "INFORGE_PKI_ROOT_KEY=/media/usb/root.key inforge apply plan.json"],
  },
  completion: { usage: "inforge completion bash|zsh", about: "Print a shell completion script.", examples: ["source <(inforge completion bash)", "inforge completion zsh > ~/.zfunc/_inforge"] },
};

export function commandHelp(key: string): string | null {
  const h = COMMAND_HELP[key];
  if (!h) return null;
  return `usage: ${h.usage}\n\n${h.about}\n\nexamples:\n${h.examples.map((e) => "  " + e).join("\n")}\n\ncommon flags: --dir, --regions, --plan, --at, --json, --wait (inforge --help)\n`;
}

const WORDS = {
  top: ["pki", "deploy", "releases", "tasks", "run", "apply", "completion", "help"],
  pki: ["init", "intermediate", "renew", "rotate", "recover-intermediate", "revoke", "crl", "config", "status", "graph", "verify", "sign-csr", "rekey", "probe"],
  flags: ["--dir", "--regions", "--plan", "--at", "--json", "--wait", "--help", "--region", "--intermediate", "--root", "--finish", "--force", "--leaf", "--domain", "--name", "--ci-recipient", "--identity-out", "--check", "--calendar", "--format", "--out", "--service", "--releases", "--root-recipient", "--since", "--reason", "--name-constraints", "--yes", "--version", "--timeout", "--promotion", "--probe-max-age"],
};

/** Shell completion scripts: commands, subcommands and flags (static lists). */
export function completion(shell: string): string | null {
  if (shell === "bash") {
    return `# bash completion for inforge — source <(inforge completion bash)
_inforge() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[1]}
  if [[ $cur == --* ]]; then COMPREPLY=($(compgen -W "${WORDS.flags.join(" ")}" -- "$cur")); return; fi
  if [[ $COMP_CWORD -eq 1 ]]; then COMPREPLY=($(compgen -W "${WORDS.top.join(" ")}" -- "$cur")); return; fi
  if [[ $prev == pki && $COMP_CWORD -eq 2 ]]; then COMPREPLY=($(compgen -W "${WORDS.pki.join(" ")}" -- "$cur")); return; fi
  if [[ $prev == run && $COMP_CWORD -eq 2 ]]; then COMPREPLY=($(compgen -W "$(inforge tasks 2>/dev/null | cut -d' ' -f1)" -- "$cur")); return; fi
}
complete -F _inforge inforge
`;
  }
  if (shell === "zsh") {
    return `#compdef inforge
# zsh completion for inforge — inforge completion zsh > "\${fpath[1]}/_inforge"
_inforge() {
  local -a top pki flags
  top=(${WORDS.top.join(" ")})
  pki=(${WORDS.pki.join(" ")})
  flags=(${WORDS.flags.join(" ")})
  if [[ $words[CURRENT] == --* ]]; then compadd -- $flags; return; fi
  case $CURRENT in
    2) compadd -- $top ;;
    3) [[ $words[2] == pki ]] && compadd -- $pki
       [[ $words[2] == run ]] && compadd -- \${(f)"$(inforge tasks 2>/dev/null | cut -d' ' -f1)"} ;;
  esac
}
compdef _inforge inforge 2>/dev/null || _inforge "$@"
`;
  }
  return null;
}
