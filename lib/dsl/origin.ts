// Where a DSL verb was called from, read off the stack: the first frame outside lib/dsl.
// Pure (no I/O): only the Error stack string is read.

/** Maps a stack frame of generated code back to its source (file, 1-based line), or null. */
export type FrameMapper = (file: string, line: number, column: number) => { file: string; line: number } | null;
let mapFrame: FrameMapper | null = null;

/**
 * The prebuilt CLI (one bundled file, scripts/build.ts) installs a mapper so that frames of the
 * bundle still read as lib/dsl/… and tasks/<name>.ts:<line>; the sources need none.
 */
export function setFrameMapper(f: FrameMapper | null): void {
  mapFrame = f;
}

export function callerOrigin(): string {
  const stack = new Error().stack ?? "";
  for (const line of stack.split("\n").slice(1)) {
    const m = /(?:\(|at )((?:file:\/\/)?[^()\s]+?):(\d+):(\d+)\)?\s*$/.exec(line.trim());
    if (!m) continue;
    const mapped = mapFrame?.(m[1]!, Number(m[2]), Number(m[3])) ?? null;
    if (mapped) m[2] = String(mapped.line);
    const file = (mapped?.file ?? m[1]!).replace(/^file:\/\//, "");
    if (/[\\/]lib[\\/]dsl[\\/]/.test(file)) continue;
    const tasks = file.lastIndexOf("/tasks/");
    const short = tasks >= 0 ? file.slice(tasks + 1) : file.split(/[\\/]/).slice(-2).join("/");
    return `${short}:${m[2]}`;
  }
  return "<unknown>";
}
