// Deno in the tests: the binary from the `deno` npm package, and the least permission flags that
// README "Runtimes" documents for the CLI and the shipped tasks, built for a sandbox.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { ROOT, type Sandbox } from "./helpers.ts";

export const DENO = join(ROOT, "node_modules/.bin/deno");

/** Every variable inforge reads (README "Runtimes" lists the same): nothing else is granted. */
export const DENO_ENV = ["CI", "INFORGE_PKI_ROOT_KEY", "INFORGE_SECRETS_KEY", "INFORGE_PKI_DIR", "INFORGE_REGIONS_DIR", "INFORGE_TASKS_DIR", "INFORGE_NOW", "INFORGE_ROOT_FINGERPRINT", "NO_COLOR", "TERM"];

export interface DenoGrant {
  /** Extra files deno may read (identity files outside the pki directory). */
  readonly read?: readonly string[];
  /** Extra files deno may write (`pki init --identity-out`). */
  readonly write?: readonly string[];
}

/**
 * The narrowest flags that work: read the pki and regions directories, inforge's own lib/ and
 * tasks/ (tasks are imported at run time), the operator's tasks/ and the identity files; write
 * only the pki directory; the variables above; the host name (the lock file records its holder).
 */
export function leastFlags(sb: Sandbox, g: DenoGrant = {}): string[] {
  const read = [sb.dir, sb.regions, join(sb.base, "tasks"), join(ROOT, "lib"), join(ROOT, "tasks"), ...(g.read ?? [])];
  const write = [sb.dir, ...(g.write ?? [])];
  return ["--no-prompt", `--allow-read=${read.join(",")}`, `--allow-write=${write.join(",")}`, `--allow-env=${DENO_ENV.join(",")}`, "--allow-sys=hostname"];
}

export interface Ran {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** `deno run <flags> <script> <args>` in the sandbox, with exactly the environment given. */
export function denoRun(flags: readonly string[], script: string, args: readonly string[], env: Record<string, string | undefined>, cwd: string): Ran {
  const clean = Object.fromEntries(Object.entries({ ...env, PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: "1" }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  // No terminal here: root-posture runs need --yes (lib/term/confirm.ts); given once, for every run
  // of a task file or of `inforge pki …` / `inforge run …` (other commands take it too).
  const yes = args.includes("--help") ? [] : ["--yes"];
  const r = spawnSync(DENO, ["run", ...flags, script, ...args, ...yes], { cwd, env: clean, encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout ?? "", err: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
}

export function mustRun(r: Ran, what: string): Ran {
  if (r.code !== 0) throw new Error(`${what} failed under deno (exit ${r.code}):\n${r.err}\n${r.out}`);
  return r;
}

/** A clear failure instead of a confusing one when `npm ci` did not install the binary. */
export function assertDenoInstalled(): void {
  if (!existsSync(DENO)) throw new Error(`${DENO} is missing: run npm ci (deno is a devDependency that ships its binary through npm)`);
}

/** The leaves of a scope with the generation that signed each, from leaves/<scope>/index.json. */
export function leavesOf(dir: string, scope: string): { service: string; gen: number }[] {
  const idx = JSON.parse(readFileSync(join(dir, "leaves", scope, "index.json"), "utf8")) as { leaves: Record<string, { gen: number }> };
  return Object.entries(idx.leaves).map(([service, l]) => ({ service, gen: l.gen }));
}

export interface DenoResult {
  readonly ok: boolean;
  readonly anchors: number;
  readonly greeting?: string;
  readonly error?: string;
}

/** A node:tls server with `server`'s chain; the Deno client trusts only `bundle` and checks `servername`. */
export async function denoHandshake(server: { cert: string; key: string }, servername: string, bundle: string): Promise<DenoResult> {
  const srv = tls.createServer({ cert: server.cert, key: server.key }, (sock) => sock.end("hello from node"));
  srv.on("tlsClientError", () => {}); // the refusals below are expected
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  try {
    const child = spawn(DENO, ["run", "--no-prompt", `--allow-net=127.0.0.1:${port}`, `--allow-read=${bundle}`, join(ROOT, "test/deno/tls-client.ts"), String(port), servername, bundle], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: "1" },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b));
    child.stderr.on("data", (b: Buffer) => (err += b));
    const code = await new Promise<number | null>((r) => child.on("close", r));
    if (code !== 0) throw new Error(`the deno client exited ${code}: ${err}`);
    return JSON.parse(out) as DenoResult;
  } finally {
    srv.close();
  }
}
