import { InputError } from "../errors.ts";

export interface Args {
  readonly positionals: readonly string[];
  readonly flags: Readonly<Record<string, string | true>>;
}

/** `--name value`, `--name=value`, boolean `--name` (when `booleans` lists it or no value follows). */
export function parseArgs(argv: readonly string[], booleans: ReadonlySet<string> = new Set()): Args {
  const positionals: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("--") || a === "--") {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new InputError(`malformed flag "${a}"; flags look like --region eu`);
    if (name in flags) throw new InputError(`the flag --${name} is given twice; give it once`);
    if (eq > 0) flags[name] = a.slice(eq + 1);
    else if (booleans.has(name) || i + 1 >= argv.length || argv[i + 1]!.startsWith("--")) flags[name] = true;
    else flags[name] = argv[++i]!;
  }
  return { positionals, flags };
}

/** kebab-case flag names to the camelCase keys task argument schemas use. */
export const camel = (s: string) => s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
export const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());

/** The nearest of `options` to `word`, if it is close enough to be a likely typo. */
export function nearest(word: string, options: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const o of options) {
    const d = distance(word, o);
    if (d < bestD) [best, bestD] = [o, d];
  }
  return best !== null && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}
