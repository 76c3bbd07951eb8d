import type { Posture } from "../errors.ts";
import * as P from "./paths.ts";
import type { Snapshot } from "./state.ts";

/** A sealed key file, and whether the state requires it to exist. */
export interface HeldKey {
  readonly path: string;
  /** False for files a tree may or may not have: a scope's leaf key file before its first leaf,
   *  per-leaf key files of older trees (leaves/<scope>/<service>.key.age). */
  readonly required: boolean;
}

/**
 * Every sealed key the state says a posture's identity holds: root keys for the offline root;
 * intermediate and leaf keys for CI. Every generation, retired and revoked ones too — a key
 * re-seal (`pki rekey`) must leave nothing behind that only the old identity opens.
 */
export function heldKeys(s: Snapshot, p: Posture): HeldKey[] {
  // Root keys on a PKCS#11 token (pki.json rootKeys) have no sealed file to re-seal.
  if (p === "root") return s.root.generations.filter((g) => s.config?.rootKeys?.[`G${g.gen}`] === undefined).map((g) => ({ path: P.rootKey(g.gen), required: true }));
  const scopes = Object.keys(s.scopes).sort();
  return [
    ...scopes.flatMap((scope) => s.scopes[scope]!.generations.map((g) => ({ path: P.intermediateKey(scope, g.gen), required: true }))),
    ...Object.keys(s.leaves).sort().flatMap((scope) => [
      { path: P.leafKeys(scope), required: false },
      ...Object.keys(s.leaves[scope]!.leaves).sort().map((svc) => ({ path: P.leafKey(scope, svc), required: false })),
    ]),
  ];
}
