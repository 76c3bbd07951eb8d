// A self-contained demo of the main job, driven the way an operator's zx automation would:
// fresh identities in a throwaway directory, a root, global + two regions, leaves, a planned
// intermediate rotation walked through its states with a simulated clock, then status.
//   npm run demo            (keeps the directory and prints where it is)
import { $, fs, path, os } from "zx";
import "reflect-metadata";
import { generateIdentity, identityFileText } from "../lib/age/mod.ts";

const repo = path.join(import.meta.dirname, "..");
const base = await fs.mkdtemp(path.join(os.tmpdir(), "inforge-demo-"));
const ciKey = path.join(base, "ci.key");
const rootKey = path.join(base, "root.key");
const ciIdentity = await generateIdentity();
await fs.writeFile(ciKey, identityFileText(ciIdentity), { mode: 0o600 });
await fs.cp(path.join(repo, "regions"), path.join(base, "regions"), { recursive: true });

$.verbose = false;
$.cwd = base;
$.env = { ...process.env, INFORGE_PKI_DIR: path.join(base, "pki"), INFORGE_REGIONS_DIR: path.join(base, "regions"), FORCE_COLOR: "0" };
delete $.env.CI;
const inforge = path.join(repo, "bin/inforge.js");

const t0 = Date.now();
const at = (hours: number) => new Date(t0 + hours * 3_600_000).toISOString().replace(/\.\d+Z$/, "Z");

// "offline": pki init on the offline workstation, which holds no identity yet — init makes the
// root identity and needs only the CI *recipient* (public), never the CI secret.
async function step(title: string, posture: "root" | "ci" | "offline", args: string[]) {
  const env = posture === "root" ? { INFORGE_PKI_ROOT_KEY: rootKey } : posture === "ci" ? { INFORGE_SECRETS_KEY: ciKey } : {};
  // The demo runs without a terminal to ask on: a root ceremony needs --yes (the plan is still printed).
  if (args[0] === "pki" && args[1] !== "status") args = [...args, "--yes"];
  const b = process.stdout.isTTY && !process.env.NO_COLOR ? (s: string) => `\x1b[1m${s}\x1b[0m` : (s: string) => s;
  const label = posture === "offline" ? "root posture: offline workstation, no identity yet" : `${posture} posture`;
  console.log(`\n${b(`# ${title}`)}  [${label}]\n$ inforge ${args.join(" ")}`);
  const r = await $({ env: { ...$.env, ...env }, nothrow: true })`node ${inforge} ${args}`;
  process.stdout.write(r.stdout);
  if (r.exitCode !== 0) {
    process.stderr.write(r.stderr);
    throw new Error(`demo step failed: inforge ${args.join(" ")}`);
  }
}

console.log(`demo directory: ${base}`);
await step("create the offline root; CI's public recipient is all it needs of CI", "offline", ["pki", "init", "--domain", "mesh.example.internal", "--ci-recipient", ciIdentity.recipient, "--identity-out", rootKey, "--at", at(0)]);
for (const s of ["global", "eu", "us"]) await step(`add scope ${s}`, "root", ["pki", "intermediate", s, "--at", at(0)]);
await step("mint every service's leaf", "ci", ["pki", "renew", "--at", at(0)]);
await step("planned rotation of eu's intermediate: G2 is prepared and published first", "root", ["pki", "rotate", "--intermediate", "eu", "--at", at(1)]);
await step("25 hours later, CI promotes G2 and re-issues eu's leaves", "ci", ["pki", "renew", "--region", "eu", "--at", at(26)]);
await step("the tree now", "ci", ["pki", "status", "--at", at(26)]);

const bundles = path.join(base, "pki", "bundles");
console.log(`\nbundles: ${(await fs.readdir(bundles)).join(", ")}`);
const attime = String(Math.floor(Date.parse(at(26)) / 1000));
const v = await $({ nothrow: true })`openssl verify -attime ${attime} -partial_chain -CAfile ${path.join(bundles, "eu.pem")} ${path.join(base, "pki/leaves/eu/payments.crt.pem")}`;
console.log(`openssl verify of eu/payments against bundles/eu.pem: ${v.stdout.trim() || v.stderr.trim()}`);
console.log(`\ndone; look around in ${base} (root identity: ${rootKey}, CI identity: ${ciKey})`);
