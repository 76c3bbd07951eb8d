// A root rotation as stragglers see it (DESIGN.md invariant 7): while the old root is live, every
// chain inforge hands out (deploy's tls.crt and Secret, sign-csr's output) carries the new root
// cross-signed by the old one, after the intermediate, so a consumer still anchored only on the
// old root verifies it — OpenSSL (no -partial_chain), GnuTLS certtool and a node:tls handshake,
// all at the real present; a consumer of the new root too. After `rotate --root --finish` the
// cross certificate is gone from every file inforge serves.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { buildTree, ciEnv, cli, ok, rootEnv, run, sandbox } from "./helpers.ts";

const H = 3_600_000;
const D = 24 * H;
const iso = (t: number) => new Date(Math.floor(t / 1000) * 1000).toISOString().replace(".000Z", "Z");
const NOW = Date.now();
// The new intermediates are promoted an hour ago (rotation + the 24h propagation), so what
// deploy serves now is checked by verifiers that take only the real clock (certtool, node:tls).
const T0 = NOW - 27 * H;

const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout"], us: ["payments"] });
test.after(() => rmSync(sb.base, { recursive: true, force: true }));
await buildTree(sb, ["global", "eu", "us"], iso(T0));
const oldRoot = join(sb.base, "old-root.pem"); // what a straggler still holds
copyFileSync(join(sb.dir, "root/G1.crt.pem"), oldRoot);
const read = (p: string) => readFileSync(p, "utf8");
const pki = (rel: string) => read(join(sb.dir, rel));
const out = (scope: string, svc: string, tag: string) => join(sb.base, tag, scope, svc);
const deploy = (svc: string, scope: string, tag: string, at?: number) =>
  ok(cli(["deploy", svc, "--region", scope, "--out", out(scope, svc, tag), ...(at ? ["--at", iso(at)] : [])], ciEnv(sb)));
const flat = (text: string) => text.replace(/\s|\\n/g, "");
const blocks = (pem: string) => pem.split(/(?=-----BEGIN CERTIFICATE-----)/).filter((b) => b.trim());
/** tls.crt split as a TLS peer presents it: the leaf, and the rest as the untrusted list. */
function presented(dir: string): { leaf: string; rest: string } {
  const [leaf, ...rest] = blocks(read(join(dir, "tls.crt")));
  writeFileSync(join(dir, "leaf.pem"), leaf!);
  writeFileSync(join(dir, "rest.pem"), rest.join(""));
  return { leaf: join(dir, "leaf.pem"), rest: join(dir, "rest.pem") };
}
const openssl = (ca: string, p: { leaf: string; rest: string }, at?: number) => {
  const r = run("openssl", ["verify", ...(at ? ["-attime", String(Math.floor(at / 1000))] : []), "-CAfile", ca, "-untrusted", p.rest, p.leaf]);
  return { ok: r.status === 0, out: r.stdout + r.stderr };
};
const certtool = (ca: string, chain: string) => {
  const r = run("certtool", ["--verify", "--load-ca-certificate", ca, "--infile", chain]);
  return { ok: r.status === 0 && /Chain verification output: Verified/.test(r.stdout), out: r.stdout.slice(-600) + r.stderr };
};

/** A node:tls server presenting exactly the deployed tls.crt, and a client trusting only `ca` (no partial chain). */
async function handshake(dir: string, ca: string, servername: string): Promise<{ ok: boolean; error?: string }> {
  const srv = tls.createServer({ cert: read(join(dir, "tls.crt")), key: read(join(dir, "tls.key")) }, (s) => s.end("hello"));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  try {
    return await new Promise((resolve) => {
      const c = tls.connect({ host: "127.0.0.1", port: (srv.address() as AddressInfo).port, servername, ca: read(ca) });
      let data = "";
      c.on("data", (d) => (data += d));
      c.on("end", () => resolve({ ok: data === "hello" }));
      c.on("error", (e) => resolve({ ok: false, error: e.message }));
    });
  } finally {
    srv.close();
  }
}

test("before the new intermediates are promoted, tls.crt is leaf + old intermediate and carries no cross certificate", async () => {
  await ok(cli(["pki", "rotate", "--root", "--at", iso(T0 + H)], rootEnv(sb)));
  await deploy("payments", "eu", "early", T0 + 2 * H);
  const crt = read(join(out("eu", "payments", "early"), "tls.crt"));
  assert.is(crt, pki("leaves/eu/payments.crt.pem") + pki("scopes/eu/G1.crt.pem"), "an intermediate of the old root needs no cross certificate");
});

test("after promotion, deploy serves leaf, new intermediate, then G2-by-G1; an old-root-only consumer accepts it on OpenSSL, GnuTLS and node:tls", async () => {
  const promote = await ok(cli(["pki", "renew", "--at", iso(T0 + 26 * H)], ciEnv(sb)));
  assert.is((promote.out.match(/prepared → active/g) ?? []).length, 3);
  const cross = pki("root/G2-by-G1.crt.pem");
  for (const [scope, svc] of [["eu", "payments"], ["us", "payments"], ["global", "auth"]] as const) {
    const r = await deploy(svc, scope, "overlap");
    const dir = out(scope, svc, "overlap");
    const crt = read(join(dir, "tls.crt"));
    // Order matters to OpenSSL: the cross certificate right after the intermediate, no self-signed G2 anywhere.
    assert.is(crt, pki(`leaves/${scope}/${svc}.crt.pem`) + pki(`scopes/${scope}/G2.crt.pem`) + cross, `${scope}/${svc}: ${r.out}`);
    assert.not.ok(crt.includes(blocks(pki("root/G2.crt.pem"))[0]!.trim()), "the self-signed new root is never served");
    const secret = parseYaml(read(join(dir, "secret.yaml")));
    assert.is(Buffer.from(secret.data["tls.crt"], "base64").toString(), crt, "the Secret carries the same chain");

    const p = presented(dir);
    const old = openssl(oldRoot, p);
    assert.ok(old.ok, `openssl, old root only, ${scope}/${svc}: ${old.out}`);
    const fresh = openssl(join(sb.dir, "root/G2.crt.pem"), p);
    assert.ok(fresh.ok, `openssl, new root only, ${scope}/${svc}: ${fresh.out}`);
    const both = openssl(join(sb.dir, "bundles/root.pem"), p);
    assert.ok(both.ok, `openssl, root.pem, ${scope}/${svc}: ${both.out}`);
    const gt = certtool(oldRoot, join(dir, "tls.crt"));
    assert.ok(gt.ok, `certtool, old root only, ${scope}/${svc}: ${gt.out}`);
    const gtNew = certtool(join(sb.dir, "root/G2.crt.pem"), join(dir, "tls.crt"));
    assert.ok(gtNew.ok, `certtool, new root only, ${scope}/${svc}: ${gtNew.out}`);
    // Without the cross certificate the straggler is stuck: the chain is what carries it across.
    writeFileSync(p.rest, pki(`scopes/${scope}/G2.crt.pem`));
    assert.not.ok(openssl(oldRoot, p).ok, "the old root alone reached the new intermediate without the cross certificate");
  }
  // The tree as it stands (cross certificate included) verifies clean: strict DER, every date valid now.
  const v = await cli(["pki", "verify"], ciEnv(sb, { INFORGE_PKI_ROOT_KEY: sb.rootKey }));
  assert.is(v.code, 0, v.out);
  assert.not.match(v.out, /cert\.|crl\./, v.out);
  const hs = await handshake(out("eu", "payments", "overlap"), oldRoot, "payments.eu.mesh.test");
  assert.ok(hs.ok, `node:tls client trusting only the old root: ${hs.error}`);
  assert.ok((await handshake(out("eu", "payments", "overlap"), join(sb.dir, "root/G2.crt.pem"), "payments.eu.mesh.test")).ok, "node:tls client trusting only the new root");
});

test("sign-csr hands out the same chain during the overlap", async () => {
  const key = join(sb.base, "w.key");
  const csr = join(sb.base, "w.csr");
  const g = run("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", "/CN=checkout.eu.mesh.test", "-out", csr]);
  assert.is(g.status, 0, g.stderr);
  const chainFile = join(sb.base, "csr-chain.pem");
  await ok(cli(["pki", "sign-csr", "--region", "eu", "--service", "checkout", csr, "--out", chainFile], ciEnv(sb)));
  const [leaf, ...rest] = blocks(read(chainFile));
  assert.is(rest.join(""), pki("scopes/eu/G2.crt.pem") + pki("root/G2-by-G1.crt.pem"));
  writeFileSync(join(sb.base, "csr-leaf.pem"), leaf!);
  writeFileSync(join(sb.base, "csr-rest.pem"), rest.join(""));
  const v = openssl(oldRoot, { leaf: join(sb.base, "csr-leaf.pem"), rest: join(sb.base, "csr-rest.pem") });
  assert.ok(v.ok, v.out);
});

test("after rotate --root --finish the cross certificate is gone from deploy output, the Secret and every bundle file", async () => {
  await ok(cli(["pki", "renew", "--at", iso(T0 + 10 * D)], ciEnv(sb)));
  await ok(cli(["pki", "rotate", "--root", "--finish", "--at", iso(T0 + 10 * D + H)], rootEnv(sb)));
  // The cross certificate's DER in base64, as PEM bodies, ConfigMaps and SPIFFE x5c carry it (whitespace aside).
  const crossB64 = pki("root/G2-by-G1.crt.pem").replace(/-----[A-Z ]+-----|\s/g, "");
  const at = T0 + 10 * D + 2 * H;
  for (const [scope, svc] of [["eu", "payments"], ["global", "auth"]] as const) {
    await deploy(svc, scope, "finished", at);
    const dir = out(scope, svc, "finished");
    const crt = read(join(dir, "tls.crt"));
    assert.is(crt, pki(`leaves/${scope}/${svc}.crt.pem`) + pki(`scopes/${scope}/G2.crt.pem`));
    const secret = read(join(dir, "secret.yaml"));
    assert.not.ok(flat(Buffer.from(parseYaml(secret).data["tls.crt"], "base64").toString()).includes(crossB64), "the Secret still carries the cross certificate");
    const p = presented(dir);
    const fresh = openssl(join(sb.dir, "bundles/root.pem"), p, at);
    assert.ok(fresh.ok, fresh.out);
    assert.not.ok(openssl(oldRoot, p, at).ok, "an old-root-only consumer still verifies after the overlap ended");
  }
  for (const f of readdirSync(join(sb.dir, "bundles"), { recursive: true }) as string[]) {
    if (statSync(join(sb.dir, "bundles", f)).isDirectory()) continue;
    assert.not.ok(flat(read(join(sb.dir, "bundles", f))).includes(crossB64), `bundles/${f} carries the cross certificate`);
  }
  assert.is(pki("bundles/root.pem"), pki("root/G2.crt.pem"));
});

test.run();
