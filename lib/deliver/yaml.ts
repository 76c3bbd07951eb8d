// The small YAML the manifests need, written by hand: maps, strings, numbers and booleans. No
// YAML library at runtime: the output is small and fixed in shape, and a property test feeds
// every shape of input through a real parser (test/deliver.test.ts).
// - A string that reads as itself in every YAML a Kubernetes tool may use (1.1 and 1.2) is
//   written plain, as the Kubernetes docs write manifests (`kind: Secret`); that rules out the
//   words 1.1 reads as booleans or null (`yes`, `off`, `null`, …) and anything starting with a
//   digit, sign, underscore or indicator character (`0x10`, `-1`, `*a`), and a bare exponent (`e0`).
// - Multi-line text (PEM, JSON) is a literal block scalar ("|"), readable in review — when it
//   survives one: no carriage return or other control character (YAML normalises line breaks,
//   §5.4), no leading empty line or line of blanks (a block's indentation is taken from its first
//   non-empty line, §8.1.1.1).
// - Everything else is JSON-quoted: a JSON string is a YAML double-quoted scalar, whose escapes
//   carry any character (§7.3.1).

export type YamlValue = string | number | boolean | { readonly [key: string]: YamlValue };

/** A YAML document (ends with a newline) for a map of maps, strings, numbers and booleans. */
export function yamlDocument(value: { readonly [key: string]: YamlValue }): string {
  return Object.keys(value).length ? lines(value, 0).join("\n") + "\n" : "{}\n";
}

// YAML 1.1 booleans and nulls (yaml.org/type/bool.html, null.html); 1.2 core's are a subset.
const RESERVED = /^(?:y|n|yes|no|true|false|on|off|null|~)$/i;
const PLAIN = /^[A-Za-z][A-Za-z0-9_./-]*$/;
// A bare exponent ("e0", "E5") is a float to lenient 1.1 resolvers (the yaml package's among them).
const EXPONENT = /^[eE][0-9_]*$/;

/** A scalar that every YAML reads back as this same string without quotes. */
const plain = (s: string) => PLAIN.test(s) && !RESERVED.test(s) && !EXPONENT.test(s);

function scalar(v: string | number | boolean): string {
  if (typeof v === "string") return plain(v) ? v : JSON.stringify(v);
  if (typeof v === "number") return Number.isNaN(v) ? ".nan" : v === Infinity ? ".inf" : v === -Infinity ? "-.inf" : Object.is(v, -0) ? "-0.0" : String(v);
  return String(v);
}

// Printable text and tabs only, no leading empty line, no line of only blanks.
const blockSafe = (s: string) => s.includes("\n") && !/[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]/.test(s) && !s.startsWith("\n") && !/(^|\n)[ \t]+(\n|$)/.test(s);

function lines(map: { readonly [key: string]: YamlValue }, indent: number): string[] {
  const pad = " ".repeat(indent);
  const out: string[] = [];
  for (const [k, v] of Object.entries(map)) {
    const key = plain(k) ? k : JSON.stringify(k);
    if (typeof v === "object") {
      if (Object.keys(v).length) out.push(`${pad}${key}:`, ...lines(v, indent + 2));
      else out.push(`${pad}${key}: {}`);
    } else if (typeof v === "string" && blockSafe(v)) {
      out.push(`${pad}${key}: ${block(v)}`, ...body(v, indent + 2));
    } else {
      out.push(`${pad}${key}: ${scalar(v)}`);
    }
  }
  return out;
}

// Chomping indicator (YAML 1.2 §8.1.1.2): "|" keeps one final newline, "|-" none, "|+" all.
function block(s: string): string {
  const lead = /^[ \t]/.test(s) ? "2" : ""; // a leading blank needs an explicit indentation indicator
  if (!s.endsWith("\n")) return `|${lead}-`;
  return s.endsWith("\n\n") ? `|${lead}+` : `|${lead}`;
}

function body(s: string, indent: number): string[] {
  const pad = " ".repeat(indent);
  const text = s.endsWith("\n") && !s.endsWith("\n\n") ? s.slice(0, -1) : s.replace(/\n$/, "");
  return text.split("\n").map((l) => (l === "" ? "" : pad + l));
}
