import * as v from "valibot";
import { StateError } from "../errors.ts";
import { PkiConfigSchema } from "../model/config.ts";
import * as P from "../model/paths.ts";
import { parseScope } from "../model/names.ts";
import {
  EMPTY_SNAPSHOT, LeafIndexSchema, RootFileSchema, ScopeFileSchema, type LeafIndex, type ScopeFile, type Snapshot,
} from "../model/state.ts";
import type { FsStore, Store } from "./fs-store.ts";

/** Validate one JSON state file's text; one sentence naming the file and field on failure. */
function parseJson<S extends v.GenericSchema>(path: string, text: string | null, schema: S): v.InferOutput<S> | null {
  if (text === null) return null;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new StateError(`${path} is not valid JSON; restore it from git (git checkout -- ${path})`);
  }
  const r = v.safeParse(schema, data);
  if (!r.success) {
    const i = r.issues[0];
    const at = v.getDotPath(i) ?? "(top level)";
    throw new StateError(`${path} is invalid at ${at}: ${i.message}; fix the field or restore the file from git`);
  }
  return r.output;
}

/** The state files of a directory whose `scopes/` and `leaves/` list these entries. */
interface StateLayout {
  readonly scopes: readonly string[];
  readonly leaves: readonly string[];
  /** pki.json, root.json, each scope.json, each leaf index: the order of the texts parseSnapshot takes. */
  readonly paths: readonly string[];
}

function stateLayout(scopeDirs: readonly string[], leafDirs: readonly string[]): StateLayout {
  const scopes = scopeDirs.map((n) => safeName(n, "scopes"));
  const leaves = leafDirs.map((n) => safeName(n, "leaves"));
  return { scopes, leaves, paths: [P.CONFIG, P.ROOT_STATE, ...scopes.map(P.scopeState), ...leaves.map(P.leafIndex)] };
}

/** A snapshot from the texts of `files.paths`, in that order (null: absent). Pure. */
function parseSnapshot(files: StateLayout, texts: readonly (string | null)[]): Snapshot {
  const config = parseJson(P.CONFIG, texts[0] ?? null, PkiConfigSchema);
  const root = parseJson(P.ROOT_STATE, texts[1] ?? null, RootFileSchema) ?? EMPTY_SNAPSHOT.root;
  if (!config && root.generations.length) throw new StateError(`${P.ROOT_STATE} exists but ${P.CONFIG} is missing; restore ${P.CONFIG} from git`);
  const scopes: Record<string, ScopeFile> = {};
  files.scopes.forEach((scope, i) => {
    const sf = parseJson(P.scopeState(scope), texts[2 + i] ?? null, ScopeFileSchema);
    if (sf) scopes[scope] = sf;
  });
  const leaves: Record<string, LeafIndex> = {};
  files.leaves.forEach((scope, i) => {
    const idx = parseJson(P.leafIndex(scope), texts[2 + files.scopes.length + i] ?? null, LeafIndexSchema);
    if (idx) leaves[scope] = idx;
  });
  return { config, root, scopes, leaves };
}

/** The state of the pki directory at one instant (read under the lock). Its files are read at once. */
export async function readSnapshot(store: Store): Promise<Snapshot> {
  const [scopeDirs, leafDirs] = await Promise.all([store.list("scopes"), store.list("leaves")]);
  const files = stateLayout(scopeDirs, leafDirs);
  return parseSnapshot(files, await Promise.all(files.paths.map((p) => store.read(p))));
}

/**
 * The same, read synchronously: a runbook's `ctx.state`, read only when its run() asks for it
 * (a getter cannot wait), so a task that never looks — every shipped one — reads nothing there.
 */
export function readSnapshotSync(store: FsStore): Snapshot {
  const files = stateLayout(store.listSync("scopes"), store.listSync("leaves"));
  return parseSnapshot(files, files.paths.map((p) => store.readSync(p)));
}

function safeName(name: string, dir: string): string {
  try {
    return parseScope(name);
  } catch {
    throw new StateError(`unexpected entry "${dir}/${name}" in the pki directory: not a scope name; remove it`);
  }
}
