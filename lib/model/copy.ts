import { StateError } from "../errors.ts";

/**
 * A writable copy of state data (plain objects, arrays, strings, numbers, booleans, null): new
 * objects and arrays, the same string values. structuredClone copies every string as well, and a
 * fleet's state is mostly strings: a first mint's apply held a second copy of each leaf's two
 * dates (heap snapshot at 10,000 leaves), and a renewal of every leaf copies each serial,
 * fingerprint and date twice (planning, then apply: about 250 bytes a leaf each time). Anything
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
