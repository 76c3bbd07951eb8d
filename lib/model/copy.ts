import { StateError } from "../errors.ts";

/**
 * A writable copy of state data (plain objects, arrays, strings, numbers, booleans, null): new
 * objects and arrays, the same string values. structuredClone copies every string as well, and a
 * fleet's state is mostly strings (serials, fingerprints, dates): at 100,000 leaves that second
 * copy of the plan's leaf records cost about 25 MB of heap (measured, bench --scale). Anything
 * that is not plain data is a bug of the caller: refused, not copied by reference.
 */
export function copyData<T>(x: T): T {
  if (x === null || typeof x !== "object") {
    if (typeof x === "function" || typeof x === "symbol" || typeof x === "bigint") throw new StateError(`internal: state data holds a ${typeof x}`);
    return x;
  }
  if (Array.isArray(x)) return x.map(copyData) as T;
  const proto = Object.getPrototypeOf(x);
  if (proto !== Object.prototype && proto !== null) throw new StateError(`internal: state data holds a ${(x as object).constructor?.name ?? "non-plain object"}`);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(x)) out[k] = copyData((x as Record<string, unknown>)[k]);
  return out as T;
}
