// Trust bundles in mesh formats, on a real tree: a scope's SPIFFE bundle carries exactly its
// trust domain's PEM bundle (that scope's intermediates only; checked with node:crypto's
// X509Certificate, not our parser), its sequence increases on every change and only then, and
// the ConfigMaps parse as YAML.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { buildTree, ciEnv, cli, ok, rootEnv, sandbox } from "./helpers.ts";

const H = 3_600_000;
const iso = (t: number) => new Date(Math.floor(t / 1000) * 1000).toISOString().replace(".000Z", "Z");
const T0 = Date.now() - 3 * 24 * H;
const sb = sandbox();
await buildTree(sb, ["global", "eu", "us"], iso(T0));
const read = (rel: string) => readFileSync(join(sb.dir, rel), "utf8");
const spiffe = (scope: string) => JSON.parse(read(`bundles/${scope}.spiffe.json`));
const pemBlocks = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g) ?? [];

test("each scope's SPIFFE bundle holds exactly its trust domain's certificates (that scope's intermediates, not global's), in order, as x509-svid JWKs of their own keys", () => {
  for (const scope of ["eu", "us", "global"]) {
    const b = spiffe(scope);
    const pems = pemBlocks(read(`bundles/trust-domains/${scope}.mesh.test.pem`));
    assert.equal(pems, pemBlocks(read(`scopes/${scope}/G1.crt.pem`)), `${scope}: only its own intermediate`);
    assert.is(b.keys.length, pems.length, scope);
    b.keys.forEach((k: { use: string; kty: string; crv: string; x: string; y: string; x5c: string[] }, i: number) => {
      assert.is(k.use, "x509-svid");
      assert.is(k.x5c.length, 1);
      const fromJson = new X509Certificate(Buffer.from(k.x5c[0]!, "base64"));
      const fromPem = new X509Certificate(pems[i]!);
      assert.is(fromJson.fingerprint256, fromPem.fingerprint256, `${scope} key ${i + 1}`);
      const jwk = fromPem.publicKey.export({ format: "jwk" });
      assert.equal({ kty: k.kty, crv: k.crv, x: k.x, y: k.y }, { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y });
    });
    assert.is(b.spiffe_refresh_hint, 300, "the default refresh hint is 5m");
    assert.ok(Number.isInteger(b.spiffe_sequence) && b.spiffe_sequence >= 1);
  }
});

test("the ConfigMaps parse as YAML and carry the PEM bundle only; root has no SPIFFE bundle", () => {
  for (const name of ["eu", "global", "root"]) {
    const cm = parseYaml(read(`bundles/${name}.configmap.yaml`));
    assert.equal([cm.apiVersion, cm.kind, cm.metadata.name, cm.metadata.labels["app.kubernetes.io/managed-by"]], ["v1", "ConfigMap", `inforge-trust-${name}`, "inforge"]);
    assert.equal(cm.data, { "ca.crt": read(`bundles/${name}.pem`) });
  }
  assert.is(parseYaml(read("bundles/eu.configmap.yaml")).metadata.annotations["inforge.dev/trust-domain"], "eu.mesh.test");
  assert.throws(() => read("bundles/root.spiffe.json"));
});

test("the sequence increases when a bundle changes (a rotation), not otherwise, and takes the refresh hint from pki.json", async () => {
  const cfg = JSON.parse(read("pki.json"));
  writeFileSync(join(sb.dir, "pki.json"), JSON.stringify({ ...cfg, spiffeRefreshHint: "90s" }, null, 2) + "\n");
  const [eu, us, global] = [spiffe("eu").spiffe_sequence, spiffe("us").spiffe_sequence, spiffe("global").spiffe_sequence];
  const usBytes = read("bundles/us.spiffe.json");
  await ok(cli(["pki", "renew", "--at", iso(T0 + H)], ciEnv(sb))); // nothing changes in any bundle
  assert.equal([spiffe("eu").spiffe_sequence, spiffe("global").spiffe_sequence], [eu, global]);

  await ok(cli(["pki", "rotate", "--intermediate", "eu", "--at", iso(T0 + 2 * H)], rootEnv(sb)));
  assert.is(spiffe("eu").spiffe_sequence, eu + 1);
  assert.is(spiffe("global").spiffe_sequence, global, "the global trust domain's CAs did not change");
  assert.is(spiffe("eu").keys.length, 2, "eu G1 and eu G2 during the overlap");
  assert.is(spiffe("eu").spiffe_refresh_hint, 90);
  assert.is(read("bundles/us.spiffe.json"), usBytes, "another region's bundle is byte-identical");
  assert.is(spiffe("us").spiffe_sequence, us);

  // Promotion keeps both generations trusted: membership does not change, the sequence does not either.
  await ok(cli(["pki", "renew", "--at", iso(T0 + 27 * H)], ciEnv(sb)));
  assert.is(spiffe("eu").spiffe_sequence, eu + 1);
  // Retirement drops G1: another change, another sequence number.
  await ok(cli(["pki", "renew", "--at", iso(T0 + 27 * H + 8 * 24 * H)], ciEnv(sb)));
  assert.is(spiffe("eu").spiffe_sequence, eu + 2);
  assert.is(spiffe("eu").keys.length, 1);
});

test.run();
