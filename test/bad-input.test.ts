// The bad-input corpus: every user-supplied value that can be wrong, one table row each. For
// every row: a non-zero exit, ONE line on stderr (no stack, no "unexpected error") that names the
// file, field or flag and says how to fix it, and a byte-identical pki directory (and regions
// directory) before and after. Rows that edit a state file come twice where it matters: as is
// (the journal catches it) and "forged" — with the journal rewritten to match, so the checks past
// the journal must catch it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, cli, ok, run, sandbox, treeHash } from "./helpers.ts";
import { assertNoPlaintextKeys, assertOneLine, clone, rechain } from "./safety-helpers.ts";
import { pkcs8Pem } from "./fixtures/pem.ts";

const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout"], us: ["payments"] });
await buildTree(sb);
const otherKey = join(sb.base, "other.key");
run("age-keygen", ["-o", otherKey]);
const otherRecipient = /public key: (age1\S+)/.exec(readFileSync(otherKey, "utf8"))![1]!;
const ciSecret = readFileSync(sb.ciKey, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!;

type Env = "ci" | "root" | "both" | "none";
interface Case {
  readonly name: string;
  readonly argv: readonly string[];
  readonly env?: Env;
  /** Extra environment variables (after the posture's). */
  readonly vars?: Record<string, string | undefined>;
  /** Change the copy (pki dir, regions dir) before the run. */
  readonly setup?: (c: Copy) => void | Promise<void>;
  /** Start without a pki directory (init). */
  readonly fresh?: boolean;
  /** The file, field or flag the message must name. */
  readonly names: RegExp;
  /** The fix it must give. */
  readonly fix: RegExp;
  readonly code?: number;
}
interface Copy {
  readonly dir: string;
  readonly regions: string;
  readonly out: string; // an --identity-out path that does not exist
  file(rel: string): string;
  read(rel: string): string;
  write(rel: string, text: string | Buffer): void;
  /** Write, then rewrite the journal to match (what a forger would do). */
  forge(rel: string, text: string | Buffer): void;
}

const A_CERT = () => readFileSync(join(sb.dir, "scopes/us/G1.crt.pem"), "utf8");
const CRL = () => readFileSync(join(sb.dir, "crl/root.crl.pem"), "utf8");
const RESTORE = /restore (it|them|both|the file|the pki directory)[^;]* from git|git checkout/;
const region = (name: string, body: unknown) => (c: Copy) => writeFileSync(join(c.regions, `${name}.json`), typeof body === "string" ? body : JSON.stringify(body));
const editJson = (rel: string, f: (x: Record<string, unknown>) => void, forge = true) => (c: Copy) => {
  const x = JSON.parse(c.read(rel));
  f(x);
  (forge ? c.forge : c.write)(rel, JSON.stringify(x, null, 2) + "\n");
};
const LEAF = ["pki", "rotate", "--leaf", "payments", "--region", "eu"];
/** Re-seal a scope's leaf key file (to the CI recipient, as inforge does) after `f` edits its entries; the journal forged to match. */
const editLeafKeys = (scope: string, f: (keys: Record<string, { serial: string; key: string }>) => void) => (c: Copy) => {
  const rel = `leaves/${scope}/keys.age`;
  const opened = run("age", ["-d", "-i", sb.ciKey, c.file(rel)]);
  if (opened.status !== 0) throw new Error(`age could not open ${rel}: ${opened.stderr}`);
  const file = JSON.parse(opened.stdout) as { keys: Record<string, { serial: string; key: string }> };
  f(file.keys);
  const recipient = (JSON.parse(c.read("pki.json")) as { recipients: { ci: string } }).recipients.ci;
  const sealed = run("age", ["-r", recipient, "-a"], { input: JSON.stringify(file, null, 1) + "\n" });
  if (sealed.status !== 0) throw new Error(`age could not seal ${rel}: ${sealed.stderr}`);
  c.forge(rel, sealed.stdout);
};

const CASES: Case[] = [
  // Scope, region and service names: path tricks, case, look-alikes, empty, long.
  { name: "a scope name with ../", argv: ["pki", "intermediate", "../eu"], env: "root", names: /invalid (scope|region) name "\.\.\/eu"/, fix: /lowercase DNS label/ },
  { name: "a scope name with a slash", argv: ["pki", "intermediate", "eu/x"], env: "root", names: /invalid (scope|region) name "eu\/x"/, fix: /lowercase DNS label/ },
  { name: "a scope name with a NUL byte", argv: ["pki", "intermediate", "eu\0"], env: "root", names: /invalid (scope|region) name "eu\\u0000"/, fix: /lowercase DNS label/ },
  { name: "an uppercase scope name", argv: ["pki", "intermediate", "EU"], env: "root", names: /invalid (scope|region) name "EU"/, fix: /lowercase DNS label/ },
  { name: "a scope name with a Cyrillic look-alike letter", argv: ["pki", "intermediate", "\u0435u"], env: "root", names: /invalid (scope|region) name "\u0435u"/, fix: /a-z first/ },
  { name: "an empty scope name", argv: ["pki", "intermediate", ""], env: "root", names: /missing scope/, fix: /for example: inforge pki intermediate eu/ },
  { name: "a very long scope name", argv: ["pki", "intermediate", "a".repeat(300)], env: "root", names: /invalid (scope|region) name "a{80}…"/, fix: /at most 32 characters/ },
  { name: "the scope name root", argv: ["pki", "intermediate", "root"], env: "root", names: /"root" names the root bundle/, fix: /cannot be a scope/ },
  { name: "a region with ../ on renew", argv: ["pki", "renew", "--region", "../../etc"], env: "ci", names: /invalid region name "\.\.\/\.\.\/etc"/, fix: /lowercase DNS label/ },
  { name: "an uppercase region on renew", argv: ["pki", "renew", "--region", "EU"], env: "ci", names: /invalid region name "EU"/, fix: /lowercase DNS label/ },
  { name: "an empty region on renew", argv: ["pki", "renew", "--region", ""], env: "ci", names: /invalid region name ""/, fix: /lowercase DNS label/ },
  { name: "a region with a newline", argv: ["pki", "rotate", "--leaf", "payments", "--region", "eu\n"], env: "ci", names: /invalid region name "eu\\n"/, fix: /lowercase DNS label/ },
  { name: "a service name with ../", argv: ["pki", "rotate", "--leaf", "../x", "--region", "eu"], env: "ci", names: /invalid service name "\.\.\/x"/, fix: /lowercase DNS label/ },
  { name: "a service name with a Cyrillic look-alike letter", argv: ["pki", "rotate", "--leaf", "p\u0430yments", "--region", "eu"], env: "ci", names: /invalid service name "p\u0430yments"/, fix: /lowercase DNS label/ },
  { name: "a service the region file does not declare", argv: ["pki", "rotate", "--leaf", "billing", "--region", "eu"], env: "ci", names: /unknown service "billing" in "eu"/, fix: /add it to regions\/eu\.json/ },
  { name: "a region with no region file", argv: ["pki", "intermediate", "ap"], env: "root", names: /unknown region "ap"/, fix: /add regions\/ap\.json/ },

  // Region files.
  { name: "a region file with bad JSON", argv: ["pki", "renew"], env: "ci", setup: region("eu", "{ name: eu }"), names: /regions\/eu\.json is not valid JSON/, fix: /fix it/ },
  { name: "a region file with an unknown field", argv: ["pki", "renew"], env: "ci", setup: region("eu", { name: "eu", services: ["payments"], owner: "team-a" }), names: /regions\/eu\.json is invalid at owner/, fix: /expected \{"name"/ },
  { name: "a region file whose name does not match", argv: ["pki", "renew"], env: "ci", setup: region("eu", { name: "ap", services: ["payments"] }), names: /regions\/eu\.json names the scope "ap"/, fix: /rename it to ap\.json/ },
  { name: "a region file that lists a service twice", argv: ["pki", "renew"], env: "ci", setup: region("eu", { name: "eu", services: ["payments", "payments"] }), names: /regions\/eu\.json lists the service "payments" twice/, fix: /remove one/ },
  { name: "a naming template with an unknown placeholder", argv: ["pki", "renew"], env: "ci", setup: region("eu", { name: "eu", services: ["payments", "checkout"], naming: { dns: ["{service}.{team}.svc.eu.local"] } }), names: /regions\/eu\.json is invalid at naming\.dns\.0: unknown placeholder/, fix: /placeholders are \{service\}/ },
  { name: "a naming template whose fixed suffix is one label", argv: ["pki", "renew"], env: "ci", setup: region("eu", { name: "eu", services: ["payments", "checkout"], naming: { dns: ["{service}.local"] } }), names: /regions\/eu\.json: the DNS template "\{service\}\.local" leaves the fixed suffix "local"/, fix: /end it in at least two fixed labels/ },
  { name: "naming for a service the region file does not declare", argv: ["pki", "renew"], env: "ci", setup: region("eu", { name: "eu", services: ["payments", "checkout"], naming: { services: { billing: { namespace: "pay" } } } }), names: /regions\/eu\.json: naming\.services names "billing"/, fix: /add it there or remove its naming/ },
  { name: "naming templates that let two regions issue the same names", argv: ["pki", "renew"], env: "ci", setup: (c) => { region("eu", { name: "eu", services: ["payments", "checkout"], naming: { dns: ["{service}.{namespace}.svc.cluster.local"] } })(c); region("us", { name: "us", services: ["payments"], naming: { dns: ["{service}.{namespace}.svc.cluster.local"] } })(c); }, names: /regions\/eu\.json and \S*regions\/us\.json could both issue names under "svc\.cluster\.local"/, fix: /per-region cluster domain/ },
  { name: "pki issuer with an unknown mesh", argv: ["pki", "issuer", "eu", "--mesh", "consul"], env: "root", names: /unknown mesh "consul"/, fix: /--mesh is one of istio, linkerd, cert-manager/ },
  { name: "pki issuer without --mesh", argv: ["pki", "issuer", "eu"], env: "root", names: /inforge pki issuer needs --mesh/, fix: /for example: inforge pki issuer eu --mesh istio/ },
  { name: "rotating a mesh issuer that was never issued", argv: ["pki", "issuer", "eu", "--mesh", "linkerd", "--rotate"], env: "root", names: /scope "eu" has no active linkerd issuer to rotate/, fix: /issue one with inforge pki issuer eu --mesh linkerd/ },
  { name: "a region file whose services is not a list", argv: ["pki", "renew"], env: "ci", setup: region("eu", { name: "eu", services: "payments" }), names: /regions\/eu\.json is invalid at services/, fix: /expected \{"name"/ },
  { name: "a region file without services", argv: ["pki", "renew"], env: "ci", setup: region("eu", { name: "eu" }), names: /regions\/eu\.json is invalid at services/, fix: /expected \{"name"/ },
  { name: "a region file with a bad service name", argv: ["pki", "renew"], env: "ci", setup: region("eu", { name: "eu", services: ["Pay_ments"] }), names: /regions\/eu\.json: invalid service name "Pay_ments"/, fix: /lowercase DNS label/ },
  { name: "an uppercase region file", argv: ["pki", "renew"], env: "ci", setup: region("EU", { name: "EU", services: [] }), names: /regions\/EU\.json: invalid scope name "EU"/, fix: /lowercase DNS label/ },

  // PEM in state files.
  { name: "an intermediate certificate replaced by garbage", argv: LEAF, env: "ci", setup: (c) => c.write("scopes/eu/G1.crt.pem", "hello\n"), names: /scopes\/eu\/G1\.crt\.pem was changed outside inforge/, fix: /run inforge pki verify .*restore the file\(s\) from git/ },
  { name: "a truncated intermediate certificate (forged journal)", argv: LEAF, env: "ci", setup: (c) => c.forge("scopes/eu/G1.crt.pem", c.read("scopes/eu/G1.crt.pem").slice(0, 300)), names: /scopes\/eu\/G1\.crt\.pem is not a PEM certificate/, fix: RESTORE },
  { name: "an intermediate certificate file holding two certificates (forged journal)", argv: LEAF, env: "ci", setup: (c) => c.forge("scopes/eu/G1.crt.pem", c.read("scopes/eu/G1.crt.pem") + A_CERT()), names: /scopes\/eu\/G1\.crt\.pem is not a PEM certificate: expected exactly one/, fix: RESTORE },
  { name: "a CRL where the intermediate certificate belongs (forged journal)", argv: LEAF, env: "ci", setup: (c) => c.forge("scopes/eu/G1.crt.pem", CRL()), names: /scopes\/eu\/G1\.crt\.pem is not a PEM certificate: found a "X509 CRL" block/, fix: RESTORE },
  { name: "another scope's certificate where the intermediate belongs (forged journal)", argv: LEAF, env: "ci", setup: (c) => c.forge("scopes/eu/G1.crt.pem", A_CERT()), names: /scopes\/eu\/G1\.crt\.pem is not the certificate the state records/, fix: RESTORE },
  { name: "a truncated root certificate (forged journal)", argv: ["pki", "rotate", "--intermediate", "eu"], env: "root", setup: (c) => c.forge("root/G1.crt.pem", c.read("root/G1.crt.pem").slice(0, 200)), names: /root\/G1\.crt\.pem is not a PEM certificate/, fix: RESTORE },
  { name: "a truncated bundle", argv: LEAF, env: "ci", setup: (c) => c.write("bundles/eu.pem", c.read("bundles/eu.pem").slice(0, 100)), names: /bundles\/eu\.pem was changed outside inforge/, fix: /restore the file\(s\) from git/ },
  { name: "a leaf index that is not JSON (forged journal)", argv: ["pki", "renew"], env: "ci", setup: (c) => c.forge("leaves/eu/index.json", "{"), names: /leaves\/eu\/index\.json is not valid JSON/, fix: RESTORE },
  { name: "a scope file with an unknown field (forged journal)", argv: ["pki", "renew"], env: "ci", setup: editJson("scopes/eu/scope.json", (x) => (x.owner = "me")), names: /scopes\/eu\/scope\.json is invalid at owner/, fix: /fix the field or restore the file from git/ },
  { name: "a root file with an unknown generation state (forged journal)", argv: ["pki", "renew"], env: "ci", setup: editJson("root/root.json", (x) => ((x.generations as { state: string }[])[0]!.state = "zombie")), names: /root\/root\.json is invalid at generations\.0\.state/, fix: /fix the field or restore the file from git/ },
  { name: "a scope directory that is not a scope name", argv: ["pki", "renew"], env: "ci", setup: (c) => mkdirSync(join(c.dir, "scopes/EU")), names: /unexpected entry "scopes\/EU"/, fix: /remove it/ },

  // Age files and identities.
  { name: "a corrupt sealed intermediate key (forged journal)", argv: LEAF, env: "ci", setup: (c) => c.forge("scopes/eu/G1.key.age", c.read("scopes/eu/G1.key.age").replace(/\n([A-Za-z0-9+/]{10})/, (_, s: string) => "\n" + [...s].reverse().join(""))), names: /scopes\/eu\/G1\.key\.age" is a damaged age file/, fix: RESTORE },
  { name: "a truncated sealed intermediate key (forged journal)", argv: LEAF, env: "ci", setup: (c) => c.forge("scopes/eu/G1.key.age", c.read("scopes/eu/G1.key.age").slice(0, 150)), names: /scopes\/eu\/G1\.key\.age" is a damaged age file/, fix: RESTORE },
  { name: "an empty sealed intermediate key (forged journal)", argv: LEAF, env: "ci", setup: (c) => c.forge("scopes/eu/G1.key.age", ""), names: /scopes\/eu\/G1\.key\.age" is not an age-encrypted file \(it is empty\)/, fix: RESTORE },
  { name: "a foreign age file where the intermediate key belongs (forged journal)", argv: LEAF, env: "ci", setup: (c) => c.forge("scopes/eu/G1.key.age", c.read("root/G1.key.age")), names: /scopes\/eu\/G1\.key\.age" is not sealed to the INFORGE_SECRETS_KEY identity/, fix: RESTORE },
  { name: "a plaintext private key where the intermediate key belongs (forged journal)", argv: LEAF, env: "ci", setup: (c) => c.forge("scopes/eu/G1.key.age", pkcs8Pem("AAAA")), names: /scopes\/eu\/G1\.key\.age" is not an age-encrypted file \(it is an unencrypted PEM "PRIVATE KEY": treat that key as exposed\)/, fix: /re-seal it|restore/ },
  // A rotation re-seals the scope's key file with the keys it keeps (sealed while other leaves are still being issued).
  { name: "a leaf key file without the key of a leaf the rotation keeps (forged journal)", argv: LEAF, env: "ci", setup: editLeafKeys("eu", (k) => delete k.checkout), names: /leaves\/eu\/keys\.age has no key for "checkout" \(leaves\/eu\/index\.json records serial [0-9a-f]+\)/, fix: /restore leaves\/eu\/keys\.age from git, or issue a new leaf with inforge pki rotate --leaf checkout --region eu/ },
  { name: "a leaf key file holding another certificate's key for a kept leaf (forged journal)", argv: LEAF, env: "ci", setup: editLeafKeys("eu", (k) => (k.checkout!.serial = "7f")), names: /leaves\/eu\/keys\.age holds the key of another certificate for "checkout"/, fix: /restore leaves\/eu\/keys\.age from git/ },
  { name: "a corrupt sealed root key (forged journal)", argv: ["pki", "rotate", "--intermediate", "eu"], env: "root", setup: (c) => c.forge("root/G1.key.age", c.read("root/G1.key.age").slice(0, 120)), names: /root\/G1\.key\.age" is a damaged age file/, fix: RESTORE },
  { name: "two intermediate keys swapped (forged journal)", argv: LEAF, env: "ci", setup: (c) => { const eu = c.read("scopes/eu/G1.key.age"); c.write("scopes/eu/G1.key.age", c.read("scopes/us/G1.key.age")); c.forge("scopes/us/G1.key.age", eu); rechain(c.dir, ["scopes/eu/G1.key.age"]); }, names: /scopes\/eu\/G1\.key\.age does not match scopes\/eu\/G1\.crt\.pem/, fix: /restore both from git/ },
  { name: "two leaf certificates swapped", argv: LEAF, env: "ci", setup: (c) => { const a = c.read("leaves/eu/payments.crt.pem"); c.write("leaves/eu/payments.crt.pem", c.read("leaves/eu/checkout.crt.pem")); c.write("leaves/eu/checkout.crt.pem", a); }, names: /leaves\/eu\/checkout\.crt\.pem was changed outside inforge \(and 1 other file\(s\)\)/, fix: /restore the file\(s\) from git/ },
  // The same tampering met by the check a mint worker runs while the commit is staged: the same
  // sentence, and the staged redo log and files taken back (the tree is byte-identical).
  { name: "an intermediate certificate replaced by garbage, checked on a mint worker", argv: LEAF, env: "ci", vars: { INFORGE_MINT_WORKERS: "1" }, setup: (c) => c.write("scopes/eu/G1.crt.pem", "hello\n"), names: /scopes\/eu\/G1\.crt\.pem was changed outside inforge/, fix: /restore the file\(s\) from git/ },
  { name: "two leaf certificates swapped, checked on a mint worker", argv: ["pki", "renew", "--at", new Date(Date.now() + 6 * 86_400_000).toISOString().replace(/\.\d+Z$/, "Z")], env: "ci", vars: { INFORGE_MINT_WORKERS: "1" }, setup: (c) => { const a = c.read("leaves/us/payments.crt.pem"); c.write("leaves/us/payments.crt.pem", c.read("leaves/eu/checkout.crt.pem")); c.write("leaves/eu/checkout.crt.pem", a); }, names: /leaves\/eu\/checkout\.crt\.pem was changed outside inforge \(and 1 other file\(s\)\)/, fix: /restore the file\(s\) from git/ },
  { name: "a mint worker count that is not a number", argv: LEAF, env: "ci", vars: { INFORGE_MINT_WORKERS: "lots" }, names: /invalid INFORGE_MINT_WORKERS "lots"/, fix: /0 to 16/ },
  { name: "a wrong CI identity", argv: ["pki", "renew"], env: "none", vars: { INFORGE_SECRETS_KEY: otherKey }, names: /INFORGE_SECRETS_KEY holds the identity of age1\S+…, but this pki directory seals ci keys to/, fix: /set INFORGE_SECRETS_KEY to the matching key/ },
  { name: "a wrong root identity", argv: ["pki", "rotate", "--intermediate", "eu"], env: "none", vars: { INFORGE_PKI_ROOT_KEY: otherKey }, names: /INFORGE_PKI_ROOT_KEY holds the identity of/, fix: /set INFORGE_PKI_ROOT_KEY to the matching key/ },
  { name: "a recipient where the CI identity belongs", argv: ["pki", "renew"], env: "none", vars: { INFORGE_SECRETS_KEY: otherRecipient }, names: /"age1\S+" in "INFORGE_SECRETS_KEY" is an age recipient \(public key\), not an identity/, fix: /give the AGE-SECRET-KEY-1… line or the identity file/ },
  { name: "a recipient where the root identity belongs", argv: ["pki", "rotate", "--intermediate", "eu"], env: "none", vars: { INFORGE_PKI_ROOT_KEY: otherRecipient }, names: /in "INFORGE_PKI_ROOT_KEY" is an age recipient/, fix: /give the AGE-SECRET-KEY-1… line/ },
  { name: "an identity file that does not exist", argv: ["pki", "renew"], env: "none", vars: { INFORGE_SECRETS_KEY: "/nonexistent/ci.key" }, names: /INFORGE_SECRETS_KEY is neither an age secret key .* nor a readable identity file: "\/nonexistent\/ci\.key"/, fix: /set it to the key or to the file age-keygen wrote/ },
  { name: "an identity file with two keys", argv: ["pki", "renew"], env: "none", setup: (c) => writeFileSync(join(c.dir, "..", "two.key"), readFileSync(sb.ciKey, "utf8") + readFileSync(otherKey, "utf8")), vars: { INFORGE_SECRETS_KEY: "@two.key" }, names: /holds 2 identities/, fix: /keep one identity per file or variable/ },
  { name: "an identity file of garbage", argv: ["pki", "renew"], env: "none", setup: (c) => writeFileSync(join(c.dir, "..", "junk.key"), "hello world\n"), vars: { INFORGE_SECRETS_KEY: "@junk.key" }, names: /junk\.key.*is not an age identity/, fix: /expected an AGE-SECRET-KEY-1… key/ },
  { name: "a secret key where the CI recipient belongs", argv: ["pki", "init", "--domain", "mesh.test", "--ci-recipient", ciSecret], env: "none", fresh: true, names: /--ci-recipient holds an age identity \(a secret AGE-SECRET-KEY-… key\), not a recipient/, fix: /give its public key/ },
  { name: "a malformed CI recipient", argv: ["pki", "init", "--domain", "mesh.test", "--ci-recipient", "age1notarecipient"], env: "none", fresh: true, names: /--ci-recipient/, fix: /age-keygen -y|copy it again/ },
  { name: "a malformed domain on init", argv: ["pki", "init", "--domain", "Mesh..Test", "--ci-recipient", otherRecipient], env: "none", fresh: true, names: /--domain "Mesh\.\.Test"/, fix: /lowercase DNS name such as mesh\.example\.internal/ },
  { name: "CI set with the root identity present", argv: ["pki", "renew"], env: "both", vars: { CI: "true" }, code: 3, names: /INFORGE_PKI_ROOT_KEY is set in a CI environment/, fix: /remove it from the CI secrets/ },
  { name: "init in CI", argv: ["pki", "init", "--domain", "mesh.test"], env: "ci", vars: { CI: "1" }, fresh: true, code: 3, names: /it must not run in CI \(CI is set\)/, fix: /run it on the offline operator workstation/ },

  // Time.
  { name: "an expired root", argv: ["pki", "intermediate", "ap", "--at", "2045-01-01T00:00:00Z"], env: "root", setup: region("ap", { name: "ap", services: ["payments"] }), names: /the root G1 expired on \S+/, fix: /inforge pki (init|rotate --root)/ },
  { name: "an expired intermediate", argv: ["pki", "renew", "--region", "eu", "--at", new Date(Date.now() + 400 * 86_400_000).toISOString()], env: "ci", names: /the eu intermediate G1 expired on \S+/, fix: /replace it with inforge pki rotate --intermediate eu/ },
  { name: "a rotation too close to the intermediate's expiry", argv: ["pki", "rotate", "--intermediate", "eu", "--at", new Date(Date.now() + 362 * 86_400_000).toISOString()], env: "root", names: /rotating "eu" needs an overlap of \S+ .* but G1 expires in/, fix: /pass --force/ },
  { name: "a bad --at", argv: ["pki", "renew", "--at", "tomorrow"], env: "ci", names: /invalid time "tomorrow" for --at\/INFORGE_NOW/, fix: /give an ISO timestamp such as/ },
  { name: "an --at that is not a date", argv: ["pki", "renew", "--at", "2026-13-45T00:00:00Z"], env: "ci", names: /invalid time "2026-13-45T00:00:00Z"/, fix: /give an ISO timestamp/ },
  { name: "a bad INFORGE_NOW", argv: ["pki", "renew"], env: "ci", vars: { INFORGE_NOW: "now" }, names: /invalid time "now" for --at\/INFORGE_NOW/, fix: /give an ISO timestamp/ },
  { name: "a bad --wait", argv: ["pki", "renew", "--wait", "forever"], env: "ci", names: /invalid --wait "forever"/, fix: /such as 60s or 5m/ },

  // Config.
  { name: "pki.json with an unknown field", argv: ["pki", "renew"], env: "ci", setup: editJson("pki.json", (x) => (x.colour = "blue"), false), names: /pki\.json is invalid at colour/, fix: /fix the field or restore the file from git/ },
  { name: "pki.json without lifetimes", argv: ["pki", "renew"], env: "ci", setup: editJson("pki.json", (x) => delete x.lifetimes, false), names: /pki\.json is invalid at lifetimes/, fix: /fix the field or restore the file from git/ },
  { name: "pki.json with a bad duration", argv: ["pki", "renew"], env: "ci", setup: editJson("pki.json", (x) => ((x.lifetimes as Record<string, string>).leaf = "7 days"), false), names: /pki\.json is invalid at lifetimes\.leaf: a duration is a positive number and a unit/, fix: /fix the field/ },
  { name: "pki.json that is not JSON", argv: ["pki", "renew"], env: "ci", setup: (c) => c.write("pki.json", "version: 1\n"), names: /pki\.json is not valid JSON/, fix: RESTORE },
  { name: "pki.json missing", argv: ["pki", "renew"], env: "ci", setup: (c) => rmSync(c.file("pki.json")), names: /root\/root\.json exists but pki\.json is missing/, fix: /restore pki\.json from git/ },

  // The journal and an interrupted run.
  { name: "a journal entry edited by hand", argv: LEAF, env: "ci", setup: (c) => c.write("journal/pki.jsonl", c.read("journal/pki.jsonl").replace('"steps":', '"steps":9')), names: /the journal journal\/pki\.jsonl is broken: entry 1 was edited/, fix: /run inforge pki verify and restore it from git/ },
  { name: "a damaged pending record", argv: ["pki", "renew"], env: "ci", setup: (c) => c.write("journal/pending.json", "{"), names: /"journal\/pending\.json" is damaged/, fix: /restore the pki directory from git/ },

  // The command line.
  { name: "an unknown pki command", argv: ["pki", "renw"], env: "ci", names: /unknown command "inforge pki renw" — did you mean "inforge pki renew"\?/, fix: /run inforge --help/ },
  { name: "an unknown command", argv: ["pkk", "renew"], env: "ci", names: /unknown command "pkk" — did you mean "inforge pki"\?/, fix: /run inforge --help/ },
  // Issue 15 item 9: a pki subcommand at the top level, or a typo of one, gets a suggestion; what would be ignored is refused.
  { name: "a pki subcommand given at the top level", argv: ["graph"], env: "ci", names: /unknown command "graph" — did you mean "inforge pki graph"\?/, fix: /run inforge --help/ },
  { name: "a typo of a pki subcommand at the top level", argv: ["statsu"], env: "ci", names: /unknown command "statsu" — did you mean "inforge pki status"\?/, fix: /run inforge --help/ },
  { name: "a short -h", argv: ["pki", "status", "-h"], env: "ci", names: /unknown option "-h"/, fix: /did you mean --help\?/ },
  { name: "a short option", argv: ["pki", "verify", "-x"], env: "ci", names: /unknown option "-x"/, fix: /inforge takes long flags only/ },
  { name: "a stray argument to graph", argv: ["pki", "graph", "extra"], env: "ci", names: /unexpected argument "extra" for inforge pki graph/, fix: /which takes no arguments; see inforge pki graph --help/ },
  { name: "a stray argument to status", argv: ["pki", "status", "extra"], env: "ci", names: /unexpected argument "extra" for inforge pki status/, fix: /see inforge pki status --help/ },
  { name: "a stray argument to tasks", argv: ["tasks", "extra"], env: "ci", names: /unexpected argument "extra" for inforge tasks/, fix: /see inforge tasks --help/ },
  // Item 11: a flag whose value is missing says what value it needs.
  { name: "--region with no value", argv: ["pki", "renew", "--region"], env: "ci", names: /--region needs a value/, fix: /a region, such as --region eu/ },
  { name: "--region with no value before another flag", argv: ["pki", "rotate", "--leaf", "payments", "--region", "--plan"], env: "ci", names: /--region needs a value/, fix: /such as --region eu/ },
  { name: "graph --json with --format", argv: ["pki", "graph", "--json", "--format", "dot"], env: "ci", names: /--json and --format dot/, fix: /give one/ },
  { name: "an unknown flag", argv: ["pki", "renew", "--regon", "eu"], env: "ci", names: /unknown flag --regon for inforge pki renew — did you mean --region\?/, fix: /did you mean --region/ },
  { name: "a flag given twice", argv: ["pki", "renew", "--region", "eu", "--region", "us"], env: "ci", names: /the flag --region is given twice/, fix: /give it once/ },
  { name: "rotate without what to rotate", argv: ["pki", "rotate"], env: "ci", names: /inforge pki rotate needs exactly one of --intermediate <scope>, --root or --leaf <service> --region <region>/, fix: /--leaf <service> --region <region>/ },
  { name: "rotate --leaf without a region", argv: ["pki", "rotate", "--leaf", "payments"], env: "ci", names: /--region/, fix: /--region (eu|<)|give --region/ },
  { name: "an extra argument", argv: ["pki", "intermediate", "eu", "us"], env: "root", names: /unexpected argument "us"/, fix: /give one scope/ },
  { name: "an unknown task", argv: ["run", "renwe"], env: "ci", names: /unknown task "renwe" — did you mean "renew"\?/, fix: /run inforge tasks to list them/ },
  { name: "init on an initialised directory", argv: ["pki", "init", "--domain", "mesh.test"], env: "ci", names: /the pki directory is already initialised/, fix: /use inforge pki rotate --root/ },
  { name: "init writing the root identity into the pki directory", argv: ["pki", "init", "--domain", "mesh.test", "--identity-out", "@pki/root.key"], env: "ci", fresh: true, names: /--identity-out ".*pki\/root\.key" is inside the pki directory/, fix: /write it to removable media/ },
  { name: "a second planned rotation while one is under way", argv: ["pki", "rotate", "--intermediate", "eu"], env: "root", setup: async (c) => void (await ok(cli(["pki", "rotate", "--intermediate", "eu"], { ...sb.env({ INFORGE_PKI_ROOT_KEY: sb.rootKey }), INFORGE_PKI_DIR: c.dir, INFORGE_REGIONS_DIR: c.regions }))), names: /a rotation of "eu" is already under way: G2 is prepared/, fix: /run inforge pki renew --region eu in CI after/ },
  { name: "a pki directory that does not exist", argv: ["pki", "renew", "--dir", "@nowhere"], env: "ci", names: /no pki directory at .*nowhere/, fix: /run inforge pki init first, or point --dir/ },
];

/** A private copy of the tree and the regions for one row. */
function copyFor(c: Case): Copy {
  const dir = c.fresh ? join(mkdtempSync(join(sb.base, "fresh-")), "pki") : clone(sb);
  const regions = join(dir, "..", "regions");
  cpSync(sb.regions, regions, { recursive: true });
  const file = (rel: string) => join(dir, rel);
  const read = (rel: string) => readFileSync(file(rel), "utf8");
  const write = (rel: string, text: string | Buffer) => writeFileSync(file(rel), text);
  return { dir, regions, out: join(dir, "..", "root.key"), file, read, write, forge: (rel, text) => (write(rel, text), rechain(dir, [rel])) };
}

function envFor(c: Case, copy: Copy): Record<string, string | undefined> {
  const ids = { ci: { INFORGE_SECRETS_KEY: sb.ciKey }, root: { INFORGE_PKI_ROOT_KEY: sb.rootKey }, both: { INFORGE_SECRETS_KEY: sb.ciKey, INFORGE_PKI_ROOT_KEY: sb.rootKey }, none: {} }[c.env ?? "none"];
  const vars = Object.fromEntries(Object.entries(c.vars ?? {}).map(([k, v]) => [k, v?.startsWith("@") ? join(copy.dir, "..", v.slice(1)) : v]));
  return { ...sb.env(ids), INFORGE_PKI_DIR: copy.dir, INFORGE_REGIONS_DIR: copy.regions, ...vars };
}

const hashes = (copy: Copy) => `${treeHash(copy.dir)}|${treeHash(copy.regions)}|${existsSync(copy.out)}|${existsSync(copy.out + ".partial")}`;

test(`the corpus has at least 40 rows (${CASES.length})`, () => {
  assert.ok(CASES.length >= 40);
  assert.is(new Set(CASES.map((c) => c.name)).size, CASES.length, "two rows share a name");
});

let passed = 0;
for (const c of CASES) {
  test(`bad input — ${c.name}: one line naming it and the fix, exit ${c.code ?? 1}, nothing changed`, async () => {
    const copy = copyFor(c);
    await c.setup?.(copy);
    const before = hashes(copy);
    const argv = c.argv.map((a) => (a.startsWith("@") ? join(copy.dir, "..", a.slice(1)) : a));
    const r = await cli([...argv], envFor(c, copy));
    assert.is(r.code, c.code ?? 1, `exit code; stderr: ${r.err}`);
    assertOneLine(r.err, c.name);
    assert.match(r.err, /^inforge: /);
    assert.match(r.err, c.names, `the message must name the file, field or flag: ${r.err}`);
    assert.match(r.err, c.fix, `the message must say how to fix it: ${r.err}`);
    assert.not.match(r.err, /AGE-SECRET-KEY-1[0-9A-Z]{20}/, "a secret key was echoed");
    assert.is(hashes(copy), before, "the pki directory changed");
    if (existsSync(copy.dir) && !/plaintext private key/.test(c.name)) assertNoPlaintextKeys(copy.dir);
    passed++;
    if (process.env.INFORGE_SHOW_MESSAGES) console.log(`${c.name}\n    ${r.err.trim()}`);
  });
}

test.after(() => console.log(`bad-input corpus: ${CASES.length} rows, ${passed} passed`));
test.run();
