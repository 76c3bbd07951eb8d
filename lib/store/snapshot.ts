import * as v from "valibot";
import { StateError } from "../errors.ts";
import { PkiConfigSchema } from "../model/config.ts";
import * as P from "../model/paths.ts";
import { parseScope } from "../model/names.ts";
import {
  EMPTY_SNAPSHOT, LeafIndexSchema, RootFileSchema, ScopeFileSchema, type LeafIndex, type ScopeFile, type Snapshot,
} from "../model/state.ts";
import type { Store } from "./fs-store.ts";

/** Read and validate one JSON state file; one sentence naming the file and field on failure. */
async function readJson<S extends v.GenericSchema>(store: Store, path: string, schema: S): Promise<v.InferOutput<S> | null> {
  const text = await store.read(path);
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

/** The state of the pki directory at one instant (read under the lock). */
export async function readSnapshot(store: Store): Promise<Snapshot> {
  const config = await readJson(store, P.CONFIG, PkiConfigSchema);
  const root = (await readJson(store, P.ROOT_STATE, RootFileSchema)) ?? EMPTY_SNAPSHOT.root;
  if (!config && root.generations.length) throw new StateError(`${P.ROOT_STATE} exists but ${P.CONFIG} is missing; restore ${P.CONFIG} from git`);
  const scopes: Record<string, ScopeFile> = {};
  for (const name of await store.list("scopes")) {
    const scope = safeName(name, "scopes");
    const sf = await readJson(store, P.scopeState(scope), ScopeFileSchema);
    if (sf) scopes[scope] = sf;
  }
  const leaves: Record<string, LeafIndex> = {};
  for (const name of await store.list("leaves")) {
    const scope = safeName(name, "leaves");
    const idx = await readJson(store, P.leafIndex(scope), LeafIndexSchema);
    if (idx) leaves[scope] = idx;
  }
  return { config, root, scopes, leaves };
}

function safeName(name: string, dir: string): string {
  try {
    return parseScope(name);
  } catch {
    throw new StateError(`unexpected entry "${dir}/${name}" in the pki directory: not a scope name; remove it`);
  }
}
