import type { Generation, Topology } from "./state.ts";

// A scope declared in regions/ whose intermediate was never issued: renew skips it, so its
// services get no leaves until the root posture runs `pki intermediate <scope>`. Named by renew
// (a note) and by status (a finding), from this one definition.

/** Declared scopes with no active intermediate, sorted. */
export function unprovisioned(topology: Topology, scopes: Readonly<Record<string, { readonly generations: readonly Generation[] } | undefined>>): string[] {
  return Object.keys(topology.scopes).filter((s) => !scopes[s]?.generations.some((g) => g.state === "active")).sort();
}

export const unprovisionedText = (scope: string) =>
  `regions/${scope}.json declares "${scope}", which has no intermediate yet, so none of its leaves are minted; root posture: inforge pki intermediate ${scope}`;
