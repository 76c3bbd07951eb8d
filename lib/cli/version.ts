import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The package's version, from its package.json (one home: the version is written once). */
export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
})();
