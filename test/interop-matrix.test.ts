// The forgery matrix (issue 12): leaves minted with the eu intermediate's key for names and IDs
// outside eu, and every live leaf of a default tree, judged by OpenSSL, GnuTLS, NSS, rustls
// (real handshakes through Deno) and PKI.js in each consumer configuration that docs/concepts.md
// documents. Every forgery is refused by every stack in the recipe; every live leaf accepted in
// every configuration; the flat anchors fence DNS names on every stack that enforces name
// constraints. docs/interop.md is this test's output: it fails when the committed file differs
// (the versions line aside, so a patch release of a stack does not break CI by itself);
// UPDATE_INTEROP=1 rewrites it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTree, leafKeyPem, ROOT, run, sandbox } from "./helpers.ts";
import { assertDenoInstalled } from "./deno.ts";
import { forge, peerOf, runMatrix, trusts, type Case, type ConsumerKind, type Layout, type Row } from "./interop/matrix.ts";
import { renderInterop, VERSIONS_PREFIX } from "./interop/report.ts";
import { gnutls, nss, openssl, pkiJs, rustls, type Stack } from "./interop/stacks.ts";

assertDenoInstalled();
const D = "mesh.test";
const sb = sandbox();
await buildTree(sb); // the default: name constraints "dns"
const work = sb.base;
const pki = (rel: string) => join(sb.dir, rel);

// ---- cases ---------------------------------------------------------------------------------------
const F = (id: string, label: string, o: { subject?: string; san?: string }, targets: Case["targets"]): Case => ({ id, label, forged: true, peer: forge(sb, work, "eu", id, o), targets });
const dns = (value: string) => ({ kind: "dns" as const, value });
const spiffe = (value: string) => ({ kind: "spiffe" as const, value });
const cases: Case[] = [
  F("us-dns", "eu key: a us DNS name", { san: `DNS:payments.us.${D}` }, [dns(`payments.us.${D}`)]),
  F("us-spiffe", "eu key: a us SPIFFE ID alone", { san: `URI:spiffe://us.${D}/svc/payments` }, [spiffe(`spiffe://us.${D}/svc/payments`)]),
  F("us-spiffe-eu-dns", "eu key: a us SPIFFE ID beside an eu DNS name", { san: `DNS:payments.eu.${D},URI:spiffe://us.${D}/svc/payments` }, [spiffe(`spiffe://us.${D}/svc/payments`)]),
  F("global", "eu key: a global name and ID", { san: `DNS:auth.global.${D},URI:spiffe://global.${D}/svc/auth` }, [dns(`auth.global.${D}`), spiffe(`spiffe://global.${D}/svc/auth`)]),
  F("wildcard-domain", `eu key: \`*.${D}\``, { san: `DNS:*.${D}` }, [dns(`api.${D}`)]),
  F("wildcard-us", `eu key: \`*.us.${D}\``, { san: `DNS:*.us.${D}` }, [dns(`payments.us.${D}`)]),
  F("ip", "eu key: an IP SAN", { san: "IP:127.0.0.1" }, [{ kind: "ip", value: "127.0.0.1" }]),
  F("cn-only", "eu key: a us name as CN only", { subject: `/CN=payments.us.${D}` }, [dns(`payments.us.${D}`)]),
];
for (const scope of ["eu", "us", "global"]) {
  const index = JSON.parse(readFileSync(pki(`leaves/${scope}/index.json`), "utf8")) as { leaves: Record<string, { gen: number }> };
  for (const [svc, l] of Object.entries(index.leaves).sort(([a], [b]) => a.localeCompare(b))) {
    const peer = peerOf(work, `live-${scope}-${svc}`, pki(`leaves/${scope}/${svc}.crt.pem`), pki(`scopes/${scope}/G${l.gen}.crt.pem`), leafKeyPem(sb, scope, svc));
    cases.push({ id: `${scope}/${svc}`, label: `live ${scope}/${svc}`, forged: false, scope, peer, targets: [dns(`${svc}.${scope}.${D}`), spiffe(`spiffe://${scope}.${D}/svc/${svc}`)] });
  }
}

// ---- consumers, as deploy and bundles/ serve them -------------------------------------------------
const deployed = (kind: ConsumerKind) => (["eu", "us", "global"] as const).filter((s) => trusts(kind, s));
const layout: Layout = {
  domain: D,
  scopes: ["eu", "global", "us"],
  root: pki("bundles/root.pem"),
  flat: (kind) => pki(kind === "root" ? "bundles/root.pem" : `bundles/${kind}.pem`),
  trustDomains: (kind) => new Map(kind === "root" ? [] : deployed(kind).map((s) => [`${s}.${D}`, pki(`bundles/trust-domains/${s}.${D}.pem`)])),
};
const stacks: Stack[] = [openssl, gnutls, nss(work), rustls(work), pkiJs];
const t0 = performance.now();
const rows: Row[] = await runMatrix(layout, cases, stacks);
const seconds = (performance.now() - t0) / 1000;
const describe = (r: Row) => `${r.label} as ${r.target.value} at ${r.kind} (${r.mode})`;
const ENFORCING = ["OpenSSL", "GnuTLS", "NSS", "rustls"];

test("the matrix ran every stack on every row, in well under a minute", () => {
  assert.ok(rows.length > 100, `${rows.length} rows`);
  for (const r of rows) assert.equal(Object.keys(r.outcomes).sort(), stacks.map((s) => s.id).sort(), describe(r));
  assert.ok(seconds < 60, `${seconds.toFixed(1)} s`);
});

test("every forgery is refused by every stack in the documented recipe, for every consumer kind", () => {
  const forged = rows.filter((r) => r.forged && r.mode === "recipe");
  assert.ok(forged.length >= 9 * 4, `${forged.length} rows`);
  for (const r of forged) for (const [stack, o] of Object.entries(r.outcomes)) assert.is.not(o, "accept", `${stack} accepted ${describe(r)}`);
});

test("every live leaf is accepted by every stack, by DNS name and by SPIFFE ID, in every configuration of a consumer that trusts its scope", () => {
  const live = rows.filter((r) => !r.forged);
  assert.is(new Set(live.map((r) => r.caseId)).size, 7);
  for (const r of live) for (const [stack, o] of Object.entries(r.outcomes)) assert.is(o, "accept", `${stack} refused ${describe(r)}`);
});

test("with the flat anchors (ca.crt or root.pem) and a host name, every stack that enforces name constraints refuses every DNS, wildcard, CN and IP forgery", () => {
  const flat = rows.filter((r) => r.forged && r.mode === "flat" && r.target.kind !== "spiffe");
  assert.ok(flat.length >= 6 * 4);
  for (const r of flat) for (const s of ENFORCING) assert.is.not(r.outcomes[s], "accept", `${s} accepted ${describe(r)}`);
});

test("the flat anchors do not fence SPIFFE IDs: a us ID minted with the eu key verifies through global.pem and root.pem on every stack (why the recipe exists)", () => {
  for (const kind of ["global", "root"] as const) {
    const r = rows.find((x) => x.caseId === "us-spiffe" && x.kind === kind && x.mode === "flat")!;
    for (const s of stacks) assert.is(r.outcomes[s.id], "accept", `${s.id} at ${kind}: if a stack now refuses this, update docs/concepts.md`);
  }
});

test("docs/interop.md is exactly what this run measured", () => {
  const goVersion = run("sh", ["-c", "command -v go >/dev/null && go version || true"]).stdout.trim();
  const go = goVersion ? `Go: ${goVersion} (not in this matrix).` : "Go was not installed where this was measured (see LIBRARY-NOTES: Go reads URI constraints as host-or-subdomain).";
  const text = renderInterop(rows, stacks, { domain: D, go }) + "\n";
  const file = join(ROOT, "docs/interop.md");
  if (process.env.UPDATE_INTEROP || !existsSync(file)) writeFileSync(file, text);
  const strip = (s: string) => s.split("\n").filter((l) => !l.startsWith(VERSIONS_PREFIX)).join("\n");
  assert.fixture(strip(readFileSync(file, "utf8")), strip(text), "docs/interop.md differs from what the matrix measured; rerun with UPDATE_INTEROP=1 and review the diff");
});

test.after(() => rmSync(sb.base, { recursive: true, force: true }));
test.run();
