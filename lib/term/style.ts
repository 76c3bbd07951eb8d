// Colour only on a terminal and never under NO_COLOR (https://no-color.org).
const on = (() => {
  const p = (globalThis as { process?: { env: Record<string, string | undefined>; stdout?: { isTTY?: boolean } } }).process;
  return !!p?.stdout?.isTTY && !p.env.NO_COLOR && p.env.TERM !== "dumb";
})();
const wrap = (code: string) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
export const bold = wrap("1");
export const dim = wrap("2");
export const red = wrap("31");
export const green = wrap("32");
export const yellow = wrap("33");
export const cyan = wrap("36");

/** A plain text table: columns padded to their widest cell (cells measured without colour codes). */
export function table(rows: readonly (readonly string[])[]): string {
  const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, plain(c).length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + " ".repeat(widths[i]! - plain(c).length))).join("  ").trimEnd())
    .join("\n");
}
