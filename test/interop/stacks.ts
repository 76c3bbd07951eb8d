// The TLS stacks of the interop matrix, each asked the same question: does this chain (leaf +
// intermediate, as a peer presents it) verify against these anchors, for this host name or IP
// (or for no name: a SPIFFE consumer matches the ID itself)? Each answers with its own path
// validation; OpenSSL, GnuTLS and rustls also check the name; for NSS (vfychain has no host
// name check) and PKI.js (a chain engine only) the caller matches the name (matchName below).
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as pkijs from "pkijs";
import { ROOT } from "../helpers.ts";
import { DENO } from "../deno.ts";

export interface Check {
  readonly leaf: string; // PEM file
  readonly intermediate: string; // PEM file
  readonly chain: string; // PEM file: leaf then intermediate
  readonly key: string; // PEM text of the leaf's key (for the rustls handshake)
  readonly anchors: string; // PEM file
  /** The anchors are intermediates (mesh bundles): partial-chain trust. */
  readonly partial: boolean;
  readonly name?: { readonly dns: string } | { readonly ip: string };
}

export interface Verdict {
  readonly ok: boolean;
  readonly detail: string;
}

export interface Stack {
  readonly id: string;
  readonly version: string;
  /** Whether the stack itself checked `name` (otherwise the caller must). */
  readonly checksName: boolean;
  verifyAll(checks: readonly Check[]): Promise<Verdict[]>;
}

const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: "utf8" });
const firstLine = (s: string) => s.trim().split("\n")[0] ?? "";

export const openssl: Stack = {
  id: "OpenSSL",
  version: firstLine(sh("openssl", ["version"]).stdout).split(" ").slice(0, 2).join(" "),
  checksName: true,
  async verifyAll(checks) {
    return checks.map((c) => {
      const name = !c.name ? [] : "dns" in c.name ? ["-verify_hostname", c.name.dns] : ["-verify_ip", c.name.ip];
      const r = sh("openssl", ["verify", ...(c.partial ? ["-partial_chain"] : []), "-CAfile", c.anchors, "-untrusted", c.intermediate, ...name, c.leaf]);
      return { ok: r.status === 0, detail: firstLine((r.stderr + r.stdout).split("\n").find((l) => /error/.test(l)) ?? "") };
    });
  },
};

export const gnutls: Stack = {
  id: "GnuTLS",
  version: `GnuTLS ${/\d+\.\d+\.\d+/.exec(sh("certtool", ["--version"]).stdout)?.[0] ?? "?"}`,
  checksName: true,
  async verifyAll(checks) {
    // GnuTLS trusts every certificate of the CA list as an anchor: partial chains need no flag.
    return checks.map((c) => {
      const name = !c.name ? [] : ["--verify-hostname", "dns" in c.name ? c.name.dns : c.name.ip];
      const r = sh("certtool", ["--verify", "--load-ca-certificate", c.anchors, "--infile", c.chain, ...name]);
      return { ok: r.status === 0, detail: /Chain verification output: (.*)/.exec(r.stdout)?.[1]?.trim() ?? "" };
    });
  },
};

/** NSS: a certificate database per anchor file, each anchor trusted CT,C,C (C,C,C fails client auth). */
export function nss(workdir: string): Stack {
  const dbs = new Map<string, string>();
  const dbFor = (anchors: string) => {
    let db = dbs.get(anchors);
    if (db) return db;
    db = join(workdir, `nssdb-${dbs.size}`);
    mkdirSync(db);
    const init = sh("certutil", ["-N", "-d", `sql:${db}`, "--empty-password"]);
    if (init.status !== 0) throw new Error(`certutil -N: ${init.stderr}`);
    const blocks = readText(anchors).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
    blocks.forEach((b, i) => {
      const f = join(db!, `anchor-${i}.pem`);
      writeFileSync(f, b);
      const add = sh("certutil", ["-A", "-d", `sql:${db}`, "-n", `anchor-${i}`, "-t", "CT,C,C", "-a", "-i", f]);
      if (add.status !== 0) throw new Error(`certutil -A: ${add.stderr}`);
    });
    dbs.set(anchors, db);
    return db;
  };
  const pkg = sh("dpkg-query", ["-W", "-f=${Version}", "libnss3"]).stdout;
  const version = `NSS ${/(?:^|:)(\d+\.\d+(?:\.\d+)?)/.exec(pkg)?.[1] ?? "?"}`;
  return {
    id: "NSS",
    version,
    checksName: false,
    async verifyAll(checks) {
      return checks.map((c) => {
        const db = dbFor(c.anchors);
        // -pp: CERT_PKIXVerifyCert; usage 1: SSL server; -a: the next file is PEM.
        const r = sh("vfychain", ["-d", `sql:${db}`, "-pp", "-u", "1", "-a", c.leaf, "-a", c.intermediate]);
        return { ok: r.status === 0, detail: firstLine((r.stdout + r.stderr).split("\n").find((l) => /ERROR/.test(l)) ?? "") };
      });
    },
  };
}

const readText = (f: string) => readFileSync(f, "utf8");
const parsed = new Map<string, pkijs.Certificate[]>();
const pemCerts = (f: string) => {
  let certs = parsed.get(f);
  if (!certs) parsed.set(f, (certs = parsePem(f)));
  return certs;
};
const parsePem = (f: string) =>
  (readText(f).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) =>
    pkijs.Certificate.fromBER(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64")),
  );

export const pkiJs: Stack = {
  id: "PKI.js",
  version: `PKI.js ${(JSON.parse(readText(join(ROOT, "node_modules/pkijs/package.json"))) as { version: string }).version}`,
  checksName: false,
  async verifyAll(checks) {
    const out: Verdict[] = [];
    for (const c of checks) {
      const engine = new pkijs.CertificateChainValidationEngine({ trustedCerts: pemCerts(c.anchors), certs: [...pemCerts(c.leaf), ...pemCerts(c.intermediate)], checkDate: new Date() });
      const r = await engine.verify().catch((e: unknown) => ({ result: false, resultMessage: String(e) }));
      out.push({ ok: r.result, detail: r.result ? "" : String(r.resultMessage ?? "") });
    }
    return out;
  },
};

/** rustls through Deno: a real handshake per check, all in one Deno process. */
export function rustls(workdir: string): Stack {
  const v = sh(DENO, ["--version"]).stdout;
  return {
    id: "rustls",
    version: `rustls via Deno ${/deno (\S+)/.exec(v)?.[1] ?? "?"}`,
    checksName: true,
    async verifyAll(checks) {
      if (!checks.length) return [];
      // rustls always checks a server name; a SPIFFE check (no name) asks for a name no leaf
      // carries and counts NotValidForName as "the chain verified" — the ID is matched by the caller.
      const jobs = checks.map((c) => ({
        chain: readText(c.chain), key: c.key, anchors: readText(c.anchors),
        hostname: !c.name ? "no-name.invalid" : "dns" in c.name ? c.name.dns : c.name.ip,
      }));
      const file = join(workdir, `rustls-jobs-${Date.now()}.json`);
      writeFileSync(file, JSON.stringify(jobs));
      const child = spawn(DENO, ["run", "--no-prompt", "--allow-net=127.0.0.1", `--allow-read=${file}`, join(ROOT, "test/interop/rustls-batch.ts"), file], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: "1" },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => (stdout += b));
      child.stderr.on("data", (b: Buffer) => (stderr += b));
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      const code = await new Promise<number | null>((r) => child.on("close", r));
      clearTimeout(timer);
      if (code !== 0) throw new Error(`the rustls batch exited ${code}: ${stderr}`);
      const res = JSON.parse(stdout) as { ok: boolean; error?: string }[];
      return res.map((r, i) => {
        const chainOnly = !checks[i]!.name && !r.ok && /NotValidForName|not valid for name/i.test(r.error ?? "");
        return { ok: r.ok || chainOnly, detail: r.error ?? "" };
      });
    },
  };
}

/**
 * A host name or IP check for stacks that do not make one (RFC 6125 §6.4: DNS SANs only, no
 * CN fallback; a wildcard stands for exactly one left-most label; IP SANs compared as addresses).
 */
export function matchName(name: { dns: string } | { ip: string }, sans: { dns: readonly string[]; ips: readonly string[] }): boolean {
  if ("ip" in name) return sans.ips.includes(name.ip);
  const want = name.dns.toLowerCase();
  return sans.dns.some((d) => {
    const s = d.toLowerCase();
    if (!s.startsWith("*.")) return s === want;
    const dot = want.indexOf(".");
    return dot > 0 && want.slice(dot + 1) === s.slice(2);
  });
}
