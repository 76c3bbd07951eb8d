// textOrder (lib/model/text-order.ts) sorts as localeCompare does, without loading ICU.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { textOrder } from "../lib/model/text-order.ts";

const sign = (n: number) => Math.sign(n);

test("textOrder agrees with localeCompare on names made of letters, digits, space and hyphen", () => {
  const name = fc.string({ unit: fc.constantFrom(..."aAbBgGiIzZ09 -"), maxLength: 8 });
  fc.assert(fc.property(name, name, (a, b) => sign(textOrder(a, b)) === sign(a.localeCompare(b))), { numRuns: 20_000 });
  // The calendar's subjects at one instant: an intermediate beside a mesh issuer of its scope.
  const subjects = ["eu cert-manager issuer G1", "eu G1", "eu G10", "eu G2", "eu istio issuer G1", "eu leaves", "eu-west G1", "global G1", "root CRL", "root G1", "Eu G1"];
  assert.equal([...subjects].sort(textOrder), [...subjects].sort((a, b) => a.localeCompare(b)));
});

test("textOrder leaves other text to localeCompare", () => {
  for (const [a, b] of [["root G1, G2", "root G1-x"], ["é", "f"], ["a/b", "a-b"]] as const) {
    assert.is(sign(textOrder(a, b)), sign(a.localeCompare(b)), `${a} vs ${b}`);
  }
});

test.run();
