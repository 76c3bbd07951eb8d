import { Duration, parseDuration, scope, task, v } from "inforge";

// A runbook that reads the state (docs/custom-runbooks.md): rotate every active intermediate
// older than --older-than, in one reviewed plan. Root posture, on the offline workstation:
//   INFORGE_TASKS_DIR=examples/tasks inforge run rotate-old-intermediates --older-than 300d --plan
// Nothing old enough: nothing to do (exit 0). A scope already mid-rotation is left alone.
export default task({
  summary: "Rotate every intermediate older than --older-than (such as 300d)",
  args: v.strictObject({
    olderThan: v.pipe(Duration, v.transform((s) => parseDuration(s)!)),
  }),
  examples: ["inforge run rotate-old-intermediates --older-than 300d --plan"],
  run: async ({ olderThan }, { state, now }) =>
    Object.entries(state.scopes)
      .filter(([, s]) => s.active && now.getTime() - Date.parse(s.active.notBefore) > olderThan)
      .filter(([, s]) => !s.generations.some((g) => g.state === "prepared"))
      .map(([name]) => scope(name).intermediate().rotate()),
});
