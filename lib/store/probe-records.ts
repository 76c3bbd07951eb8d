import * as v from "valibot";
import { PROBE_RECORD_SCHEMA, ProbeRecordSchema, probeRecordPayload, type ProbeEvidence, type ProbeRecord } from "../model/probes.ts";
import { LIVE, type Snapshot } from "../model/state.ts";
import * as X from "../x509/read.ts";
import { vouching } from "../apply/vouch.ts";
import type { FsStore } from "./fs-store.ts";
import { journalWrites, unrecorded } from "./tamper.ts";

// The reading side of probe records (probes/<scope>.json, lib/model/probes.ts). A record counts
// only when the journal records its very bytes, it parses, and the scope generation it names —
// live, with the fingerprint the state records — signed it. Anything else is reported and left
// out: a forged or stale record never gates a promotion, and never hides drift either.

export const probeRecordPath = (scope: string) => `probes/${scope}.json`;

export interface ProbeRecords {
  readonly records: ProbeEvidence;
  /** One sentence per record left out, naming the file. */
  readonly rejected: readonly { readonly scope: string; readonly file: string; readonly message: string }[];
}

export async function readProbeRecords(store: FsStore, s: Snapshot): Promise<ProbeRecords> {
  const names = (await store.list("probes")).filter((n) => n.endsWith(".json"));
  if (!names.length) return { records: {}, rejected: [] };
  const writes = await journalWrites(store);
  const vouch = vouching((path) => store.read(path), s);
  const records: Record<string, ProbeRecord> = {};
  const rejected: { scope: string; file: string; message: string }[] = [];
  for (const name of names) {
    const scope = name.slice(0, -".json".length);
    const file = probeRecordPath(scope);
    const reject = (why: string) => rejected.push({ scope, file, message: `${file} ${why}; it is ignored — run inforge pki probe in CI to record a new one` });
    const text = await store.read(file);
    const why = unrecorded(writes, file, text);
    if (why) {
      rejected.push({ scope, file, message: `${why}; it is ignored — run inforge pki probe in CI to record a new one` });
      continue;
    }
    let data: unknown;
    try {
      data = JSON.parse(text!);
    } catch {
      reject("is not valid JSON");
      continue;
    }
    const r = v.safeParse(ProbeRecordSchema, data);
    if (!r.success) {
      reject(`is not a probe record (${PROBE_RECORD_SCHEMA}) at ${v.getDotPath(r.issues[0]) ?? "(top level)"}: ${r.issues[0].message}`);
      continue;
    }
    const rec = r.output;
    if (rec.scope !== scope) {
      reject(`names the scope "${rec.scope}"`);
      continue;
    }
    const g = s.scopes[scope]?.generations.find((x) => x.gen === rec.signedBy.gen);
    if (!g || !LIVE.has(g.state) || g.fingerprint !== rec.signedBy.fingerprint) {
      reject(`is signed by ${scope} G${rec.signedBy.gen}, which is ${!g ? "not in the state" : !LIVE.has(g.state) ? g.state : "not the certificate the state records"}`);
      continue;
    }
    let good = false;
    try {
      // The signing certificate is proven like any issuer (recorded fingerprint, signed by its live root).
      const cert = await vouch.intermediate({ scope, gen: g.gen });
      good = await X.verifyDetached(cert, probeRecordPayload(rec), rec.signature);
    } catch {
      good = false;
    }
    if (!good) {
      reject(`does not carry a valid signature by ${scope} G${g.gen}: it was edited, or not made by inforge pki probe with the CI identity`);
      continue;
    }
    records[scope] = rec;
  }
  return { records, rejected };
}
