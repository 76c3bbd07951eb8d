// lib/dsl: fluent builders → frozen, JSON-serialisable intents that remember the runbook line.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { all, global, region, root, scope, type Intent } from "../lib/dsl/mod.ts";
import { InputError } from "../lib/errors.ts";

/** The line of this file that called it, read off the stack independently of lib/dsl/origin.ts. */
function lineHere(): number {
  const frame = new Error().stack!.split("\n")[2] ?? "";
  const m = /dsl\.test\.ts:(\d+):\d+/.exec(frame);
  if (!m) throw new Error(`no line in ${frame}`);
  return Number(m[1]);
}

const everyVerb = (): Intent[] => [
  root().init({ name: "acme mesh", domain: "mesh.example.internal", ciRecipient: "age1" + "q".repeat(58) }),
  root().rotate(),
  root().finish(),
  root().crl(),
  region("eu").add(),
  global().add(),
  region("eu").intermediate().rotate(),
  region("eu").intermediate().rotate({ force: true }),
  region("eu").intermediate().recover(),
  region("eu").leaves().renew(),
  all().leaves().renew(),
  region("eu").service("payments").leaf().rotate(),
];

test("a builder is reusable: two verbs from one region builder give two independent intents with the right kind and scope", () => {
  const eu = region("eu");
  const a = eu.intermediate().rotate();
  const b = eu.leaves().renew();
  assert.is(a.kind, "intermediate.rotate");
  assert.is(b.kind, "leaves.renew");
  assert.ok(a.kind === "intermediate.rotate" && a.scope === "eu" && a.force === false);
  assert.ok(b.kind === "leaves.renew" && b.scope === "eu");
  assert.is.not(a as object, b as object);
  assert.ok(Object.isFrozen(a) && Object.isFrozen(b));
  // Reusing the builder again gives an equal but distinct intent; the first is unchanged.
  const c = eu.intermediate().rotate({ force: true });
  assert.ok(c.kind === "intermediate.rotate" && c.force === true);
  assert.ok(a.kind === "intermediate.rotate" && a.force === false);
  assert.is(eu.scope, "eu");
});

test("builders and intents are frozen: assigning to them throws and changes nothing", () => {
  const eu = region("eu");
  assert.ok(Object.isFrozen(eu));
  assert.ok(Object.isFrozen(eu.intermediate()));
  assert.ok(Object.isFrozen(eu.leaves()));
  assert.ok(Object.isFrozen(eu.service("payments")));
  assert.ok(Object.isFrozen(eu.service("payments").leaf()));
  assert.ok(Object.isFrozen(root()));
  assert.ok(Object.isFrozen(all()));
  assert.throws(() => {
    (eu as { scope: string }).scope = "us";
  }, TypeError);
  assert.is(eu.scope, "eu");
  const i = eu.add();
  assert.throws(() => {
    (i as { scope: string }).scope = "us";
  }, TypeError);
  assert.ok(i.kind === "scope.add" && i.scope === "eu");
  for (const x of everyVerb()) assert.ok(Object.isFrozen(x), x.kind);
});

test("every intent is plain JSON data: it round-trips through JSON unchanged and carries no functions", () => {
  for (const i of everyVerb()) {
    assert.equal(JSON.parse(JSON.stringify(i)), i, i.kind);
    assert.ok(Object.values(i).every((v) => ["string", "boolean"].includes(typeof v)), `${i.kind} holds only strings and booleans`);
  }
});

test("an intent records the runbook line that made it", () => {
  const [a, line] = [region("eu").intermediate().rotate(), lineHere()];
  assert.match(a.origin, /(^|\/)dsl\.test\.ts:\d+$/);
  assert.is(a.origin, `test/dsl.test.ts:${line}`);
  const [b, line2] = [all().leaves().renew(), lineHere()];
  assert.is(b.origin, `test/dsl.test.ts:${line2}`);
  assert.ok(line2 > line);
  // A builder made on one line and used on another records where the verb was called.
  const eu = scope("eu");
  const [c, line3] = [eu.service("payments").leaf().rotate(), lineHere()];
  assert.is(c.origin, `test/dsl.test.ts:${line3}`);
});

test("every verb records an origin in this file", () => {
  for (const i of everyVerb()) assert.match(i.origin, /^test\/dsl\.test\.ts:\d+$/, i.kind);
});

const BAD_NAMES: [label: string, name: string][] = [
  ["a path escape", "../eu"],
  ["a slash", "eu/x"],
  ["uppercase", "EU"],
  ["the empty string", ""],
  ["a name too long for a DNS label", "a".repeat(40)], // scope labels stop at 32; services get 64 below
  ["a Cyrillic look-alike", "\u0435u"], // "еu": Cyrillic е, Latin u
  ["a dot", "eu.x"],
  ["a trailing hyphen", "eu-"],
  ["a leading digit", "1eu"],
  ["a NUL byte", "eu\u0000"],
  ["a space", "e u"],
];

const throwsQuoted = (fn: () => unknown, name: string, what: RegExp) => {
  try {
    fn();
  } catch (e) {
    assert.instance(e, InputError);
    const msg = (e as Error).message;
    assert.ok(msg.includes(JSON.stringify(name)), `expected the name quoted in: ${msg}`);
    assert.match(msg, what);
    return;
  }
  assert.unreachable(`${JSON.stringify(name)} was accepted`);
};

for (const [label, name] of BAD_NAMES) {
  test(`region() refuses ${label} with an InputError that quotes the name`, () => {
    throwsQuoted(() => region(name), name, /invalid region name/);
  });
  test(`service() refuses ${label} with an InputError that quotes the name`, () => {
    const svc = name.length === 40 ? "a".repeat(64) : name; // a service label may be 63 long
    throwsQuoted(() => region("eu").service(svc), svc, /invalid service name/);
  });
}

test("region() refuses \"root\", which names the root bundle", () => {
  throwsQuoted(() => region("root"), "root", /root bundle/);
  throwsQuoted(() => scope("root"), "root", /root bundle/);
});

test("region() refuses \"all\", which a renewal could not tell apart from every scope", () => {
  // all().leaves().renew() is { kind: "leaves.renew", scope: "all" }: a region called "all"
  // would make region("all").leaves().renew() renew every scope instead of that one region.
  throwsQuoted(() => region("all"), "all", /all/);
});

test("region() refuses \"global\" and points at global()", () => {
  throwsQuoted(() => region("global"), "global", /global\(\)/);
});

test("a name error says what a valid name looks like", () => {
  throwsQuoted(() => region("EU"), "EU", /lowercase DNS label/);
  throwsQuoted(() => region("eu").service("Pay_ments"), "Pay_ments", /lowercase DNS label/);
});

test("a region name may be 32 characters long, a service name 63", () => {
  assert.is(region("a".repeat(32)).scope, "a".repeat(32));
  throwsQuoted(() => region("a".repeat(33)), "a".repeat(33), /invalid region name/);
  const i = region("eu").service("s".repeat(63)).leaf().rotate();
  assert.ok(i.kind === "leaf.rotate" && i.service === "s".repeat(63));
  throwsQuoted(() => region("eu").service("s".repeat(64)), "s".repeat(64), /invalid service name/);
});

test("a name made of escaped ASCII is just that name", () => {
  const i = region("e\u0075").add();
  assert.ok(i.kind === "scope.add" && i.scope === "eu");
});

test("a non-string name is refused with an InputError", () => {
  assert.throws(() => region(42 as unknown as string), (e: unknown) => e instanceof InputError);
  assert.throws(() => region("eu").service(undefined as unknown as string), (e: unknown) => e instanceof InputError);
});

test("global().add() has scope global, and scope(\"global\") is the same builder", () => {
  const i = global().add();
  assert.ok(i.kind === "scope.add" && i.scope === "global");
  const j = scope("global").add();
  assert.ok(j.kind === "scope.add" && j.scope === "global");
  const k = scope("eu").leaves().renew();
  assert.ok(k.kind === "leaves.renew" && k.scope === "eu");
});

test("all().leaves().renew() has scope all", () => {
  const i = all().leaves().renew();
  assert.is(i.kind, "leaves.renew");
  assert.ok(i.kind === "leaves.renew" && i.scope === "all");
});

test("root verbs carry what they need and nothing else", () => {
  const init = root().init({ name: "acme mesh", domain: "mesh.example.internal", ciRecipient: "age1xyz" });
  const { origin: _o, ...rest } = init;
  assert.equal(rest, { kind: "root.init", name: "acme mesh", domain: "mesh.example.internal", ciRecipient: "age1xyz" });
  assert.equal(Object.keys(root().rotate()).sort(), ["kind", "origin"]);
  assert.equal(Object.keys(root().finish()).sort(), ["kind", "origin"]);
  assert.equal(Object.keys(root().crl()).sort(), ["kind", "origin"]);
});

test("a leaf rotation names its scope and service", () => {
  const i = region("us").service("checkout").leaf().rotate();
  const { origin: _o, ...rest } = i;
  assert.equal(rest, { kind: "leaf.rotate", scope: "us", service: "checkout" });
});

test("recover and add carry only kind, origin and scope", () => {
  for (const i of [region("eu").intermediate().recover(), region("eu").add()]) {
    assert.equal(Object.keys(i).sort(), ["kind", "origin", "scope"], i.kind);
  }
});

test.run();
