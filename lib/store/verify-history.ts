import { InputError } from "../errors.ts";
import { warning, type Finding } from "../check/verify-rules.ts";
import { rollbackFindings } from "../check/rollback.ts";
import type { Store } from "./fs-store.ts";
import { baseline, filesAt, gitPlace } from "./history.ts";

/**
 * The tree against an earlier revision in git (lib/store/history.ts, lib/check/rollback.ts).
 * Outside a git work tree there is no history: nothing to say, unless --since asked for it.
 */
export async function historyFindings(dir: string, store: Store, since: string | undefined): Promise<Finding[]> {
  const place = await gitPlace(dir);
  if (place.kind === "none") {
    if (since !== undefined) throw new InputError(`--since compares with git history, but ${dir} is not inside a git work tree; run verify in the infra repo's checkout`);
    return [];
  }
  if (place.kind === "unavailable") {
    if (since !== undefined) throw new InputError(`--since needs git, which could not be run (${place.why}); install git (under deno, add --allow-run=git)`);
    return [warning("rollback.unchecked", `git could not be run (${place.why}), so the tree was not compared with its history for a rollback; install git (under deno, add --allow-run=git), or run verify --since <rev> where git runs`)];
  }
  const b = await baseline(place, since);
  if (!b) return [];
  const then = await filesAt(place, b.rev);
  const now = new Map<string, string | null>();
  for (const p of then.keys()) now.set(p, await store.read(p));
  return rollbackFindings({ label: b.label, then, now });
}
