import type { Generation } from "./state.ts";

// A root overlap (lib/plan/intents.ts root.rotate) ends with `pki rotate --root --finish`, which
// may run only once no intermediate of the old root is live. One answer for the planner (finish's
// precondition, renew's "next" line) and for status (its finding and calendar entry).

export interface RootOverlap {
  /** The retiring roots: still in root.pem until the overlap is finished. */
  readonly old: readonly Generation[];
  /** Intermediates signed by an old root that are still live (prepared, active or retiring). */
  readonly blockers: readonly { readonly scope: string; readonly g: Generation }[];
}

/** The open root overlap, or null when no root is retiring. */
export function rootOverlap(
  root: { readonly generations: readonly Generation[] },
  scopes: Readonly<Record<string, { readonly generations: readonly Generation[]; readonly issuers?: Readonly<Partial<Record<string, readonly Generation[]>>> } | undefined>>,
): RootOverlap | null {
  const old = root.generations.filter((g) => g.state === "retiring");
  if (!old.length) return null;
  const live = (g: Generation) => old.some((r) => r.gen === g.issuer) && g.state !== "retired" && g.state !== "revoked";
  // Mesh issuers chain to a root too: "eu istio" blocks like "eu" does.
  const blockers = Object.entries(scopes).sort(([a], [b]) => a.localeCompare(b)).flatMap(([scope, s]) => [
    ...(s?.generations ?? []).filter(live).map((g) => ({ scope, g })),
    ...Object.entries(s?.issuers ?? {}).sort(([a], [b]) => a.localeCompare(b)).flatMap(([mesh, gens]) => (gens ?? []).filter(live).map((g) => ({ scope: `${scope} ${mesh} issuer`, g }))),
  ]);
  return { old, blockers };
}

/** The `next` line / finding text once nothing live chains to the old root any more. */
export const finishReadyText = (old: readonly Generation[]) =>
  `the root overlap is ready to finish: no intermediate of root ${old.map((g) => `G${g.gen}`).join(", ")} is live any more; root posture: inforge pki rotate --root --finish (${old.length === 1 ? "it leaves" : "they leave"} root.pem)`;
