import { all, scope, task, v } from "inforge";

// A CI runbook with a shell step: renew what is due, then commit the pki directory with git.
// after() runs only once the plan has been applied (not for --plan, nor when nothing was due),
// and gets zx's `$` from inforge; if git fails the run exits non-zero, and what was applied
// stays applied (the journal has it), so the commit can be finished by hand.
//   INFORGE_TASKS_DIR=examples/tasks inforge run renew-and-commit --region eu
export default task({
  summary: "Renew due leaves (every scope, or one region) and commit the pki directory",
  args: v.strictObject({ region: v.optional(v.string()) }),
  examples: ["inforge run renew-and-commit", "inforge run renew-and-commit --region eu"],
  run: ({ region }) => (region ? scope(region).leaves().renew() : all().leaves().renew()),
  after: async ({ $, dir, written, entry }) => {
    await $`git add --all -- ${dir}`;
    await $`git commit --quiet -m ${`pki: renew (journal entry ${entry}, ${written.length} files)`} -- ${dir}`;
  },
});
