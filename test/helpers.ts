// Shared test helpers: throwaway pki directories, the CLI in-process and as a real process,
// real verifiers (openssl, age), and a byte-level fingerprint of a directory.
import "reflect-metadata";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { main, explain } from "../lib/cli/main.ts";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface Sandbox {
  readonly base: string;
  readonly dir: string; // the pki dir
  readonly regions: string;
  readonly ciKey: string; // identity file path
  rootKey: string; // identity file path (written by init)
  env(extra?: Record<string, string | undefined>): Record<string, string | undefined>;
}

// Every temp dir a test makes goes through tempDir, and is removed when the process exits —
// also when a test failed or forgot its own cleanup (a full run once left 33 dirs and 107 age
// identities behind). Tests may still remove theirs earlier.
const made = new Set<string>();
let hooked = false;

/** Remove a tree even where a test took the permissions away (chmod 000 dirs in fault tests). */
function removeTree(p: string): void {
  try {
    rmSync(p, { recursive: true, force: true });
  } catch {
    const open = (d: string) => {
      try {
        if (!lstatSync(d).isDirectory()) return;
        chmodSync(d, 0o700);
        for (const n of readdirSync(d)) open(join(d, n));
      } catch {
        // gone, or not ours to open: rmSync below says so if it matters
      }
    };
    open(p);
    rmSync(p, { recursive: true, force: true });
  }
}

/** A fresh directory under the system temp dir, removed at process exit. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  if (!hooked) {
    hooked = true;
    process.on("exit", () => {
      for (const d of made) {
        try {
          removeTree(d);
        } catch (e) {
          process.stderr.write(`test cleanup: could not remove ${d}: ${(e as Error).message}\n`);
        }
      }
    });
  }
  return dir;
}

/** A temp dir with a fresh CI identity (made by age-keygen) and a copy of the example regions. */
export function sandbox(regions?: Record<string, string[]>): Sandbox {
  const base = tempDir("inforge-test-");
  const ciKey = join(base, "ci.key");
  run("age-keygen", ["-o", ciKey]);
  const regionsDir = join(base, "regions");
  if (regions) {
    mkdirSync(regionsDir);
    for (const [name, services] of Object.entries(regions)) writeFileSync(join(regionsDir, `${name}.json`), JSON.stringify({ name, services }));
  } else cpSync(join(ROOT, "regions"), regionsDir, { recursive: true });
  const sb: Sandbox = {
    base,
    dir: join(base, "pki"),
    regions: regionsDir,
    ciKey,
    rootKey: join(base, "root.key"),
    env(extra = {}) {
      const env: Record<string, string | undefined> = { ...process.env, CI: undefined, INFORGE_NOW: undefined, INFORGE_PKI_ROOT_KEY: undefined, INFORGE_SECRETS_KEY: undefined };
      Object.assign(env, { INFORGE_PKI_DIR: sb.dir, INFORGE_REGIONS_DIR: sb.regions, NO_COLOR: "1" }, extra);
      return env;
    },
  };
  return sb;
}

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Run the CLI in this process (fast), capturing what it prints. */
export async function cli(argv: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  let out = "";
  let err = "";
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  let code: number;
  try {
    // Tests have no terminal: root-posture runs need --yes (lib/term/confirm.ts), given here once.
    code = await main(argv[0] === "pki" || argv[0] === "run" ? [...argv, "--yes"] : argv, env);
  } catch (x) {
    code = explain(x, argv.includes("--json"));
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
  return { code, out, err };
}

/** The root-posture and CI-posture environments of a sandbox. */
export const rootEnv = (sb: Sandbox, extra = {}) => sb.env({ INFORGE_PKI_ROOT_KEY: sb.rootKey, ...extra });
export const ciEnv = (sb: Sandbox, extra = {}) => sb.env({ INFORGE_SECRETS_KEY: sb.ciKey, ...extra });

/** init + global + the given regions + renew, as an operator would, returning the sandbox. */
export async function buildTree(sb: Sandbox, scopes = ["global", "eu", "us"], at?: string, initFlags: string[] = []): Promise<void> {
  const when = at ? ["--at", at] : [];
  await ok(cli(["pki", "init", "--domain", "mesh.test", "--identity-out", sb.rootKey, ...initFlags, ...when], ciEnv(sb)));
  for (const s of scopes) await ok(cli(["pki", "intermediate", s, ...when], rootEnv(sb)));
  await ok(cli(["pki", "renew", ...when], ciEnv(sb)));
}

export async function ok(p: Promise<CliResult> | CliResult): Promise<CliResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${r.err}\n${r.out}`);
  return r;
}

export function run(cmd: string, args: string[], opts: { input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: "utf8", ...opts });
}

/** `openssl verify …`: true when openssl accepts the chain. */
export function opensslVerify(args: string[]): { ok: boolean; out: string } {
  const r = run("openssl", ["verify", ...args]);
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

/** Every file under `dir` with its mode and bytes, hashed: equal hashes mean byte-identical trees. */
export function treeHash(dir: string, filter: (rel: string) => boolean = () => true): string {
  const h = createHash("sha256");
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      const rel = relative(dir, p);
      if (st.isDirectory()) walk(p);
      else if (filter(rel)) h.update(`${rel}\0${st.mode}\0`).update(readFileSync(p)).update("\0");
    }
  };
  try {
    walk(dir);
  } catch {
    h.update("<missing>");
  }
  return h.digest("hex");
}

export function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

/**
 * A leaf's private key as deploy would take it: the scope's leaves/<scope>/keys.age opened with
 * the age CLI and the CI identity, the service's entry checked against its certificate's serial.
 */
export function leafKeyPem(sb: Sandbox, scope: string, svc: string): string {
  const r = run("age", ["-d", "-i", sb.ciKey, join(sb.dir, "leaves", scope, "keys.age")]);
  if (r.status !== 0) throw new Error(`age could not open leaves/${scope}/keys.age: ${r.stderr}`);
  const e = (JSON.parse(r.stdout) as { keys: Record<string, { serial: string; key: string }> }).keys[svc];
  if (!e) throw new Error(`leaves/${scope}/keys.age has no key for ${svc}`);
  const serial = run("openssl", ["x509", "-noout", "-serial", "-in", join(sb.dir, "leaves", scope, `${svc}.crt.pem`)]).stdout.trim().replace(/^serial=/, "");
  if (BigInt("0x" + e.serial) !== BigInt("0x" + serial)) throw new Error(`leaves/${scope}/keys.age holds the key of serial ${e.serial} for ${svc}, whose certificate has serial ${serial}`);
  return e.key;
}

/** No plaintext private key anywhere under the pki directory. */
export function plaintextKeys(dir: string): string[] {
  return files(dir).filter((f) => /PRIVATE KEY|AGE-SECRET-KEY/.test(readFileSync(join(dir, f), "latin1")));
}
