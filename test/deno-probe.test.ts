// `pki probe` under Deno (issue 18): its node:tls compatibility must judge chains as Node does.
// Two real node:tls servers on 127.0.0.1 — one serving the region's current leaf, one a leaf of
// another region (its chain does not verify with eu's bundle) — and a closed port; the probe runs
// as `deno run … lib/cli/main.ts pki probe --json` with the least flags plus --allow-net.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { buildTree, leafKeyPem, ROOT, sandbox, type Sandbox } from "./helpers.ts";
import { spawn } from "node:child_process";
import { assertDenoInstalled, DENO, leastFlags } from "./deno.ts";
import { freePort, nodeServer, type ServerFiles } from "./probe-servers.ts";
import { ProbeReportSchema } from "../lib/model/reports.ts";

assertDenoInstalled();
const read = (sb: Sandbox, rel: string) => readFileSync(join(sb.dir, rel), "utf8");
/** deno run, asynchronously: the servers live in this process and must keep answering meanwhile. */
function denoAsync(args: string[], env: Record<string, string | undefined>, cwd: string): Promise<{ code: number; out: string; err: string }> {
  const clean = Object.fromEntries(Object.entries({ ...env, PATH: process.env.PATH, HOME: process.env.HOME, DENO_NO_UPDATE_CHECK: "1" }).filter(([, x]) => x !== undefined)) as Record<string, string>;
  return new Promise((resolve) => {
    const p = spawn(DENO, ["run", ...args], { cwd, env: clean });
    let out = "", err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("close", (code) => resolve({ code: code ?? -1, out, err }));
  });
}
const served = (sb: Sandbox, scope: string, svc: string, trust: string): ServerFiles => {
  const gen = JSON.parse(read(sb, `leaves/${scope}/index.json`)).leaves[svc].gen;
  return { cert: read(sb, `leaves/${scope}/${svc}.crt.pem`) + read(sb, `scopes/${scope}/G${gen}.crt.pem`), key: leafKeyPem(sb, scope, svc), ca: read(sb, `bundles/${trust}.pem`) };
};

test("under deno the probe reports the served generation, a chain that fails the region bundle, and a refused connection", async () => {
  const sb = sandbox({ global: ["auth"], eu: ["payments", "checkout"], us: ["search"] });
  await buildTree(sb, ["global", "eu", "us"]);
  const good = await nodeServer(served(sb, "eu", "payments", "eu"));
  const foreign = await nodeServer(served(sb, "us", "search", "us"));
  const closed = await freePort();
  try {
    writeFileSync(join(sb.regions, "eu.json"), JSON.stringify({
      name: "eu", services: ["payments", "checkout"],
      probes: { payments: [{ address: `127.0.0.1:${good.port}` }], checkout: [{ address: `127.0.0.1:${foreign.port}` }, { address: `127.0.0.1:${closed}` }] },
    }));
    const flags = [...leastFlags(sb, { read: [sb.ciKey] }), `--allow-net=127.0.0.1`];
    const env = sb.env({ INFORGE_SECRETS_KEY: sb.ciKey });
    const r = await denoAsync([...flags, join(ROOT, "lib/cli/main.ts"), "pki", "probe", "--region", "eu", "--json", "--timeout", "3s"], env, sb.base);
    assert.is(r.code, 0, r.err + r.out);
    const report = v.parse(ProbeReportSchema, JSON.parse(r.out));
    const eps = report.scopes.find((s) => s.scope === "eu")!.endpoints;
    const at = (port: number) => eps.find((e) => e.address === `127.0.0.1:${port}`)!;
    assert.is(at(good.port).outcome, "tls", JSON.stringify(at(good.port)));
    assert.is(JSON.stringify(at(good.port)).includes('"verifies":true'), true, JSON.stringify(at(good.port)));
    assert.is(JSON.stringify(at(foreign.port)).includes('"verifies":false'), true, JSON.stringify(at(foreign.port)));
    assert.is(at(closed).outcome, "refused", JSON.stringify(at(closed)));
  } finally {
    await good.close();
    await foreign.close();
    rmSync(sb.base, { recursive: true, force: true });
  }
});

test.run();
