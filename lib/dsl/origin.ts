// Where a DSL verb was called from, read off the stack: the first frame outside lib/dsl.
// Pure (no I/O): only the Error stack string is read.
export function callerOrigin(): string {
  const stack = new Error().stack ?? "";
  for (const line of stack.split("\n").slice(1)) {
    const m = /(?:\(|at )((?:file:\/\/)?[^()\s]+?):(\d+):\d+\)?\s*$/.exec(line.trim());
    if (!m) continue;
    const file = m[1]!.replace(/^file:\/\//, "");
    if (/[\\/]lib[\\/]dsl[\\/]/.test(file)) continue;
    const tasks = file.lastIndexOf("/tasks/");
    const short = tasks >= 0 ? file.slice(tasks + 1) : file.split(/[\\/]/).slice(-2).join("/");
    return `${short}:${m[2]}`;
  }
  return "<unknown>";
}
