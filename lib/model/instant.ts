// ISO-8601 instants as the state files write them, parsed. The planner and the checker parse a
// fleet's leaf dates several times a leaf, and a fleet's leaves share a handful of dates.

/** Date.parse, remembered for the last few texts. */
export function ms(isoText: string): number {
  const hit = seen.get(isoText);
  if (hit !== undefined) return hit;
  const t = Date.parse(isoText);
  if (seen.size >= 64) seen.delete(seen.keys().next().value!);
  seen.set(isoText, t);
  return t;
}
const seen = new Map<string, number>();
