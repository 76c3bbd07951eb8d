// The order String.prototype.localeCompare gives inforge's names (scopes, "eu G2", "root CRL"),
// without calling it: the first localeCompare of a process loads ICU's collator, 8–16 ms
// measured on Node 20 — a tenth of `inforge pki status`'s whole start. For letters, digits,
// space and "-" the root collation's order is the code-point order of the lowercased strings
// (space < "-" < digits < letters), ties broken lowercase first; anything else is still
// left to localeCompare. test/text-order.test.ts checks the equivalence against ICU.
const SIMPLE = /^[A-Za-z0-9 -]*$/;

export function textOrder(a: string, b: string): number {
  if (!SIMPLE.test(a) || !SIMPLE.test(b)) return a.localeCompare(b);
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  if (la !== lb) return la < lb ? -1 : 1;
  // Equal but for case: at the first difference the lowercase letter (the higher code point) comes first.
  return a === b ? 0 : a < b ? 1 : -1;
}
