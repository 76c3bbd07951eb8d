import type { Task } from "../task.ts";
import { kebab } from "./args.ts";

type Schema = { type?: string; expects?: string; entries?: Record<string, Schema>; wrapped?: Schema; default?: unknown; pipe?: Schema[]; options?: unknown[] };

/** `inforge run <task> --help`: the summary, each argument from the valibot schema (type, default), examples. */
export function taskHelp(name: string, t: Task): string {
  const entries = (t.args as unknown as Schema).entries ?? {};
  const rows = Object.entries(entries).map(([k, s]) => {
    const optional = s.type === "optional" || s.type === "exact_optional" || s.type === "nullish";
    const inner = optional && s.wrapped ? s.wrapped : s;
    const def = optional && s.default !== undefined && typeof s.default !== "function" ? ` (default: ${JSON.stringify(s.default)})` : optional ? " (optional)" : " (required)";
    return `  --${kebab(k)} <${typeOf(inner)}>${def}`;
  });
  const examples = (t.examples ?? []).map((e) => "  " + e);
  return [`${name}: ${t.summary}`, "", "arguments:", ...(rows.length ? rows : ["  (none)"]), ...(examples.length ? ["", "examples:", ...examples] : [])].join("\n") + "\n";
}

function typeOf(s: Schema): string {
  const base = s.pipe?.[0] ?? s;
  if (base.type === "picklist" && base.options) return base.options.map(String).join("|");
  return base.expects && base.expects !== "unknown" ? base.expects.replace(/^"|"$/g, "") : (base.type ?? "value");
}
