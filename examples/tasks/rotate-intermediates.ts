import { ScopeName, root, scope, task, v } from "inforge";

// A worked custom runbook (docs/custom-runbooks.md): the planned key roll of several scopes'
// intermediates in one reviewed plan, plus a fresh root-signed CRL. Root posture, run on the
// offline workstation:
//   INFORGE_TASKS_DIR=examples/tasks inforge run rotate-intermediates --scopes eu,us --plan
// Each scope's new generation is prepared and published in the bundles first; the next CI
// `inforge pki renew` after the propagation delay promotes them and re-issues the leaves.
export default task({
  summary: "Planned key roll of several scopes' intermediates at once, with a fresh root CRL",
  args: v.strictObject({
    // "--scopes eu,us": one flag, split and checked name by name.
    scopes: v.pipe(
      v.string(),
      v.transform((s) => [...new Set(s.split(",").map((x) => x.trim()).filter(Boolean))]),
      v.array(ScopeName),
      v.minLength(1, "give at least one scope, for example --scopes eu,us"),
    ),
    force: v.optional(v.boolean(), false),
  }),
  examples: ["inforge run rotate-intermediates --scopes eu,us --plan", "inforge run rotate-intermediates --scopes global,eu,us"],
  run: ({ scopes, force }) => [...scopes.map((name) => scope(name).intermediate().rotate({ force })), root().crl()],
});
