// Probe benchmark (issue 18): how long `inforge pki probe` takes for N endpoints. Builds a tree
// in a temp dir, rotates one region's intermediate (so every endpoint gets the trust probe too:
// two TLS handshakes each, one with a client certificate of the prepared generation), starts N
// node:tls servers in a child process (half loaded with the new bundle, half with the old one),
// and times the probe at several concurrencies. Prints a table, then ONE JSON line.
//
//   npm run bench:probe                   50 endpoints
//   npm run bench:probe -- --endpoints 200
import "reflect-metadata";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import tls from "node:tls";
import { join } from "node:path";
import type { AddressInfo } from "node:net";

const DAY = 86_400_000;
const iso = (t: number) => new Date(Math.floor(t / 1000) * 1000).toISOString().replace(".000Z", "Z");

interface ServerSpec {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** Child mode: start one node:tls server per spec (client certificates required), print the ports. */
async function serve(file: string): Promise<void> {
  const specs = JSON.parse(readFileSync(file, "utf8")) as ServerSpec[];
  const ports: number[] = [];
  for (const s of specs) {
    const ctx = tls.createSecureContext({ key: s.key, cert: s.cert, ca: s.ca, allowPartialTrustChain: true } as tls.SecureContextOptions);
    const srv = tls.createServer({ SNICallback: (_n, cb) => cb(null, ctx), requestCert: true, rejectUnauthorized: true, key: s.key, cert: s.cert }, (sock) => {
      sock.on("error", () => {});
      sock.write("ok\n");
    });
    srv.on("tlsClientError", () => {});
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    ports.push((srv.address() as AddressInfo).port);
  }
  process.stdout.write(JSON.stringify({ ports }) + "\n");
}

async function bench(n: number): Promise<void> {
  const { buildTree, ciEnv, cli, leafKeyPem, ok, rootEnv, sandbox } = await import("../test/helpers.ts");
  const services = Array.from({ length: n }, (_, i) => `svc${i}`);
  const sb = sandbox({ global: ["auth"], eu: services });
  const now = Date.now();
  await buildTree(sb, ["global", "eu"], iso(now - 2 * DAY));
  const read = (rel: string) => readFileSync(join(sb.dir, rel), "utf8");
  const oldBundle = read("bundles/eu.pem");
  await ok(cli(["pki", "rotate", "--intermediate", "eu", "--at", iso(now - 3_600_000)], rootEnv(sb)));
  const newBundle = read("bundles/eu.pem");
  const specs: ServerSpec[] = services.map((svc, i) => ({
    cert: read(`leaves/eu/${svc}.crt.pem`) + read("scopes/eu/G1.crt.pem"), key: leafKeyPem(sb, "eu", svc), ca: i % 2 ? oldBundle : newBundle,
  }));
  const specFile = join(sb.base, "servers.json");
  writeFileSync(specFile, JSON.stringify(specs), { mode: 0o600 });
  const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "--serve", specFile], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const ports = await new Promise<number[]>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (b: Buffer) => {
        out += b;
        if (out.includes("\n")) resolve((JSON.parse(out.split("\n")[0]!) as { ports: number[] }).ports);
      });
      child.on("exit", (c) => reject(new Error(`the server process exited (${c})`)));
    });
    const probes = Object.fromEntries(services.map((svc, i) => [svc, [{ address: `127.0.0.1:${ports[i]}`, clientAuth: true }]]));
    writeFileSync(join(sb.regions, "eu.json"), JSON.stringify({ name: "eu", services, probes }));
    const rows: { concurrency: number; s: number; accepted: number; refused: number; other: number }[] = [];
    for (const c of [1, 16, 64]) {
      const t = performance.now();
      const r = await ok(cli(["pki", "probe", "--region", "eu", "--json", "--concurrency", String(c)], ciEnv(sb)));
      const s = (performance.now() - t) / 1000;
      const eps = (JSON.parse(r.out) as { scopes: { endpoints: { trust?: { outcome: string } }[] }[] }).scopes[0]!.endpoints;
      const count = (o: string) => eps.filter((e) => e.trust?.outcome === o).length;
      rows.push({ concurrency: c, s, accepted: count("accepted"), refused: count("refused"), other: eps.length - count("accepted") - count("refused") });
    }
    console.log(`| probe of ${n} endpoints (2 handshakes each) | concurrency | wall time | accepted | refused | other |`);
    console.log("|---|---|---|---|---|---|");
    for (const r of rows) console.log(`| | ${r.concurrency} | ${r.s.toFixed(2)} s | ${r.accepted} | ${r.refused} | ${r.other} |`);
    console.log(JSON.stringify({ endpoints: n, probe_s: Object.fromEntries(rows.map((r) => [`c${r.concurrency}`, Number(r.s.toFixed(3))])), accepted: rows[0]!.accepted, refused: rows[0]!.refused }));
  } finally {
    child.kill("SIGKILL");
  }
}

const argv = process.argv.slice(2);
if (argv[0] === "--serve") await serve(argv[1]!);
else {
  const i = argv.indexOf("--endpoints");
  await bench(i >= 0 ? Number(argv[i + 1]) : 50);
}
