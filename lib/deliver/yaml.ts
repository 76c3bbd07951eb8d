// The small YAML the manifests need, written by hand: maps, strings and numbers. Single-line
// strings are JSON-quoted (JSON strings are YAML double-quoted scalars, so any character is safe);
// multi-line strings are literal block scalars ("|"), which keep PEM and JSON readable in review.
// No YAML library at runtime: the output is small, fixed in shape and tested with a real parser.

export type YamlValue = string | number | boolean | { readonly [key: string]: YamlValue };

/** A YAML document (ends with a newline) for a map of maps, strings and numbers. */
export function yamlDocument(value: { readonly [key: string]: YamlValue }): string {
  return lines(value, 0).join("\n") + "\n";
}

function lines(map: { readonly [key: string]: YamlValue }, indent: number): string[] {
  const pad = " ".repeat(indent);
  const out: string[] = [];
  for (const [k, v] of Object.entries(map)) {
    const key = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(k) ? k : JSON.stringify(k);
    if (typeof v === "object") {
      out.push(`${pad}${key}:`, ...lines(v, indent + 2));
    } else if (typeof v === "string" && v.includes("\n")) {
      out.push(`${pad}${key}: ${block(v)}`, ...body(v, indent + 2));
    } else {
      out.push(`${pad}${key}: ${typeof v === "string" ? JSON.stringify(v) : String(v)}`);
    }
  }
  return out;
}

// Chomping indicator (YAML 1.2 §8.1.1.2): "|" keeps one final newline, "|-" none, "|+" all.
function block(s: string): string {
  const lead = /^[ \t]/.test(s) ? "2" : ""; // a leading space needs an explicit indentation indicator
  if (!s.endsWith("\n")) return `|${lead}-`;
  return s.endsWith("\n\n") ? `|${lead}+` : `|${lead}`;
}

function body(s: string, indent: number): string[] {
  const pad = " ".repeat(indent);
  const text = s.endsWith("\n") && !s.endsWith("\n\n") ? s.slice(0, -1) : s.replace(/\n$/, "");
  return text.split("\n").map((l) => (l === "" ? "" : pad + l));
}
