// Type-level tests of lib/dsl: what cannot be done has no method. Not run by uvu (the file name
// does not end in .test.ts); checked by `npx tsc -p tsconfig.json`, which fails if a line marked
// with the expect-error directive is in fact legal. The functions are never called.
import { all, global, region, root, scope, type Intent } from "../lib/dsl/mod.ts";

export function illegalChains(): void {
  // The root has no leaves, and no per-scope verbs.
  // @ts-expect-error: root() has no leaves()
  root().leaves();
  // @ts-expect-error: root() has no add()
  root().add();
  // @ts-expect-error: root() has no intermediate()
  root().intermediate();
  // @ts-expect-error: root().init() needs name, domain and ciRecipient
  root().init();
  // @ts-expect-error: root().init() needs a ciRecipient
  root().init({ name: "acme", domain: "mesh.example.internal" });

  // all() only renews leaves: rotating or recovering every intermediate at once is not a verb.
  // @ts-expect-error: all() has no intermediate()
  all().intermediate();
  // @ts-expect-error: all() has no add()
  all().add();
  // @ts-expect-error: all() has no service()
  all().service("payments");

  // A scope has leaves() (plural) and service(name).leaf(), not leaf().
  // @ts-expect-error: a region has no leaf()
  region("eu").leaf();
  // @ts-expect-error: a service is not rotated itself, its leaf is
  region("eu").service("x").rotate();
  // @ts-expect-error: a service builder has no leaves()
  region("eu").service("x").leaves();
  // @ts-expect-error: one leaf is rotated, not renewed
  region("eu").service("x").leaf().renew();
  // @ts-expect-error: leaves are renewed, not rotated
  region("eu").leaves().rotate();
  // @ts-expect-error: a region is not rotated itself, its intermediate is
  region("eu").rotate();

  // Intermediates are rotated (planned) or recovered (compromise), never "renewed".
  // @ts-expect-error: an intermediate has no renew()
  global().intermediate().renew();
  // @ts-expect-error: an intermediate has no add()
  region("eu").intermediate().add();
  // @ts-expect-error: force is a boolean
  region("eu").intermediate().rotate({ force: "yes" });
  // @ts-expect-error: recover() takes no options
  region("eu").intermediate().recover({ force: true });

  // Names are strings; a builder's scope is a validated ScopeName, not any string.
  // @ts-expect-error: region() takes a string
  region(42);
  // @ts-expect-error: a bare string is not a ScopeName
  const _scopeName: ReturnType<typeof region>["scope"] = "eu";

  // Intents are read-only data.
  const i = region("eu").add();
  // @ts-expect-error: kind is readonly
  i.kind = "root.rotate";
  // @ts-expect-error: origin is readonly
  i.origin = "tasks/elsewhere.ts:1";
  // @ts-expect-error: builders are read-only too
  region("eu").scope = region("us").scope;
  // @ts-expect-error: an intent is not a function
  i();
}

export function legalChains(): Intent[] {
  const eu = region("eu");
  const out: Intent[] = [
    root().init({ name: "acme mesh", domain: "mesh.example.internal", ciRecipient: "age1…" }),
    root().rotate(),
    root().finish(),
    root().crl(),
    eu.add(),
    global().add(),
    eu.intermediate().rotate(),
    eu.intermediate().rotate({ force: true }),
    eu.intermediate().rotate({}),
    global().intermediate().recover(),
    eu.leaves().renew(),
    global().leaves().renew(),
    all().leaves().renew(),
    eu.service("payments").leaf().rotate(),
    scope("us").intermediate().rotate(),
  ];
  // Intents narrow on their `kind` discriminant.
  for (const x of out) {
    if (x.kind === "intermediate.rotate") {
      const force: boolean = x.force;
      void force;
    }
    if (x.kind === "leaves.renew") {
      const s: string = x.scope; // a ScopeName or "all"
      void s;
    }
    if (x.kind === "root.init") {
      const d: string = x.domain;
      void d;
    }
  }
  return out;
}
