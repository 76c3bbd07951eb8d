// Real mTLS handshakes with a default tree (name constraints "dns"), each side loading only what
// `inforge deploy` wrote for it: rustls (Deno) as client against an OpenSSL server
// (s_server -Verify 1 -verify_return_error -partial_chain), and OpenSSL's s_client against a
// node:tls server. Same region: both sides accept. Cross region: refused, in both directions.
// 127.0.0.1 only; every process is bounded by a timeout.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as netServer, type AddressInfo } from "node:net";
import tls from "node:tls";
import { join } from "node:path";
import { buildTree, ciEnv, cli, ok, ROOT, sandbox } from "./helpers.ts";
import { assertDenoInstalled, DENO } from "./deno.ts";

assertDenoInstalled();
const sb = sandbox();
await buildTree(sb); // the default mode: every stack accepts the tree's leaves
const D = "mesh.test";

/** What deploy wrote for a service, split the way s_server/s_client take it. */
async function deployed(scope: string, svc: string) {
  const dir = join(sb.base, "deploy", scope, svc);
  await ok(cli(["deploy", svc, "--region", scope, "--out", dir], ciEnv(sb)));
  const crt = readFileSync(join(dir, "tls.crt"), "utf8");
  const blocks = crt.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
  writeFileSync(join(dir, "leaf.pem"), blocks[0]!);
  writeFileSync(join(dir, "chain.pem"), blocks.slice(1).join(""));
  return { dir, crt: join(dir, "tls.crt"), leaf: join(dir, "leaf.pem"), chain: join(dir, "chain.pem"), key: join(dir, "tls.key"), ca: join(dir, "ca.crt"), name: `${svc}.${scope}.${D}` };
}
type Svc = Awaited<ReturnType<typeof deployed>>;

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = netServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });

/** Run a process to its end (or kill it after `ms`), collecting its output. */
function runFor(cmd: string, args: string[], o: { ms: number; input?: string; env?: NodeJS.ProcessEnv }) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(cmd, args, { env: o.env ?? process.env });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b));
    child.stderr.on("data", (b: Buffer) => (out += b));
    const timer = setTimeout(() => child.kill("SIGKILL"), o.ms);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
    if (o.input !== undefined) child.stdin.end(o.input);
  });
}

/** An OpenSSL server for `server` requiring a client certificate that chains to its ca.crt; a Deno (rustls) client for `client`. */
async function rustlsToOpenssl(server: Svc, client: Svc): Promise<{ ok: boolean; reply?: string; error?: string; serverLog: string }> {
  const port = await freePort();
  const srv = spawn("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, "-naccept", "1", "-rev", "-cert", server.leaf, "-cert_chain", server.chain, "-key", server.key,
    "-CAfile", server.ca, "-partial_chain", "-Verify", "1", "-verify_return_error"]);
  let serverLog = "";
  const ready = new Promise<void>((resolve) => {
    const on = (b: Buffer) => {
      serverLog += b;
      if (/ACCEPT/.test(serverLog)) resolve();
    };
    srv.stdout.on("data", on);
    srv.stderr.on("data", on);
  });
  const killer = setTimeout(() => srv.kill("SIGKILL"), 20_000);
  try {
    await Promise.race([ready, new Promise((r) => setTimeout(r, 5000))]);
    const r = await runFor(DENO, ["run", "--no-prompt", "--allow-net=127.0.0.1", `--allow-read=${client.dir},${client.ca}`, join(ROOT, "test/interop/rustls-mtls-client.ts"), String(port), client.ca, client.crt, client.key], {
      ms: 15_000, env: { PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: "1" },
    });
    const line = r.out.split("\n").filter((l) => l.startsWith("{")).pop();
    const res = (line ? JSON.parse(line) : { ok: false, error: `the deno client printed no result: ${r.out}` }) as { ok: boolean; reply?: string; error?: string };
    return { ...res, serverLog };
  } finally {
    clearTimeout(killer);
    srv.kill("SIGKILL");
  }
}

/**
 * A node:tls server for `server` (partial-chain trust through SNICallback) requiring a client
 * certificate; OpenSSL's s_client for `client`, over TLS 1.2. Measured: with TLS 1.3, node 20.20's
 * server (SNICallback context) and OpenSSL 3.0's s_client each see the other hang up right after
 * the client's certificate (ECONNRESET / "unexpected eof"), while a node:tls client completes
 * TLS 1.3 mTLS with the same server (test/e2e-tree.test.ts). Not yet explained: see the report.
 */
async function opensslToNode(server: Svc, client: Svc): Promise<{ ok: boolean; clientOut: string; serverError?: string; peer?: string }> {
  const ctx = tls.createSecureContext({ key: readFileSync(server.key), cert: readFileSync(server.crt), ca: readFileSync(server.ca), allowPartialTrustChain: true } as tls.SecureContextOptions);
  let serverError: string | undefined;
  let peer: string | undefined;
  const srv = tls.createServer({ SNICallback: (_n, cb) => cb(null, ctx), requestCert: true, rejectUnauthorized: true, key: readFileSync(server.key), cert: readFileSync(server.crt) }, (sock) => {
    peer = /URI:([^,\s]+)/.exec(sock.getPeerCertificate().subjectaltname ?? "")?.[1];
    sock.end("hello from node\n");
  });
  srv.on("tlsClientError", (e) => (serverError = e.message));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  try {
    const r = await runFor("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", server.name, "-verify_hostname", server.name, "-CAfile", client.ca, "-partial_chain",
      "-verify_return_error", "-cert", client.leaf, "-cert_chain", client.chain, "-key", client.key, "-tls1_2"], { ms: 10_000 });
    return { ok: r.code === 0 && /hello from node/.test(r.out), clientOut: r.out, ...(serverError ? { serverError } : {}), ...(peer ? { peer } : {}) };
  } finally {
    srv.close();
  }
}

const euPayments = await deployed("eu", "payments");
const euCheckout = await deployed("eu", "checkout");
const usPayments = await deployed("us", "payments");

test("rustls (Deno) completes mTLS with an OpenSSL server of the same region; each side trusts only its deployed ca.crt", async () => {
  const r = await rustlsToOpenssl(euPayments, euCheckout);
  assert.ok(r.ok, `${r.error}\n${r.serverLog}`);
  assert.is(r.reply, "gnip", "the OpenSSL server answered (it had verified the client certificate)");
});

test("rustls (Deno) and an OpenSSL server of another region refuse each other, in both directions", async () => {
  const client = await rustlsToOpenssl(usPayments, euCheckout); // the eu client does not trust us
  assert.not.ok(client.ok, "an eu rustls client accepted a us server");
  assert.match(client.error!, /UnknownIssuer|invalid peer certificate/i);
  const server = await rustlsToOpenssl(euPayments, { ...usPayments, ca: euPayments.ca }); // the us client trusts eu here: only the server can refuse
  assert.not.ok(server.ok, "an eu OpenSSL server accepted a us client certificate");
  assert.match(server.serverLog, /verify error|unable to get (local )?issuer|certificate verify failed|alert/i, server.serverLog + " / " + server.error);
});

test("OpenSSL's s_client completes mTLS with a node:tls server of the same region, checking its host name; the server sees the client's SPIFFE ID", async () => {
  const r = await opensslToNode(euPayments, euCheckout);
  assert.ok(r.ok, `${r.serverError}\n${r.clientOut}`);
  assert.is(r.peer, `spiffe://eu.${D}/svc/checkout`);
  assert.match(r.clientOut, /Verification: OK|Verify return code: 0 \(ok\)/);
});

test("OpenSSL's s_client and a node:tls server of another region refuse each other, in both directions", async () => {
  const client = await opensslToNode(usPayments, euCheckout); // the eu client does not trust us
  assert.not.ok(client.ok, "an eu s_client accepted a us server");
  assert.match(client.clientOut, /unable to get (local )?issuer certificate|verify error/i);
  const server = await opensslToNode(euPayments, { ...usPayments, ca: euPayments.ca }); // only the eu server can refuse the us client
  assert.not.ok(server.ok, "an eu node:tls server accepted a us client certificate");
});

test.after(() => rmSync(sb.base, { recursive: true, force: true }));
test.run();
