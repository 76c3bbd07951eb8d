import { readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { FrameMapper } from "../dsl/origin.ts";

// Intents record the runbook line that made them (lib/dsl/origin.ts reads the stack). In the
// prebuilt CLI every frame points into one bundled file, so scripts/build.ts extracts from the
// bundle's source map the positions that came from lib/dsl/ and tasks/ — a few hundred lines —
// into dist/cli/origins.json, read here on first use. (Node's own --enable-source-maps would do
// it too, but parsing the whole map costs more than the start-up the bundle saves.)

interface Origins {
  /** Source paths relative to the repository. */
  readonly sources: readonly string[];
  /** Per bundle file: generated line (1-based) → [generated column (0-based), source index, source line (1-based)][], by column. */
  readonly chunks: Readonly<Record<string, Readonly<Record<string, readonly (readonly [number, number, number])[]>>>>;
}

export function bundleFrameMapper(bundleUrl: string): FrameMapper {
  const dir = dirname(fileURLToPath(bundleUrl));
  const root = resolve(dir, "../..");
  let table: Origins | null | undefined;
  return (file, line, column) => {
    if (table === undefined) {
      try {
        table = JSON.parse(readFileSync(join(dir, "origins.json"), "utf8")) as Origins;
      } catch {
        table = null;
      }
    }
    const path = file.replace(/^file:\/\//, "");
    if (!table || dirname(path) !== dir) return null;
    const segments = table.chunks[basename(path)]?.[String(line)];
    if (!segments?.length) return null;
    // Stack columns are 1-based; take the last mapping that starts at or before the frame's.
    let best = segments[0]!;
    for (const s of segments) {
      if (s[0] <= column - 1) best = s;
      else break;
    }
    return { file: join(root, table.sources[best[1]]!), line: best[2] };
  };
}
