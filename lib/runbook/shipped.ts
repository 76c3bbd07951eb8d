import type { Task } from "../task.ts";

// The shipped runbooks compiled into the prebuilt CLI (dist/cli/inforge.mjs, made by
// `npm run build`), by the path their source has under tasks/. The prebuilt CLI runs without
// a TypeScript loader, so it cannot import tasks/*.ts at run time; importTask asks here first.
// Under tsx or Deno nothing is registered and tasks are imported from their files as usual.
const compiled = new Map<string, Task>();

export function registerShippedTask(file: string, t: Task): void {
  compiled.set(file, t);
}

export function compiledTask(file: string): Task | undefined {
  return compiled.get(file);
}
