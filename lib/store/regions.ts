import * as v from "valibot";
import { readFile, readdir } from "node:fs/promises";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../errors.ts";
import { RegionFileSchema } from "../model/config.ts";
import { DomainName, leafNameRoom, MAX_COMMON_NAME, parseScope, parseService, type ServiceName } from "../model/names.ts";
import type { Topology } from "../model/state.ts";
import { parseAddress, type Probes } from "../model/probes.ts";
import { checkNaming, type Naming } from "../model/naming.ts";

/**
 * Read regions/*.json: one file per scope (each region, and global.json for the global scope),
 * `{ "name": "eu", "services": ["payments", …] }`. The file name must match the name inside.
 * The files are read at once.
 */
export async function loadTopology(dir: string): Promise<Topology> {
  let names: string[];
  try {
    names = regionFiles(await readdir(dir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { scopes: {} };
    throw e;
  }
  return parseTopology(dir, names, await Promise.all(names.map((f) => readFile(join(dir, f), "utf8"))));
}

/** The same, read synchronously (a runbook's `ctx.state`, lib/store/snapshot.ts readSnapshotSync). */
export function loadTopologySync(dir: string): Topology {
  let names: string[];
  try {
    names = regionFiles(readdirSync(dir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { scopes: {} };
    throw e;
  }
  return parseTopology(dir, names, names.map((f) => readFileSync(join(dir, f), "utf8")));
}

const regionFiles = (names: readonly string[]) => names.filter((n) => n.endsWith(".json")).sort();

/** The topology of the region files `names` of `dir`, given their texts. Pure. */
function parseTopology(dir: string, names: readonly string[], texts: readonly string[]): Topology {
  const scopes: Record<string, { services: ServiceName[]; probes?: Probes; naming?: Naming }> = {};
  names.forEach((file, n) => {
    const path = join(dir, file);
    let data: unknown;
    try {
      data = JSON.parse(texts[n]!);
    } catch {
      throw new InputError(`${path} is not valid JSON; fix it (expected {"name": "eu", "services": ["payments"]})`);
    }
    const r = v.safeParse(RegionFileSchema, data);
    if (!r.success) {
      const i = r.issues[0];
      const at = v.getDotPath(i) ?? "(top level)";
      const shape = at.startsWith("probes") ? `"probes": {"payments": [{"address": "payments-0.eu.svc:8443", "clientAuth": true}]}` : `{"name": "eu", "services": ["payments"]}`;
      throw new InputError(`${path} is invalid at ${at}: ${i.message}; expected ${shape}`);
    }
    const stem = file.slice(0, -".json".length);
    const name = wrap(path, () => parseScope(r.output.name));
    if (name !== stem) throw new InputError(`${path} names the scope "${name}"; a region file must be named after its scope (rename it to ${name}.json)`);
    const services = r.output.services.map((s) => wrap(path, () => parseService(s)));
    const seen = new Set<string>();
    const dup = services.find((s) => seen.has(s) || !seen.add(s)); // a Set: indexOf was quadratic in a region's services
    if (dup) throw new InputError(`${path} lists the service "${dup}" twice; remove one`);
    const probes = r.output.probes;
    if (probes) checkProbes(path, probes, services);
    scopes[name] = { services, ...(probes ? { probes } : {}), ...(r.output.naming ? { naming: r.output.naming } : {}) };
  });
  return { scopes };
}

/** Probe targets name declared services, and no endpoint is listed twice for one. */
function checkProbes(path: string, probes: Probes, services: readonly string[]): void {
  for (const [svc, targets] of Object.entries(probes)) {
    if (!services.includes(svc)) throw new InputError(`${path} lists probes for "${svc}", which is not one of its services (${services.join(", ") || "none"}); add it to "services" or remove its probes`);
    const seen = new Set<string>();
    for (const t of targets) {
      const a = parseAddress(t.address)!;
      const key = `${a.host}:${a.port}`;
      if (seen.has(key)) throw new InputError(`${path} lists the probe address "${t.address}" twice for "${svc}"; remove one`);
      seen.add(key);
    }
  }
}

function wrap<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new InputError(`${path}: ${(e as Error).message}`);
  }
}

/**
 * Refuse, when the region files are read, a service whose leaf name would not fit a certificate
 * under `domain` (lib/model/names.ts leafNameRoom) — otherwise it passes here and fails every
 * renewal later. `origin` says where the domain comes from ("pki.json", "--domain").
 */
export function checkNameLimits(topology: Topology, domain: string, dir: string, origin: string): void {
  // The shortest leaf name is "a.b.<domain>": a domain longer than 60 leaves room for none.
  if (domain.length > MAX_COMMON_NAME - 4) {
    throw new InputError(`the domain of ${origin} is ${domain.length} characters, but every leaf is named <service>.<scope>.<domain> and a certificate's common name holds at most 64 (RFC 5280 ub-common-name); choose a domain of at most ${MAX_COMMON_NAME - 4} characters`);
  }
  for (const [scope, { services }] of Object.entries(topology.scopes)) {
    for (const service of services) {
      const room = leafNameRoom(service, scope, domain);
      if (!room) continue;
      const fix = room.max > 0 ? `shorten the service name to at most ${room.max} characters` : `shorten the scope or the domain`;
      throw new InputError(`${join(dir, `${scope}.json`)}: the service "${service}" would get the name "${room.name}" (${room.name.length} characters) under the domain of ${origin}, but a certificate's common name holds at most 64 (RFC 5280 ub-common-name); ${fix}`);
    }
  }
  // Naming templates: every expanded name a DNS name, and no two scopes able to issue the same names
  // (under a valid domain: an invalid --domain is refused by itself, naming the flag).
  if (v.is(DomainName, domain)) checkNaming(topology.scopes, domain, dir);
}
