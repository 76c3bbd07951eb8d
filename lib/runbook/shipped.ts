import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Task } from "../task.ts";

// The shipped runbooks compiled into the prebuilt CLI (dist/cli/inforge.mjs, made by
// `npm run build`), by the path their source has under tasks/. The prebuilt CLI runs without
// a TypeScript loader, so it cannot import tasks/*.ts at run time; importTask asks here first.
// Under tsx or Deno nothing is registered and tasks are imported from their files as usual.
// Each is registered as a loader, not a module: the bundle's entry then pulls in no task (and
// none of the library a task needs), which keeps `inforge --help` and `pki status` starting fast.
const compiled = new Map<string, () => Promise<{ default: Task }>>();

/** The runbooks that ship with inforge (here, not in tasks.ts, so the bundle's entry stays small). */
export const SHIPPED = resolve(dirname(fileURLToPath(import.meta.url)), "../../tasks");

export function registerShippedTask(file: string, load: () => Promise<{ default: Task }>): void {
  compiled.set(file, load);
}

export async function compiledTask(file: string): Promise<Task | undefined> {
  return (await compiled.get(file)?.())?.default;
}
