import * as v from "valibot";
import { InputError } from "../errors.ts";

// Durations are written as "<n><unit>" (s, m, h, d) in config and flags, and held as milliseconds.
const UNIT: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export type Millis = number & { readonly __brand: "Millis" };

export function parseDuration(text: string): Millis | null {
  const m = /^(\d{1,7})([smhd])$/.exec(text);
  if (!m) return null;
  const ms = Number(m[1]) * UNIT[m[2]!]!;
  return ms > 0 ? (ms as Millis) : null;
}

export const Duration = v.pipe(
  v.string(),
  v.check((s) => parseDuration(s) !== null, 'a duration is a positive number and a unit: "30s", "15m", "24h", "90d"'),
);

/**
 * `--wait`: how long to wait for a lock, in seconds or minutes ("60s", "5m"; "0s" waits not at
 * all); absent means 0. The one parser for every command that takes the flag.
 */
export function parseWait(w: string | true | undefined): number {
  if (w === undefined) return 0;
  const m = typeof w === "string" ? /^(\d{1,7})(s|m)$/.exec(w) : null;
  if (!m) throw new InputError(`invalid --wait "${w === true ? "" : w}"; give seconds or minutes such as 60s or 5m`);
  return Number(m[1]) * UNIT[m[2]!]!;
}

/** Render milliseconds the way an operator reads them: "7d", "36h", "45m". */
export function formatDuration(ms: number): string {
  const neg = ms < 0;
  let a = Math.abs(ms);
  const d = Math.floor(a / 86_400_000);
  a -= d * 86_400_000;
  const h = Math.floor(a / 3_600_000);
  a -= h * 3_600_000;
  const m = Math.floor(a / 60_000);
  const parts = d >= 3 ? [`${d}d`] : [d ? `${d}d` : "", h ? `${h}h` : "", !d && m ? `${m}m` : ""].filter(Boolean);
  return (neg ? "-" : "") + (parts.join("") || "0m");
}
