import * as v from "valibot";
import { InputError } from "../errors.ts";
import { ScopeName, ServiceName } from "../model/names.ts";

// A release names which services ship to which regions. One JSON file per release in the infra
// repo, releases/<name>.json (beside regions/), reviewed like any other change:
//
//   { "name": "2026-12-checkout",
//     "deploy": [ { "region": "eu", "services": ["payments", "checkout"] },
//                 { "region": "global", "services": ["auth"] } ] }
//
// "region" takes any scope, `global` included (as --region does). Every service must be declared
// in regions/<region>.json; the planner says so when one is not.

export const ReleaseSchema = v.strictObject({
  name: v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "a release name of lowercase letters, digits, '.', '_' or '-' (at most 63)")),
  description: v.optional(v.string()),
  deploy: v.pipe(
    v.array(
      v.strictObject({
        region: ScopeName,
        services: v.pipe(v.array(ServiceName), v.minLength(1, "an entry ships at least one service")),
      }),
    ),
    v.minLength(1, "a release deploys at least one region"),
  ),
});

export interface ReleaseEntry {
  readonly scope: string;
  readonly services: readonly string[];
}

export interface Release {
  readonly name: string;
  readonly entries: readonly ReleaseEntry[];
}

const EXAMPLE = `{"name": "<name>", "deploy": [{"region": "eu", "services": ["payments"]}]}`;

/** Validate a parsed release file; one sentence naming the file and the field on failure. */
export function parseRelease(data: unknown, path: string, stem: string): Release {
  const r = v.safeParse(ReleaseSchema, data);
  if (!r.success) {
    const i = r.issues[0];
    throw new InputError(`${path} is invalid at ${v.getDotPath(i) ?? "(top level)"}: ${i.message}; expected ${EXAMPLE}`);
  }
  if (r.output.name !== stem) throw new InputError(`${path} names the release "${r.output.name}"; a release file must be named after its release (rename it to ${r.output.name}.json)`);
  const seen = new Set<string>();
  for (const e of r.output.deploy) {
    if (seen.has(e.region)) throw new InputError(`${path} lists the region "${e.region}" twice; merge its services into one entry`);
    seen.add(e.region);
    const dup = e.services.find((s, k) => e.services.indexOf(s) !== k);
    if (dup) throw new InputError(`${path} lists the service "${dup}" twice for "${e.region}"; remove one`);
  }
  return { name: r.output.name, entries: r.output.deploy.map((e) => ({ scope: e.region, services: [...e.services] })) };
}
