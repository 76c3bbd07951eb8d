// Fleet-scale benchmark: builds a synthetic fleet in a temp dir and measures, side by side in one
// run, what CI and operators do to it. Prints a table, then ONE JSON line (always the last line)
// so runs can be compared over time.
//
//   npm run bench                         20 regions × 500 services = 10,000 leaves
//   npm run bench -- --leaves 2000        another fleet size (spread over --regions, default 20)
//   npm run bench -- --scale              also renew at 1k / 10k / 50k / 100k leaves, with peak RSS (slow: minutes)
//   npm run bench -- --git-days N         days of daily CI renewals simulated in git for git_mb_per_year (default 30; --no-git skips)
//   npm run bench -- --quick              small and fast (the smoke test in npm test uses it)
//   npm run bench -- --concurrency 8      in-flight crypto operations (default: the CLI's)
//   npm run bench -- --no-build           measure without building the prebuilt CLI first
//   npm run bench -- --renew-runs N       full renewals timed, each on a copy of the fleet (default 3; the median is the figure)
//
// Every CLI measurement is a child process (`node bin/inforge.js …`), wall time including
// process start, with its peak RSS read from the child itself (process.resourceUsage().maxRSS,
// written at exit by a preload module). The reference loops (raw crypto ceiling, the plain
// @peculiar/x509 loop) run in child processes too, with the same environment.
import "reflect-metadata";
import { spawn, spawnSync } from "node:child_process";
import { generateKeyPair as nodeKeyPair, sign as nodeSign } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { generateIdentity, identityFileText, open as openSealed, parseIdentity } from "../lib/age/mod.ts";
import * as X from "../lib/x509/mod.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(ROOT, "bin/inforge.js");
const DOMAIN = "bench.test";
const DAY = 86_400_000;

// ---- arguments ---------------------------------------------------------------------------------

interface Opts {
  leaves: number;
  regions: number;
  concurrency: number | null;
  quick: boolean;
  build: boolean;
  scale: boolean;
  keep: boolean;
  /** Full renewals timed, each on its own copy of the fleet; the median is reported. */
  renewRuns: number;
  opensslLeaves: number;
  /** Days of daily CI renewals simulated in git for git_mb_per_year (0: skip). */
  gitDays: number;
  worker: string | null;
}

function parseOpts(argv: string[]): Opts {
  const o: Opts = { leaves: 10_000, regions: 20, concurrency: null, quick: false, build: true, scale: false, keep: false, renewRuns: 3, opensslLeaves: 200, gitDays: 30, worker: null };
  const num = (i: number, name: string) => {
    const n = Number(argv[i]);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} needs a positive integer, got "${argv[i] ?? ""}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--leaves") o.leaves = num(++i, "leaves");
    else if (a === "--regions") o.regions = num(++i, "regions");
    else if (a === "--concurrency") o.concurrency = num(++i, "concurrency");
    else if (a === "--openssl-leaves") o.opensslLeaves = num(++i, "openssl-leaves");
    else if (a === "--git-days") o.gitDays = num(++i, "git-days");
    else if (a === "--no-git") o.gitDays = 0;
    else if (a === "--quick") o.quick = true;
    else if (a === "--no-build") o.build = false;
    else if (a === "--scale") o.scale = true;
    else if (a === "--keep") o.keep = true;
    else if (a === "--renew-runs") o.renewRuns = num(++i, "renew-runs");
    else if (a === "--worker") o.worker = argv[++i] ?? null;
    else if (a === "--n") o.leaves = num(++i, "n");
    else throw new Error(`unknown flag "${a}" (flags: --leaves N --regions N --concurrency N --openssl-leaves N --git-days N --no-git --renew-runs N --quick --scale --keep --no-build)`);
  }
  if (o.quick) o.opensslLeaves = Math.min(o.opensslLeaves, 5);
  if (o.quick) o.gitDays = Math.min(o.gitDays, 12);
  o.regions = Math.max(1, Math.min(o.regions, o.leaves));
  return o;
}

// ---- reference loops (run as child workers) ----------------------------------------------------

async function pool(n: number, c: number, f: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(c, n) }, async () => {
    while (next < n) await f(next++);
  }));
}

/** Raw crypto: node:crypto P-256 keygen + one ECDSA signature per leaf, `c` in flight. */
async function ceilingWorker(n: number, c: number): Promise<number> {
  const gen = promisify(nodeKeyPair);
  const sign = promisify(nodeSign);
  const tbs = new Uint8Array(450); // about a leaf's TBSCertificate
  const t = performance.now();
  await pool(n, c, async () => {
    const { privateKey } = await gen("ec", { namedCurve: "P-256" });
    await sign("sha256", tbs, { key: privateKey, dsaEncoding: "ieee-p1363" });
  });
  return n / ((performance.now() - t) / 1000);
}

/** The straightforward loop: keygen + @peculiar/x509 certificate (six extensions) + PEM + PKCS#8, one at a time. */
async function naiveWorker(n: number): Promise<number> {
  const now = Date.now();
  const rootKey = await X.generateKeyPair();
  const nb = new Date(now - 60_000);
  const root = await X.createRoot({ key: rootKey, commonName: "bench root", notBefore: nb, notAfter: new Date(now + 30 * DAY) });
  const intKey = await X.generateKeyPair();
  const int = await X.createIntermediate({
    publicKey: intKey.publicKey, issuer: { certPem: root.pem, signer: X.keySigner(rootKey) }, commonName: "bench r01 intermediate",
    notBefore: nb, notAfter: new Date(now + 20 * DAY), permittedDns: [`r01.${DOMAIN}`], permittedUriHosts: [`r01.${DOMAIN}`],
  });
  const issuer = { certPem: int.pem, signer: X.keySigner(intKey) };
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    const key = await X.generateKeyPair();
    const name = `s${i}.r01.${DOMAIN}`;
    await X.createLeaf({ publicKey: key.publicKey, issuer, commonName: name, notBefore: nb, notAfter: new Date(now + 7 * DAY), dns: [name], uris: [`spiffe://r01.${DOMAIN}/svc/s${i}`] });
    await X.exportPrivateKeyPem(key);
  }
  return n / ((performance.now() - t) / 1000);
}

// ---- child processes -----------------------------------------------------------------------------

interface Ran {
  code: number;
  ms: number;
  rssMb: number | null;
  out: string;
  err: string;
}

let probeFile = "";

/** Run a child to completion; wall time from spawn to exit, peak RSS as the child saw it. */
function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, probe = true): Promise<Ran> {
  const rssOut = join(tmpdir(), `inforge-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const full = probe && cmd === process.execPath ? ["--import", pathToFileURL(probeFile).href, ...args] : args;
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(cmd, full, { env: { ...env, BENCH_RSS_OUT: rssOut }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - t;
      let rssMb: number | null = null;
      if (existsSync(rssOut)) {
        rssMb = Number(readFileSync(rssOut, "utf8")) / 1024; // maxRSS is in kilobytes
        rmSync(rssOut, { force: true });
      }
      resolve({ code: code ?? 1, ms, rssMb, out, err });
    });
  });
}

function must(r: Ran, what: string): Ran {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.err.slice(-3000)}\n${r.out.slice(-2000)}`);
  return r;
}

// ---- the fleet -------------------------------------------------------------------------------------

interface Fleet {
  base: string;
  dir: string;
  regionsDir: string;
  ciKey: string;
  rootKey: string;
  regions: string[];
  leaves: number;
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
}

const regionName = (i: number) => `r${String(i + 1).padStart(2, "0")}`;

async function makeFleet(leaves: number, regionCount: number): Promise<Fleet> {
  const base = mkdtempSync(join(tmpdir(), "inforge-bench-"));
  const ci = await generateIdentity();
  const ciKey = join(base, "ci.key");
  writeFileSync(ciKey, identityFileText(ci), { mode: 0o600 });
  const regionsDir = join(base, "regions");
  mkdirSync(regionsDir);
  const regions = Array.from({ length: regionCount }, (_, i) => regionName(i));
  let k = 0;
  regions.forEach((r, i) => {
    // Spread the leaves evenly; the first regions take the remainder.
    const n = Math.floor(leaves / regionCount) + (i < leaves % regionCount ? 1 : 0);
    const services = Array.from({ length: n }, () => `svc-${String(++k).padStart(6, "0")}`);
    writeFileSync(join(regionsDir, `${r}.json`), JSON.stringify({ name: r, services }));
  });
  const fleet: Fleet = {
    base, dir: join(base, "pki"), regionsDir, ciKey, rootKey: join(base, "root.key"), regions, leaves,
    env(extra = {}) {
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const k of ["CI", "INFORGE_NOW", "INFORGE_PKI_ROOT_KEY", "INFORGE_SECRETS_KEY"]) delete env[k];
      return { ...env, INFORGE_PKI_DIR: fleet.dir, INFORGE_REGIONS_DIR: regionsDir, NO_COLOR: "1", ...extra };
    },
  };
  // init + one intermediate per region, in this process through the CLI's own entry (fast, and
  // exactly what an operator's commands do).
  const { main, explain } = await import("../lib/cli/main.ts");
  const quiet = async (argv: string[], env: NodeJS.ProcessEnv) => {
    const [w, ew] = [process.stdout.write, process.stderr.write];
    let out = "";
    const sink = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
    process.stdout.write = sink;
    process.stderr.write = sink;
    let code: number;
    try {
      code = await main(argv[0] === "pki" && argv[1] !== "status" ? [...argv, "--yes"] : argv, env); // no terminal: root ceremonies need --yes
    } catch (e) {
      code = explain(e);
    } finally {
      process.stdout.write = w;
      process.stderr.write = ew;
    }
    if (code !== 0) throw new Error(`setup: inforge ${argv.join(" ")} failed (${code}): ${out.slice(-2000)}`);
  };
  const env = fleet.env();
  await quiet(["pki", "init", "--domain", DOMAIN, "--name", "bench", "--identity-out", fleet.rootKey], { ...env, INFORGE_SECRETS_KEY: ciKey });
  for (const r of regions) await quiet(["pki", "intermediate", r], { ...env, INFORGE_PKI_ROOT_KEY: fleet.rootKey });
  return fleet;
}

// ---- measurements --------------------------------------------------------------------------------

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

interface CliCaps {
  concurrency: boolean;
  verify: boolean;
}

function cliCaps(env: NodeJS.ProcessEnv): CliCaps {
  const help = spawnSync(process.execPath, [BIN, "--help"], { env, encoding: "utf8" }).stdout ?? "";
  return { concurrency: help.includes("--concurrency"), verify: /pki verify/.test(help) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** `inforge --help` (as bin/ runs it: the prebuilt CLI when current), the same from the sources, and bare node. */
async function coldStart(runs: number, small: Fleet): Promise<{ inforge: number; sources: number; node: number; status: number; statusSources: number }> {
  const env = { ...process.env, NO_COLOR: "1" };
  // `pki status` on a small tree (issue 16: cold start), read with the CI identity as CI would.
  const sEnv = small.env({ INFORGE_SECRETS_KEY: small.ciKey });
  const [a, s, b, st, sts] = [[], [], [], [], []] as [number[], number[], number[], number[], number[]];
  for (let i = 0; i < runs; i++) {
    b.push(must(await runChild(process.execPath, ["-e", "0"], env, false), "node -e 0").ms);
    a.push(must(await runChild(process.execPath, [BIN, "--help"], env, false), "inforge --help").ms);
    s.push(must(await runChild(process.execPath, [BIN, "--help"], { ...env, INFORGE_NO_BUNDLE: "1" }, false), "inforge --help (sources)").ms);
    st.push(must(await runChild(process.execPath, [BIN, "pki", "status"], sEnv, false), "inforge pki status").ms);
    sts.push(must(await runChild(process.execPath, [BIN, "pki", "status"], { ...sEnv, INFORGE_NO_BUNDLE: "1" }, false), "inforge pki status (sources)").ms);
  }
  return { inforge: median(a), sources: median(s), node: median(b), status: median(st), statusSources: median(sts) };
}

/** The operator's alternative: a shell loop minting leaves with openssl (and sealing keys with age). */
async function opensslLoop(f: Fleet, n: number): Promise<{ perS: number; verified: boolean } | null> {
  if (spawnSync("openssl", ["version"]).status !== 0 || spawnSync("age", ["--version"]).status !== 0) return null;
  const work = join(f.base, "openssl-loop");
  mkdirSync(work);
  const region = f.regions[0]!;
  // The loop needs the intermediate's key in the clear, as an operator's script would.
  const ci = await parseIdentity(readFileSync(f.ciKey, "utf8"), "ci.key");
  const keyPem = await openSealed(readFileSync(join(f.dir, `scopes/${region}/G1.key.age`), "utf8"), ci, "intermediate key");
  writeFileSync(join(work, "ca.key"), keyPem, { mode: 0o600 });
  const script = `
set -eu
cd "$W"
for i in $(seq 1 "$N"); do
  s="svc-$i"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$s.key" -subj "/CN=$s.$R.$D" -out "$s.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:false\\nkeyUsage=critical,digitalSignature\\nextendedKeyUsage=serverAuth,clientAuth\\nsubjectAltName=DNS:%s.%s.%s,URI:spiffe://%s.%s/svc/%s\\nsubjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\n' "$s" "$R" "$D" "$R" "$D" "$s" > "$s.cnf"
  openssl x509 -req -in "$s.csr" -CA "$CA" -CAkey ca.key -days 7 -sha256 -extfile "$s.cnf" -out "$s.crt.pem" 2>/dev/null
  age -r "$AR" -a -o "$s.key.age" "$s.key"
  rm -f "$s.key" "$s.csr" "$s.cnf"
done
`;
  const env = { ...process.env, W: work, N: String(n), R: region, D: DOMAIN, CA: join(f.dir, `scopes/${region}/G1.crt.pem`), AR: ci.recipient };
  const r = must(await runChild("bash", ["-c", script], env, false), "openssl loop");
  const v = spawnSync("openssl", ["verify", "-partial_chain", "-CAfile", join(f.dir, `bundles/${region}.pem`), join(work, "svc-1.crt.pem")], { encoding: "utf8" });
  rmSync(join(work, "ca.key"), { force: true });
  return { perS: n / (r.ms / 1000), verified: v.status === 0 };
}

async function worker(kind: string, n: number, c: number, env: NodeJS.ProcessEnv): Promise<number> {
  const r = must(await runChild(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--worker", kind, "--n", String(n), "--concurrency", String(c)], env, false), `${kind} worker`);
  return Number(r.out.trim().split("\n").at(-1));
}

/** Fresh fleet of `leaves`, then the first renew (mints every leaf); returns leaves per second. */
async function mintRate(leaves: number, regions: number, conc: string[]): Promise<{ perS: number; rssMb: number | null }> {
  const f = await makeFleet(leaves, regions);
  try {
    const r = must(await runChild(process.execPath, [BIN, "pki", "renew", ...conc], f.env({ INFORGE_SECRETS_KEY: f.ciKey })), `renew of ${leaves}`);
    return { perS: leaves / (r.ms / 1000), rssMb: r.rssMb };
  } finally {
    rmSync(f.base, { recursive: true, force: true });
  }
}

/** Bytes of every journal (journal/pki.jsonl and journal/scopes/*.jsonl). */
function journalBytes(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".jsonl")) n += statSync(p).size;
    }
  };
  if (existsSync(join(dir, "journal"))) walk(join(dir, "journal"));
  return n;
}

interface Footprint {
  days: number;
  renewals: number;
  /** MB a year in .git after git gc: everything committed (the default layout). */
  committedMbPerYear: number;
  /** The same with the leaf certificates and key files not committed (README: the layout for large fleets). */
  shippedMbPerYear: number;
  journalKbPerYear: number;
  seconds: number;
}

/**
 * A year of daily CI renewals in git, scaled: `days` daily `pki renew` runs at the fleet's default
 * lifetimes (7-day leaves renewed at two thirds of their life), each followed by a commit when it
 * changed anything, then `git gc`; the growth of .git over those days × 365 / days. Two
 * repositories watch the same pki directory: one commits everything, one leaves out
 * leaves/<scope>/*.crt.pem and keys.age (info/exclude), the layout where CI ships the leaves it
 * mints in the same job and the repo keeps the index, serials and digests.
 */
async function gitFootprint(f: Fleet, days: number, start: number): Promise<Footprint | null> {
  if (spawnSync("git", ["--version"]).status !== 0) return null;
  const t = performance.now();
  const repos = { committed: join(f.base, "git-committed"), shipped: join(f.base, "git-shipped") };
  const env = { ...process.env, GIT_AUTHOR_NAME: "bench", GIT_AUTHOR_EMAIL: "bench@example.test", GIT_COMMITTER_NAME: "bench", GIT_COMMITTER_EMAIL: "bench@example.test" };
  const git = (repo: string, args: string[]) => {
    // No automatic gc (it detaches and races the measured one): one explicit gc before and after.
    const r = spawnSync("git", ["-c", "gc.auto=0", `--git-dir=${repo}`, `--work-tree=${f.dir}`, ...args], { encoding: "utf8", env, maxBuffer: 1 << 30 });
    if (r.status !== 0 && args[0] !== "diff") throw new Error(`git ${args.join(" ")} failed: ${r.stderr}`);
    return r;
  };
  /** .git's size in bytes after git gc (packs plus anything loose). */
  const size = (repo: string) => {
    git(repo, ["gc", "--quiet"]);
    const kv = Object.fromEntries(git(repo, ["count-objects", "-v"]).stdout.trim().split("\n").map((l) => l.split(": ")));
    return (Number(kv["size-pack"]) + Number(kv["size"])) * 1024;
  };
  const commit = (repo: string, msg: string) => {
    git(repo, ["add", "--all"]);
    if (git(repo, ["diff", "--cached", "--quiet"]).status !== 0) git(repo, ["commit", "--quiet", "-m", msg]);
  };
  for (const repo of Object.values(repos)) git(repo, ["init", "--quiet"]);
  writeFileSync(join(repos.shipped, "info/exclude"), "leaves/*/*.crt.pem\nleaves/*/keys.age\n");
  for (const repo of Object.values(repos)) commit(repo, "start");
  const before = { committed: size(repos.committed), shipped: size(repos.shipped), journal: journalBytes(f.dir) };
  let renewals = 0;
  const ci = f.env({ INFORGE_SECRETS_KEY: f.ciKey });
  for (let d = 1; d <= days; d++) {
    const r = must(await runChild(process.execPath, [BIN, "pki", "renew", "--at", iso(start + d * DAY)], ci, false), `renew on day ${d}`);
    if (/nothing to do/.test(r.out)) continue;
    renewals++;
    for (const repo of Object.values(repos)) commit(repo, `day ${d}`);
  }
  const year = 365 / days;
  const mb = (a: number, b: number) => ((b - a) * year) / 1e6;
  return {
    days, renewals,
    committedMbPerYear: mb(before.committed, size(repos.committed)),
    shippedMbPerYear: mb(before.shipped, size(repos.shipped)),
    journalKbPerYear: ((journalBytes(f.dir) - before.journal) * year) / 1e3,
    seconds: (performance.now() - t) / 1000,
  };
}

// ---- main ------------------------------------------------------------------------------------------

async function bench(o: Opts): Promise<void> {
  const log = (s: string) => process.stderr.write(s + "\n");
  const probeDir = mkdtempSync(join(tmpdir(), "inforge-bench-probe-"));
  probeFile = join(probeDir, "rss-probe.mjs");
  writeFileSync(probeFile, `import { writeFileSync } from "node:fs";\nprocess.on("exit", () => { if (process.env.BENCH_RSS_OUT) writeFileSync(process.env.BENCH_RSS_OUT, String(process.resourceUsage().maxRSS)); });\n`);

  const notes: string[] = [];
  // Every child gets the thread pool size bin/inforge.js gives the CLI, so the reference loops
  // run with the same crypto threads as the renewals they are compared with.
  process.env.UV_THREADPOOL_SIZE ??= "16";
  let bundled = false;
  if (o.build) {
    log("building the prebuilt CLI (npm run build)…");
    const { buildCli } = await import("./build.ts");
    await buildCli();
    bundled = true;
  } else notes.push("--no-build: the CLI runs from the prebuilt bundle only if dist/ is current, otherwise from the sources through tsx");
  log(`building a fleet of ${o.leaves} leaves in ${o.regions} region(s)…`);
  const t0 = performance.now();
  const f = await makeFleet(o.leaves, o.regions);
  log(`  ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${f.base}`);
  const caps = cliCaps(f.env());
  const { DEFAULT_CONCURRENCY } = (await import("../lib/apply/apply.ts")) as { DEFAULT_CONCURRENCY?: number };
  const conc = o.concurrency ?? DEFAULT_CONCURRENCY ?? 1;
  const concFlag = caps.concurrency && o.concurrency ? ["--concurrency", String(o.concurrency)] : [];
  if (!caps.concurrency) notes.push("this CLI has no --concurrency: it issues leaves one at a time");
  const ci = f.env({ INFORGE_SECRETS_KEY: f.ciKey });
  const now = Date.now();
  // The clock for the later runs: every leaf minted now is past its renewal point (2/3 of 7 days).
  const t1 = iso(now + 5 * DAY);
  const t2 = iso(now + 10 * DAY);

  log("first renew: mint every leaf…");
  const mint = must(await runChild(process.execPath, [BIN, "pki", "renew", ...concFlag], ci), "first renew");
  // One full renewal moves by ±10 % on a shared VM from run to run: it is timed `renewRuns` times,
  // each on its own copy of the fleet as the first renew left it, and the median is the figure.
  const runs = o.quick ? 1 : o.renewRuns;
  log(`full renew: every leaf due (${runs} run${runs > 1 ? "s, each on a copy of the fleet" : ""})…`);
  const copies = Array.from({ length: runs - 1 }, (_, i) => {
    const dir = join(f.base, `pki-copy-${i + 1}`);
    cpSync(f.dir, dir, { recursive: true });
    return dir;
  });
  const renewOn = (dir: string) => runChild(process.execPath, [BIN, "pki", "renew", "--at", t1, ...concFlag], { ...ci, INFORGE_PKI_DIR: dir, INFORGE_TIMINGS: "1" });
  const samples: Ran[] = [];
  for (const dir of copies) {
    samples.push(must(await renewOn(dir), "full renew (a copy)"));
    rmSync(dir, { recursive: true, force: true });
  }
  const journalBefore = journalBytes(f.dir);
  samples.push(must(await renewOn(f.dir), "full renew"));
  const journalPerRenew = journalBytes(f.dir) - journalBefore;
  const renew = [...samples].sort((a, b) => a.ms - b.ms)[samples.length >> 1]!;
  // Where the median renewal's time went (INFORGE_TIMINGS lines on its stderr).
  const breakdown: Record<string, number> = {};
  for (const m of renew.err.matchAll(/inforge timing: ([a-z +]+) (\d+) ms(?: \(([^)]*)\))?/g)) {
    if (m[3]) for (const p of m[3].matchAll(/([a-z]+) (\d+) ms/g)) breakdown[p[1]!] = Number(p[2]);
    else breakdown[m[1]!.replace(/[ +]/g, "_")] = Number(m[2]);
  }
  log("no-op renew…");
  const noop = must(await runChild(process.execPath, [BIN, "pki", "renew", "--at", t1], ci), "no-op renew");
  if (!/nothing to do/.test(noop.out)) notes.push("the no-op renew was not a no-op");
  log("status…");
  const status = must(await runChild(process.execPath, [BIN, "pki", "status", "--at", t1], ci), "status");
  let verify: Ran | null = null;
  if (caps.verify) {
    log("verify…");
    verify = await runChild(process.execPath, [BIN, "pki", "verify", "--at", t1], ci);
    if (verify.code !== 0) notes.push(`pki verify exited ${verify.code}: ${verify.err.trim().split("\n")[0] ?? ""}`);
  } else notes.push("pki verify does not exist in this tree yet: verify_s is null");

  log("two regions renewed by two processes at once…");
  let parallel: { wallS: number; eachS: number[]; ok: boolean; journals: string[] } | null = null;
  if (f.regions.length >= 2) {
    const [a, b] = [f.regions[0]!, f.regions[1]!];
    const t = performance.now();
    const runs = await Promise.all([a, b].map((r) => runChild(process.execPath, [BIN, "pki", "renew", "--region", r, "--at", t2, ...concFlag], ci)));
    const wall = performance.now() - t;
    const journals = existsSync(join(f.dir, "journal")) ? readdirSync(join(f.dir, "journal")).sort() : [];
    parallel = { wallS: wall / 1000, eachS: runs.map((r) => r.ms / 1000), ok: runs.every((r) => r.code === 0), journals };
    if (!parallel.ok) notes.push(`parallel region renews: ${runs.map((r) => r.code === 0 ? "ok" : r.err.trim().split("\n")[0]).join(" | ")}`);
  }

  log("cold start…");
  const small = await makeFleet(6, 3);
  must(await runChild(process.execPath, [BIN, "pki", "renew"], small.env({ INFORGE_SECRETS_KEY: small.ciKey }), false), "small tree renew");
  const cold = await coldStart(o.quick ? 2 : 7, small);
  rmSync(small.base, { recursive: true, force: true });

  const refN = o.quick ? Math.min(o.leaves, 200) : Math.max(2000, Math.min(o.leaves, 20_000));
  log(`raw crypto ceiling (${refN} keygen + sign, ${conc} in flight)…`);
  const ceiling = await worker("ceiling", refN, conc, ci);
  const naiveN = o.quick ? Math.min(o.leaves, 50) : Math.min(o.leaves, 1000);
  log(`plain @peculiar/x509 loop (${naiveN} leaves)…`);
  const naive = await worker("naive", naiveN, 1, ci);
  log(`openssl shell loop (${o.opensslLeaves} leaves)…`);
  const ossl = await opensslLoop(f, o.opensslLeaves);
  if (!ossl) notes.push("openssl or age is missing: openssl_loop_ratio is null");
  else if (!ossl.verified) notes.push("the openssl loop's leaf did not verify");

  let git: Footprint | null = null;
  if (o.gitDays) {
    log(`a year of daily CI renewals in git, scaled: ${o.gitDays} days…`);
    git = await gitFootprint(f, o.gitDays, now + 11 * DAY);
    if (!git) notes.push("git is missing: git_mb_per_year is null");
    else notes.push(`git_mb_per_year: ${git.days} daily renew runs (${git.renewals} renewed anything), a commit after each, git gc before and after; growth × 365/${git.days}`);
  }

  const scale: { leaves: number; perS: number; rssMb: number | null }[] = [];
  if (!o.quick) {
    for (const n of [1000, 10_000, ...(o.scale ? [50_000, 100_000] : [])]) {
      if (n === o.leaves) {
        scale.push({ leaves: n, perS: o.leaves / (mint.ms / 1000), rssMb: mint.rssMb });
        continue;
      }
      log(`renew at ${n} leaves…`);
      scale.push({ leaves: n, ...(await mintRate(n, Math.min(20, n), concFlag)) });
    }
    if (!o.scale) notes.push("50k and 100k leaves skipped (pass --scale)");
  }

  const renewPerS = o.leaves / (renew.ms / 1000);
  const rss = { mint: mint.rssMb, renew: renew.rssMb, noop: noop.rssMb, status: status.rssMb, verify: verify?.rssMb ?? null };
  const result = {
    leaves: o.leaves,
    regions: o.regions,
    concurrency: conc,
    renew_leaves_per_s: round(renewPerS),
    mint_leaves_per_s: round(o.leaves / (mint.ms / 1000)),
    renew_samples_s: samples.map((r) => round(r.ms / 1000, 2)),
    renew_breakdown_ms: breakdown,
    ceiling_leaves_per_s: round(ceiling),
    ceiling_ratio: round(renewPerS / ceiling, 3),
    naive_x509_leaves_per_s: round(naive),
    naive_x509_ratio: round(renewPerS / naive, 2),
    noop_renew_s: round(noop.ms / 1000, 3),
    status_s: round(status.ms / 1000, 3),
    verify_s: verify ? round(verify.ms / 1000, 3) : null,
    journal_bytes_per_renew: journalPerRenew,
    git_mb_per_year: git ? round(git.shippedMbPerYear, 1) : null,
    git_mb_per_year_committed: git ? round(git.committedMbPerYear, 1) : null,
    git_journal_kb_per_year: git ? round(git.journalKbPerYear, 1) : null,
    git_days_simulated: git?.days ?? null,
    peak_rss_mb: round(Math.max(...Object.values(rss).filter((x): x is number => x !== null)), 1),
    rss_mb: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, v === null ? null : round(v, 1)])),
    cold_start_ms: round(cold.inforge, 1),
    cold_start_sources_ms: round(cold.sources, 1),
    cold_start_status_ms: round(cold.status, 1),
    cold_start_status_sources_ms: round(cold.statusSources, 1),
    node_start_ms: round(cold.node, 1),
    prebuilt_cli: bundled,
    openssl_loop_leaves_per_s: ossl ? round(ossl.perS, 1) : null,
    openssl_loop_ratio: ossl ? round(renewPerS / ossl.perS, 1) : null,
    parallel_regions: parallel ? { wall_s: round(parallel.wallS, 3), each_s: parallel.eachS.map((x) => round(x, 3)), ok: parallel.ok, journals: parallel.journals } : null,
    scale: scale.map((s) => ({ leaves: s.leaves, leaves_per_s: round(s.perS), rss_mb: s.rssMb === null ? null : round(s.rssMb, 1) })),
    notes,
  };

  const rows: [string, string, string][] = [
    ["measurement", "result", "peak RSS"],
    [`first renew (mint ${o.leaves} leaves)`, `${fmt(mint.ms / 1000)} s = ${result.mint_leaves_per_s} leaves/s`, mb(mint.rssMb)],
    [`full renew (${o.leaves} leaves due${samples.length > 1 ? `, median of ${samples.length}` : ""})`, `${fmt(renew.ms / 1000)} s = ${result.renew_leaves_per_s} leaves/s${samples.length > 1 ? ` (runs: ${samples.map((r) => fmt(r.ms / 1000)).join(" / ")} s)` : ""}`, mb(renew.rssMb)],
    ["  of which (ms)", Object.entries(breakdown).map(([k, v]) => `${k.replace(/_/g, " ")} ${v}`).join(", ") || "n/a", "-"],
    [`raw crypto ceiling (node:crypto, ${conc} in flight)`, `${result.ceiling_leaves_per_s} leaves/s → renew at ${pct(result.ceiling_ratio)}`, "-"],
    ["plain @peculiar/x509 loop", `${result.naive_x509_leaves_per_s} leaves/s → renew ${result.naive_x509_ratio}× faster`, "-"],
    [`openssl + age shell loop (${o.opensslLeaves} leaves)`, ossl ? `${result.openssl_loop_leaves_per_s} leaves/s → renew ${result.openssl_loop_ratio}× faster` : "n/a", "-"],
    ["no-op renew (nothing due, incl. process start)", `${fmt(noop.ms / 1000)} s`, mb(noop.rssMb)],
    ["status", `${fmt(status.ms / 1000)} s`, mb(status.rssMb)],
    ["verify", verify ? `${fmt(verify.ms / 1000)} s` : "n/a (no pki verify yet)", mb(verify?.rssMb ?? null)],
    [`cold start: inforge --help${bundled ? " (prebuilt)" : ""} / from sources / node -e 0`, `${fmt(cold.inforge)} ms / ${fmt(cold.sources)} ms / ${fmt(cold.node)} ms`, "-"],
    [`cold start: pki status, small tree${bundled ? " (prebuilt)" : ""} / from sources`, `${fmt(cold.status)} ms / ${fmt(cold.statusSources)} ms`, "-"],
  ];
  rows.push([`journal bytes added by the full renew`, `${journalPerRenew} B (${fmt(journalPerRenew / o.leaves)} B per leaf)`, "-"]);
  if (git) {
    rows.push([`.git growth a year (${git.days} daily runs, ×365/${git.days}), leaves not committed`, `${fmt(git.shippedMbPerYear)} MB`, "-"]);
    rows.push([`.git growth a year, everything committed`, `${fmt(git.committedMbPerYear)} MB (journal ${fmt(git.journalKbPerYear)} kB)`, "-"]);
  }
  if (parallel) rows.push([`two regions renewed by two processes at once`, `${fmt(parallel.wallS)} s wall (each ${parallel.eachS.map(fmt).join(" s, ")} s)${parallel.ok ? "" : " FAILED"}`, "-"]);
  for (const s of result.scale) rows.push([`renew at ${s.leaves} leaves (fresh fleet)`, `${s.leaves_per_s} leaves/s`, mb(s.rss_mb)]);
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(" | ")} |`;
  console.log(line(rows[0]!));
  console.log(`|${w.map((n) => "-".repeat(n + 2)).join("|")}|`);
  for (const r of rows.slice(1)) console.log(line(r));
  for (const n of notes) console.log(`note: ${n}`);
  if (o.keep) console.log(`kept: ${f.base}`);
  else rmSync(f.base, { recursive: true, force: true });
  rmSync(probeDir, { recursive: true, force: true });
  console.log(JSON.stringify(result));
}

const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const mb = (x: number | null) => (x === null ? "-" : `${x.toFixed(0)} MB`);

const opts = parseOpts(process.argv.slice(2));
if (opts.worker === "ceiling") console.log(await ceilingWorker(opts.leaves, opts.concurrency ?? 1));
else if (opts.worker === "naive") console.log(await naiveWorker(opts.leaves));
else if (opts.worker === "fleet") {
  // A fleet to profile by hand: prints the environment that points the CLI at it.
  const f = await makeFleet(opts.leaves, opts.regions);
  console.log(`export INFORGE_PKI_DIR=${f.dir} INFORGE_REGIONS_DIR=${f.regionsDir} INFORGE_SECRETS_KEY=${f.ciKey} INFORGE_PKI_ROOT_KEY=${f.rootKey}`);
}
else if (opts.worker) throw new Error(`unknown worker "${opts.worker}"`);
else await bench(opts);
