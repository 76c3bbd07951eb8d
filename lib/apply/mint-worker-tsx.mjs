// The leaf-minting worker's entry when inforge runs from its TypeScript sources under Node: tsx's
// loader is not inherited by worker threads on Node 20 (it registers on the main thread only), so
// this thread registers it before loading the worker itself. The bundles (dist/) and Deno load
// mint-worker directly.
import { register } from "tsx/esm/api";

register();
await import("./mint-worker.ts");
