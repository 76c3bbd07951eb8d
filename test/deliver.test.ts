// lib/deliver and the planner's delivery paths on pure data: YAML and SPIFFE builders, the
// release schema, deploy's renew-only-these-services intent, CSR name policy, root-anchoring
// consumers in root-rotation plans. No disk, no crypto (except where a certificate is parsed).
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as v from "valibot";
import { parse as parseYaml } from "yaml";
import fc from "fast-check";
import { all, region, root } from "../lib/dsl/mod.ts";
import { InputError } from "../lib/errors.ts";
import { checkPlan } from "../lib/check/check-plan.ts";
import { PkiConfigSchema } from "../lib/model/config.ts";
import { yamlDocument } from "../lib/deliver/yaml.ts";
import { spiffeSequence } from "../lib/deliver/mesh-bundles.ts";
import { parseRelease } from "../lib/deliver/release.ts";
import { deployBundle } from "../lib/deliver/deploy-bundle.ts";
import type { CsrRequest } from "../lib/dsl/intent.ts";
import { DAY, DOMAIN, HOUR, T0, after, established, planAt, step, stepsOf, type DeepMutable } from "./fixtures/pure-pki.ts";
import type { Snapshot } from "../lib/model/state.ts";

const throwsInput = (fn: () => unknown, re: RegExp) => {
  try {
    fn();
  } catch (e) {
    assert.instance(e, InputError);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable("expected an InputError");
};

// ---- YAML ------------------------------------------------------------------------------------

test("the YAML writer round-trips PEM, JSON, quotes, colons and leading spaces through a real YAML parser", () => {
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB\nAAAA\n-----END CERTIFICATE-----\n";
  const doc = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "inforge-trust-eu", labels: { "app.kubernetes.io/managed-by": "inforge", "weird key: yes": "no" } },
    data: { "ca.crt": pem, "bundle.spiffe.json": '{\n  "a": 1\n}\n', "no-newline": "a\nb", "indented": "  x\ny\n", "colon": "a: b # c", "yes": "yes", "n": 3 },
  };
  assert.equal(parseYaml(yamlDocument(doc)), doc);
});

test("the YAML writer: values and keys a hand-rolled writer gets wrong parse back as written (issue 15 item 17)", () => {
  const doc = {
    "null": "null", "0x10": "0x10", "1e3": "-1", "~": "~", "on": "Off", "": "", "-a": "*b", "k: v": "&x",
    lead: "\nafter a leading newline\n", cr: "a\r\nb\r\n", lone: "\r", blank: "a\n  \nb\n", nul: "a\u0000b\n", nel: "a\u0085b\nc",
    empty: {}, nested: { deeper: {} }, nan: Number.NaN, inf: -Infinity, zero: -0, t: true, f: false, tab: "\tx\ny",
  };
  assert.equal(parseYaml(yamlDocument(doc)), doc);
  assert.equal(parseYaml(yamlDocument(doc), { version: "1.1" }), doc, "the same under YAML 1.1, which reads yes/on/off as booleans");
});

test("the YAML writer round-trips any map of strings, numbers and booleans through a real parser (property)", () => {
  const key = fc.oneof(fc.string(), fc.constantFrom("null", "true", "yes", "0x10", "1", "-", "~", "a: b", " x"));
  const text = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: fc.constantFrom("a", " ", "\n", "\r", "\t", ":", "#", "-", "|", "\u0085", "é") }));
  const leaf = fc.oneof(text, fc.double(), fc.integer(), fc.boolean());
  const { tree } = fc.letrec<{ tree: Record<string, unknown> }>((tie) => ({ tree: fc.dictionary(key, fc.oneof({ depthSize: "small" }, leaf, tie("tree")), { maxKeys: 5, noNullPrototype: true }) }));
  fc.assert(fc.property(tree, (doc) => {
    const y = yamlDocument(doc as never);
    assert.equal(parseYaml(y), doc, y);
    assert.equal(parseYaml(y, { version: "1.1" }), doc, y);
  }), { numRuns: 400 });
});

test("a Secret's scalars read as the Kubernetes docs write them", () => {
  const y = yamlDocument({ apiVersion: "v1", kind: "Secret", type: "kubernetes.io/tls", metadata: { name: "payments-eu" } });
  assert.match(y, /^apiVersion: v1\nkind: Secret\ntype: kubernetes\.io\/tls\nmetadata:\n  name: payments-eu\n$/);
});

// ---- SPIFFE sequence ---------------------------------------------------------------------------

test("the SPIFFE sequence is one more than the journal entries that wrote the scope's SPIFFE bundle or its PEM (older trees wrote both together)", () => {
  const entry = (seq: number, paths: string[]) => JSON.stringify({ seq, files: paths.map((path) => ({ path, sha256: "x" })) });
  const journal = [entry(1, ["bundles/root.pem"]), entry(2, ["bundles/eu.pem", "bundles/global.pem"]), entry(3, ["bundles/eu.pem.old", "leaves/eu/index.json"]), entry(4, ["bundles/eu.pem"]), entry(5, ["bundles/eu.spiffe.json", "bundles/eu.pem"]), entry(6, ["bundles/us.spiffe.json"])].join("\n") + "\n";
  assert.is(spiffeSequence(journal, "eu"), 4);
  assert.is(spiffeSequence(journal, "global"), 2);
  assert.is(spiffeSequence(journal, "us"), 2);
  assert.is(spiffeSequence(null, "eu"), 1);
});

// ---- deploy bundle -------------------------------------------------------------------------------

test("the deploy bundle is tls.key (0600), tls.crt (leaf + intermediate), ca.crt, one trust/<trust-domain>.pem per trust domain and a kubernetes.io/tls Secret (0600) carrying the first three", () => {
  const trustDomains = [{ name: `eu.${DOMAIN}`, pem: "EU\n" }, { name: `global.${DOMAIN}`, pem: "GLOBAL\n" }];
  const files = deployBundle({ scope: "eu", service: "payments", domain: DOMAIN, leafPem: "LEAF\n", chainPem: "INT\n", keyPem: "KEY\n", bundlePem: "BUNDLE\n", trustDomains, notAfter: "2026-12-08T00:00:00Z" });
  assert.equal(files.map((f) => [f.name, f.mode]), [["tls.key", 0o600], ["tls.crt", 0o644], ["ca.crt", 0o644], [`trust/eu.${DOMAIN}.pem`, 0o644], [`trust/global.${DOMAIN}.pem`, 0o644], ["secret.yaml", 0o600]]);
  assert.equal(files.slice(3, 5).map((f) => f.content), ["EU\n", "GLOBAL\n"]);
  const secret = parseYaml(files[5]!.content);
  assert.is(secret.kind, "Secret");
  assert.is(secret.type, "kubernetes.io/tls");
  assert.is(secret.metadata.name, "payments-tls");
  assert.is(secret.metadata.annotations["inforge.dev/spiffe-id"], `spiffe://eu.${DOMAIN}/svc/payments`);
  const b = (s: string) => Buffer.from(s, "base64").toString();
  assert.equal([b(secret.data["tls.crt"]), b(secret.data["tls.key"]), b(secret.data["ca.crt"])], ["LEAF\nINT\n", "KEY\n", "BUNDLE\n"]);
});

// ---- releases -------------------------------------------------------------------------------------

test("a release file is validated: fields, names, duplicate regions and services, and the file name", () => {
  const ok = parseRelease({ name: "r1", deploy: [{ region: "eu", services: ["payments"] }, { region: "global", services: ["auth"] }] }, "releases/r1.json", "r1");
  assert.equal(ok.entries, [{ scope: "eu", services: ["payments"] }, { scope: "global", services: ["auth"] }]);
  throwsInput(() => parseRelease({ name: "r1", deploy: [{ region: "eu", services: ["a"] }], extra: 1 }, "releases/r1.json", "r1"), /releases\/r1\.json is invalid at extra/);
  throwsInput(() => parseRelease({ name: "r1", deploy: [{ region: "EU", services: ["payments"] }] }, "releases/r1.json", "r1"), /invalid at deploy\.0\.region: a scope name is a lowercase DNS label/);
  throwsInput(() => parseRelease({ name: "r1", deploy: [{ region: "eu", services: [] }] }, "releases/r1.json", "r1"), /at least one service/);
  throwsInput(() => parseRelease({ name: "r1", deploy: [{ region: "eu", services: ["a"] }, { region: "eu", services: ["b"] }] }, "releases/r1.json", "r1"), /lists the region "eu" twice/);
  throwsInput(() => parseRelease({ name: "r1", deploy: [{ region: "eu", services: ["a", "a"] }] }, "releases/r1.json", "r1"), /lists the service "a" twice/);
  throwsInput(() => parseRelease({ name: "r2", deploy: [{ region: "eu", services: ["a"] }] }, "releases/r1.json", "r1"), /rename it to r2\.json/);
});

// ---- deploy's intent: renew only these services -------------------------------------------------

test("renewing some services of a region mints only those that are missing or due, and nothing when they are current", () => {
  const s = established();
  const late = after(T0, 5 * DAY); // every leaf is past 2/3 of its 7 days
  const p = planAt(region("eu").leaves().renew({ services: ["payments"] }), s, late);
  assert.equal(stepsOf(p, "issue-leaf").map((x) => `${x.scope}/${x.service} (${x.reason})`), ["eu/payments (due)"]);
  assert.equal(checkPlan(p), []);
  const quiet = planAt(region("eu").leaves().renew({ services: ["payments", "ledger"] }), s, after(T0, HOUR));
  assert.is(quiet.steps.length, 0);
  throwsInput(() => planAt(region("eu").leaves().renew({ services: ["search"] }), s, late), /unknown service "search" in "eu" .*add it to regions\/eu\.json/);
});

// ---- sign-csr ---------------------------------------------------------------------------------------

const csr = (o: Partial<CsrRequest> = {}): CsrRequest => ({ publicKey: "AAAA", key: "ECDSA P-256", commonNames: [], dns: [], uris: [], other: [], ...o });

test("a CSR leaf carries exactly the service's own names, is recorded apart from the managed leaf, and passes the checker", () => {
  const s = established();
  const p = planAt(region("eu").service("payments").leaf().signCsr(csr({ commonNames: [`payments.eu.${DOMAIN}`], uris: [`spiffe://eu.${DOMAIN}/svc/payments`] })), s, after(T0, HOUR));
  const [st] = stepsOf(p, "issue-csr-leaf");
  assert.equal([st!.dns, st!.uris, st!.identity, st!.writes], [[`payments.eu.${DOMAIN}`], [`spiffe://eu.${DOMAIN}/svc/payments`], "ci", ["leaves/eu/payments.csr.crt.pem"]]);
  const rec = (x: Snapshot, k: "leaves" | "csr") => (x.leaves.eu?.[k] as Record<string, unknown> | undefined)?.payments;
  assert.ok(rec(p.after, "csr"), "recorded under csr");
  assert.equal(rec(p.after, "leaves"), rec(s, "leaves"), "the managed leaf is untouched");
  assert.equal(checkPlan(p), []);
});

test("a CSR asking for another region's name, an undeclared service or an IP address is refused with the allowed names", () => {
  const s = established();
  const now = after(T0, HOUR);
  throwsInput(() => planAt(region("eu").service("payments").leaf().signCsr(csr({ dns: [`payments.us.${DOMAIN}`] })), s, now), /asks for the name "payments\.us\.mesh\.example\.internal", which eu\/payments may not carry.*may ask only for payments\.eu\.mesh\.example\.internal and spiffe:\/\/eu\.mesh\.example\.internal\/svc\/payments/);
  throwsInput(() => planAt(region("eu").service("payments").leaf().signCsr(csr({ other: ["IP:10.0.0.1"] })), s, now), /"IP:10\.0\.0\.1"/);
  throwsInput(() => planAt(region("eu").service("search").leaf().signCsr(csr()), s, now), /unknown service "search" in "eu"/);
});

test("a live CSR leaf keeps its intermediate trusted: a promotion retires the old generation only after it expires", () => {
  let s: DeepMutable<Snapshot> = established();
  const t1 = after(T0, 2 * DAY);
  s = step(region("eu").service("payments").leaf().signCsr(csr()), s, t1);
  const csrLeaf = (s.leaves.eu!.csr as Record<string, { notAfter: string }>).payments!;
  s = step(region("eu").intermediate().rotate(), s, after(t1, HOUR));
  const p = planAt(region("eu").leaves().renew({ services: ["ledger"] }), s, after(t1, 26 * HOUR));
  const old = p.after.scopes.eu!.generations.find((g) => g.gen === 1)!;
  assert.is(old.state, "retiring");
  assert.ok(Date.parse(old.retireAfter!) >= Date.parse(csrLeaf.notAfter), `${old.retireAfter} < ${csrLeaf.notAfter}`);
});

// ---- root-anchoring consumers ------------------------------------------------------------------------

const withConsumers = (s: DeepMutable<Snapshot>) => {
  s.config!.consumers = [{ name: "daemon-fleet", anchors: "root", reloads: "restart" }, { name: "cross-repo", anchors: "root", reloads: "live" }];
  return s;
};

test("a root rotation plan tells each declared root-anchoring consumer what to do, before CI promotes", () => {
  const p = planAt(root().rotate(), withConsumers(established()), after(T0, DAY));
  const i = p.next.findIndex((n) => n.startsWith("restart daemon-fleet after distributing bundles/root.pem (root G1 and G2)"));
  assert.ok(i >= 0, p.next.join("\n"));
  assert.ok(p.next.some((n) => n.startsWith("cross-repo reloads bundles/root.pem by itself")), p.next.join("\n"));
  assert.ok(i < p.next.findIndex((n) => n.startsWith("in CI after")), "consumers come before the CI promotion");
  const bare = planAt(root().rotate(), established(), after(T0, DAY));
  assert.ok(bare.notes.some((n) => n.includes(`no root-anchoring consumers are declared ("consumers" in pki.json)`)), bare.notes.join("\n"));
});

test("finishing a root rotation tells each consumer that the old root leaves root.pem", () => {
  let s: Snapshot = withConsumers(established());
  s = step(root().rotate(), s, after(T0, DAY));
  s = step(all().leaves().renew(), s, after(T0, 2 * DAY + HOUR));
  s = step(all().leaves().renew(), s, after(T0, 12 * DAY));
  const p = planAt(root().finish(), s, after(T0, 12 * DAY + HOUR));
  assert.ok(p.next.includes("restart daemon-fleet after distributing bundles/root.pem (root G1 leaves it; until restarted daemon-fleet still trusts it)"), p.next.join("\n"));
  assert.ok(p.next.includes("cross-repo reloads bundles/root.pem by itself: distribute it (root G1 leaves it)"), p.next.join("\n"));
});

test("pki.json without the new fields stays valid; a consumer with an unknown reload mode is refused", () => {
  const cfg = { ...established().config!, recipients: { root: "age1" + "p".repeat(58), ci: "age1" + "q".repeat(58) } } as Record<string, unknown>;
  assert.ok(v.safeParse(PkiConfigSchema, cfg).success);
  const bad = v.safeParse(PkiConfigSchema, { ...cfg, consumers: [{ name: "daemon-fleet", anchors: "root", reloads: "sometimes" }] });
  assert.not.ok(bad.success);
  assert.match(bad.issues![0].message, /reloads is "live" .* or "restart"/);
  assert.ok(v.safeParse(PkiConfigSchema, { ...cfg, spiffeRefreshHint: "90s" }).success);
  assert.not.ok(v.safeParse(PkiConfigSchema, { ...cfg, spiffeRefreshHint: "soon" }).success);
});

test("every write-bundle step declares the mesh-format files beside the PEM (the SPIFFE bundle beside its trust domain's PEM), and the checker accepts it", () => {
  const p = planAt(region("eu").intermediate().rotate(), established(), after(T0, DAY));
  const w = stepsOf(p, "write-bundle").map((s) => s.writes);
  assert.equal(w, [
    ["bundles/eu.pem", "bundles/eu.configmap.yaml"],
    ["bundles/global.pem", "bundles/global.configmap.yaml"],
    [`bundles/trust-domains/eu.${DOMAIN}.pem`, "bundles/eu.spiffe.json"],
  ]);
  assert.equal(checkPlan(p), []);
});

test.run();
