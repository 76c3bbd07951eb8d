// The runtime we run on (Node through tsx, or Deno) and Deno's permission errors in our words.
// Deno refuses what its flags do not grant with a `NotCapable` error; left alone, code that
// treats a failed read as "missing" would turn that into a wrong answer instead of a clear stop.

const deno = (globalThis as { Deno?: { version?: { deno?: string } } }).Deno;

export const runtime: "deno" | "node" = deno ? "deno" : "node";

/** How a task file is run directly on this runtime, for the journal's `command`. */
export const directRunner = deno ? "deno run" : "tsx";

type Permission = { readonly name: "env"; readonly variable: string } | { readonly name: "run"; readonly command: string };

/**
 * Whether this run may do `p`: always under Node; under Deno, whether its flags grant it — asked
 * without a prompt, so a run never stops mid-way to ask (or fails on a read it only wanted to try).
 */
export function granted(p: Permission): boolean {
  const perms = (deno as { permissions?: { querySync(p: Permission): { state: string } } } | undefined)?.permissions;
  return !perms || perms.querySync(p).state === "granted";
}

/** True for Deno's refusal of an operation its permission flags do not allow. */
export function isDenied(e: unknown): e is Error {
  return (e as Error | null)?.name === "NotCapable";
}

/** One sentence for a Deno refusal: what was refused and the flag that grants it. */
export function deniedMessage(e: Error): string {
  const what = e.message.split("\n")[0]!.replace(/^Requires/, "requires").replace(/,\s*run again with/, " — run again with");
  return `deno refused an operation: ${what} (README "Runtimes" lists the least flags each command needs)`;
}
