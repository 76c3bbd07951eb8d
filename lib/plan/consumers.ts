import type { PkiConfig } from "../model/config.ts";

// What each root-anchoring consumer declared in pki.json ("consumers") must do when root.pem
// changes. Most root-rotation outages come from a consumer that never got (or never reloaded)
// the new root, so the plan names every one of them instead of saying "distribute the bundle".

/** `next` lines for a root rotation: root.pem now holds `old` and `nu` (dual-root overlap). */
export function consumersOnRotate(cfg: PkiConfig, old: number, nu: number): { next: string[]; notes: string[] } {
  const list = cfg.consumers ?? [];
  if (!list.length) return { next: [], notes: [`no root-anchoring consumers are declared ("consumers" in pki.json): make sure everything that loads bundles/root.pem gets the new file (root G${old} and G${nu}) before the intermediates are promoted`] };
  return {
    next: list.map((c) =>
      c.reloads === "restart"
        ? `restart ${c.name} after distributing bundles/root.pem (root G${old} and G${nu}); it does not reload trust by itself`
        : `${c.name} reloads bundles/root.pem by itself: distribute it (root G${old} and G${nu}), no restart needed`),
    notes: [],
  };
}

/** `next` lines for the end of the overlap: `old` leaves root.pem. */
export function consumersOnFinish(cfg: PkiConfig, old: readonly number[]): string[] {
  const gone = old.map((g) => `G${g}`).join(", ");
  return (cfg.consumers ?? []).map((c) =>
    c.reloads === "restart"
      ? `restart ${c.name} after distributing bundles/root.pem (root ${gone} leaves it; until restarted ${c.name} still trusts it)`
      : `${c.name} reloads bundles/root.pem by itself: distribute it (root ${gone} leaves it)`);
}
