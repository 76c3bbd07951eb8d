// Helpers for the lifecycle simulation (test/lifecycle.test.ts): a copy of what was deployed
// at one instant (bundles, leaves, their keys), chain checks with node:crypto's OpenSSL-backed
// X509Certificate at a simulated time, and a real openssl s_server/s_client handshake with
// -attime (node:tls cannot verify at a simulated time; openssl can).
import { spawn, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** An ISO instant in whole seconds, as `--at` takes it. */
export const isoAt = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** A small seeded PRNG (mulberry32), so a sampled run can be replayed from its printed seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LeafCopy {
  readonly scope: string;
  readonly service: string;
  /** The generation of the scope's intermediate that signed it (from the leaf index). */
  readonly gen: number;
  readonly pem: string;
  /** The issuing intermediate, sent with the leaf as its chain. */
  readonly chain: string;
  /** The age file holding its key, as it was: one file per leaf, or (newer layout) one JSON
   *  file per scope, leaves/<scope>/keys.age, keyed by service. */
  readonly sealedKey: Buffer;
  readonly keyInScopeFile: boolean;
}

/** What consumers had at one instant: every bundle file and every leaf with its sealed key. */
export interface Deployed {
  readonly at: number;
  /** The number of the step after which it was captured (events can share an instant). */
  readonly seq: number;
  readonly bundles: Readonly<Record<string, string>>;
  readonly leaves: readonly LeafCopy[];
}

export function capture(dir: string, at: number, seq: number): Deployed {
  const bundles: Record<string, string> = {};
  const list = (sub: string) => (existsSync(join(dir, sub)) ? readdirSync(join(dir, sub)).sort() : []);
  for (const f of list("bundles").filter((n) => n.endsWith(".pem"))) {
    bundles[f.slice(0, -4)] = readFileSync(join(dir, "bundles", f), "utf8");
  }
  const leaves: LeafCopy[] = [];
  for (const scope of list("leaves")) {
    const index = JSON.parse(readFileSync(join(dir, "leaves", scope, "index.json"), "utf8")) as { leaves: Record<string, { gen: number }> };
    const scopeKeys = join(dir, "leaves", scope, "keys.age");
    const shared = existsSync(scopeKeys) ? readFileSync(scopeKeys) : null;
    for (const [service, l] of Object.entries(index.leaves).sort(([a], [b]) => a.localeCompare(b))) {
      const own = join(dir, "leaves", scope, `${service}.key.age`);
      leaves.push({
        scope, service, gen: l.gen,
        pem: readFileSync(join(dir, "leaves", scope, `${service}.crt.pem`), "utf8"),
        chain: readFileSync(join(dir, "scopes", scope, `G${l.gen}.crt.pem`), "utf8"),
        ...(shared && !existsSync(own) ? { sealedKey: shared, keyInScopeFile: true } : { sealedKey: readFileSync(own), keyInScopeFile: false }),
      });
    }
  }
  return { at, seq, bundles, leaves };
}

const parsed = new Map<string, X509Certificate>();

/** Every certificate of a PEM text, parsed once (certificates repeat across thousands of checks). */
export function certs(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => {
    let c = parsed.get(b);
    if (!c) parsed.set(b, (c = new X509Certificate(b)));
    return c;
  });
}

export const cert = (pem: string): X509Certificate => {
  const [c] = certs(pem);
  if (!c) throw new Error(`no certificate in ${JSON.stringify(pem.slice(0, 60))}`);
  return c;
};

const validity = new WeakMap<X509Certificate, readonly [number, number]>();

export function validAt(c: X509Certificate, at: number): boolean {
  let v = validity.get(c);
  if (!v) validity.set(c, (v = [Date.parse(c.validFrom), Date.parse(c.validTo)]));
  return v[0] <= at && at <= v[1];
}

const signed = new Map<string, boolean>();

/** `child` is issued and signed by `ca` (OpenSSL's X509_check_issued + signature), and both are
 *  within their validity at `at`. The signature result is cached per pair; dates are not. */
export function issuedBy(child: X509Certificate, ca: X509Certificate, at: number): boolean {
  const k = child.fingerprint256 + "|" + ca.fingerprint256;
  let s = signed.get(k);
  if (s === undefined) signed.set(k, (s = child.checkIssued(ca) && child.verify(ca.publicKey)));
  return s && validAt(child, at) && validAt(ca, at);
}

/** The certificate of `anchors` that `child` verifies against at `at`, if any. */
export function anchorOf(child: X509Certificate, anchors: readonly X509Certificate[], at: number): X509Certificate | undefined {
  return anchors.find((a) => issuedBy(child, a, at));
}

export function run(cmd: string, args: string[], input?: string) {
  return spawnSync(cmd, args, { encoding: "utf8", ...(input === undefined ? {} : { input }), timeout: 20_000 });
}

/** A leaf's private key, opened with the age CLI and the CI identity file. From a scope's key
 *  file, the entry must carry the serial of the leaf's certificate. */
export function openKey(l: LeafCopy, ciKey: string): string {
  const r = spawnSync("age", ["-d", "-i", ciKey], { input: l.sealedKey, encoding: "utf8", timeout: 20_000 });
  if (r.status !== 0) throw new Error(`age could not open the key of ${l.scope}/${l.service}: ${r.stderr}`);
  if (!l.keyInScopeFile) return r.stdout;
  const e = (JSON.parse(r.stdout) as { keys: Record<string, { serial: string; key: string }> }).keys[l.service];
  if (!e) throw new Error(`leaves/${l.scope}/keys.age has no key for ${l.service}`);
  const serial = new X509Certificate(l.pem).serialNumber.toLowerCase().replace(/^0+/, "");
  if (e.serial.toLowerCase().replace(/^0+/, "") !== serial) throw new Error(`leaves/${l.scope}/keys.age holds the key of serial ${e.serial} for ${l.service}, whose certificate has serial ${serial}`);
  return e.key;
}

export interface TlsSide {
  readonly cert: string; // the leaf
  readonly chain: string; // its issuing intermediate
  readonly key: string; // plaintext PEM
  readonly ca: string; // the bundle this side trusts
}

export interface HandshakeResult {
  readonly ok: boolean;
  readonly port: number;
  readonly detail: string;
}

/**
 * A real mutual-TLS handshake with openssl at a simulated time: s_server requires a client
 * certificate (-Verify 1), both sides trust only their bundle (partial chain), verify at
 * `-attime`, and abort on any verification error. The client checks the server's DNS name. Success
 * means the client read s_server's -www answer, which is sent only after the server accepted
 * the client's certificate. The server listens on a random high port, retried on EADDRINUSE;
 * every process is bounded by a timeout and ended by its own handle.
 */
export async function opensslHandshake(server: TlsSide, client: TlsSide, o: { at: number; servername: string; workDir: string; timeoutMs?: number }): Promise<HandshakeResult> {
  const timeout = o.timeoutMs ?? 8000;
  const dir = mkdtempSync(join(o.workDir, "hs-"));
  const put = (name: string, text: string, mode = 0o644) => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode });
    return p;
  };
  const files = (side: TlsSide, who: string) => ({
    cert: put(`${who}.crt.pem`, side.cert), chain: put(`${who}.chain.pem`, side.chain), key: put(`${who}.key.pem`, side.key, 0o600), ca: put(`${who}.ca.pem`, side.ca),
  });
  const s = files(server, "server");
  const c = files(client, "client");
  const attime = String(Math.floor(o.at / 1000));
  const verifyOpts = ["-attime", attime, "-partial_chain", "-verify_return_error"];
  // Timers are cleared at the end so a finished handshake does not keep the process alive.
  const timers: NodeJS.Timeout[] = [];
  const clock = { after: (ms: number) => new Promise<"timeout">((r) => timers.push(setTimeout(() => r("timeout"), ms))) };
  try {
    for (let attempt = 0; attempt < 10; attempt++) {
      const port = 20000 + Math.floor(Math.random() * 40000);
      const srv = spawn("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, "-naccept", "1", "-www", "-cert", s.cert, "-cert_chain", s.chain, "-key", s.key, "-CAfile", s.ca, "-Verify", "1", ...verifyOpts], { stdio: ["ignore", "pipe", "pipe"] });
      let sOut = "";
      let sErr = "";
      srv.stdout.on("data", (b: Buffer) => (sOut += b.toString()));
      srv.stderr.on("data", (b: Buffer) => (sErr += b.toString()));
      const exited = new Promise<void>((r) => srv.on("close", () => r()));
      const ready = await Promise.race([
        new Promise<"ready">((r) => srv.stdout.on("data", () => sOut.includes("ACCEPT") && r("ready"))),
        exited.then(() => "exited" as const),
        clock.after(timeout),
      ]);
      if (ready !== "ready") {
        srv.kill();
        await exited;
        if (/in use|bind|EADDRINUSE/i.test(sErr)) continue;
        return { ok: false, port, detail: `s_server did not start (${ready}): ${sErr.trim()}` };
      }
      const cli = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", o.servername, "-verify_hostname", o.servername, "-cert", c.cert, "-cert_chain", c.chain, "-key", c.key, "-CAfile", c.ca, ...verifyOpts, "-ign_eof"], { stdio: ["pipe", "pipe", "pipe"] });
      let cOut = "";
      let cErr = "";
      cli.stdout.on("data", (b: Buffer) => (cOut += b.toString()));
      cli.stderr.on("data", (b: Buffer) => (cErr += b.toString()));
      cli.stdin.on("error", () => {}); // the server may close before the request is written
      cli.stdin.end("GET / HTTP/1.0\r\n\r\n");
      const done = await Promise.race([
        new Promise<"done">((r) => cli.on("close", () => r("done"))),
        clock.after(timeout),
      ]);
      if (done === "timeout") cli.kill();
      srv.kill();
      await exited;
      const ok = /HTTP\/1\.0 200 ok/.test(cOut);
      const why = [...(cOut + cErr + sErr).matchAll(/(verify error:[^\n]*|Verify return code:[^\n]*|alert [^\n]*|error:[^\n]*)/g)].map((m) => m[1]).slice(0, 3).join("; ");
      return { ok, port, detail: done === "timeout" ? "client timed out" : ok ? "HTTP/1.0 200 ok" : why || "no answer" };
    }
    return { ok: false, port: 0, detail: "no free port after 10 attempts" };
  } finally {
    for (const t of timers) clearTimeout(t);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `openssl verify -attime …`: true when openssl accepts. */
export function opensslVerifyAt(at: number, args: string[]): { ok: boolean; out: string } {
  const r = run("openssl", ["verify", "-attime", String(Math.floor(at / 1000)), ...args]);
  return { ok: r.status === 0, out: (r.stdout + r.stderr).trim() };
}

/** The CRLs of a PEM file (one per live root). */
export function crlBlocks(text: string): string[] {
  return text.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----\n?/g) ?? [];
}
