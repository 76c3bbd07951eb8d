import { join } from "node:path";
import { InputError, StateError } from "../errors.ts";
import { assertSingleRecipient, open } from "../age/mod.ts";
import * as X from "../x509/core.ts";
import { IDENTITY_VAR } from "../apply/keys.ts";
import { vouching } from "../apply/vouch.ts";
import { meshExport, MESH_FILES } from "../deliver/mesh-export.ts";
import { parseMesh, trustDomain } from "../model/mesh.ts";
import { parseScope } from "../model/names.ts";
import * as P from "../model/paths.ts";
import { generationsOf, LIVE } from "../model/state.ts";
import { acquireLock } from "../store/lock.ts";
import { journalWrites } from "../store/tamper.ts";
import type { Args } from "../runbook/args.ts";
import type { RunContext } from "../runbook/context.ts";
import { checkOut, ciIdentity, openUnderLock, parseWait, recordedReader, writeDeployDir } from "./deploy.ts";
import { bold, green } from "../term/style.ts";
import { servedChainParts } from "./served-chain.ts";

// `inforge deploy --mesh <m> --region <scope> --out DIR` (CI posture): the scope's active mesh
// issuer, its key and the trust anchors in that mesh's format (lib/deliver/mesh-export.ts).
// Same custody as `deploy <service>`: under the lock, every file read is what the journal
// recorded, the issuer is proven by the vouching reader (recorded fingerprint, signed by the live
// root its scope file names), its key is sealed to CI alone and matches it, the anchors are the
// live roots as root.json records them; the plaintext key goes only outside the pki directory
// and outside anything git would commit (lib/cli/out-dir.ts). Nothing is planned or signed.

export async function deployMeshCommand(a: Args, ctx: RunContext, command: string): Promise<number> {
  if (a.positionals.length > 1) throw new InputError(`unexpected argument "${a.positionals[1]}"; inforge deploy --mesh exports a scope's issuer, not a service: inforge deploy --mesh istio --region eu --out DIR`);
  const mesh = parseMesh(a.flags.mesh === true ? "" : a.flags.mesh);
  const region = a.flags.region;
  if (typeof region !== "string") throw new InputError(`inforge deploy --mesh needs --region; for example: inforge deploy --mesh ${mesh} --region eu --out /run/inforge/${mesh}`);
  const scope = parseScope(region);
  const outFlag = a.flags.out;
  if (outFlag === true) throw new InputError("--out needs a directory");
  const out = await checkOut(outFlag ?? join("deploy", scope, mesh), ctx.dir, { allowInRepo: a.flags["allow-in-repo"] === true, files: MESH_FILES[mesh] });
  const ci = await ciIdentity(ctx, "inforge deploy --mesh");
  if (ctx.planOnly) {
    process.stdout.write(`would export the active ${scope} ${mesh} issuer to ${out}: ${MESH_FILES[mesh].join(", ")}\n`);
    return 0;
  }
  const lock = await acquireLock(ctx.dir, command, ctx.now, parseWait(a));
  let files;
  let gen: number;
  let notAfter: string;
  try {
    const { store, snap } = await openUnderLock(ctx, lock.run, ci);
    const cfg = snap.config;
    if (!cfg) throw new StateError(`the pki directory ${ctx.dir} is not initialised; run inforge pki init first (root posture)`);
    const read = recordedReader(store, await journalWrites(store));
    // The state files the checks trust are themselves what the journal recorded.
    for (const f of [P.ROOT_STATE, P.scopeState(scope)]) if ((await read(f)) === null) throw new StateError(`${f} is missing; restore it from git`);
    const g = generationsOf(snap.scopes[scope], mesh).find((x) => x.state === "active");
    if (!g) throw new StateError(`scope "${scope}" has no active ${mesh} issuer; issue one with inforge pki issuer ${scope} --mesh ${mesh} (root posture)`);
    if (Date.parse(g.notAfter) <= ctx.now.getTime()) throw new StateError(`the ${scope} ${mesh} issuer G${g.gen} expired on ${g.notAfter}; replace it with inforge pki issuer ${scope} --mesh ${mesh} --rotate (root posture)`);
    const vouch = vouching(read, snap);
    // The issuer, and behind it the cross-signed root during a root overlap (the same chain deploy serves).
    const { issuer: issuerPem, rest: chainPem } = await servedChainParts(vouch, snap, scope, g.gen, mesh);
    const keyPath = P.intermediateKey(scope, g.gen, mesh);
    const sealed = await read(keyPath);
    if (sealed === null) throw new StateError(`${keyPath} is missing; restore it from git`);
    assertSingleRecipient(sealed, keyPath); // sealed to CI alone, like every issuer key
    const keyPem = await open(sealed, ci!, keyPath, IDENTITY_VAR.ci);
    if (!(await X.publicKeyMatches(issuerPem, await X.importPrivateKeyPem(keyPem)))) {
      throw new StateError(`${keyPath} does not hold the key of ${P.intermediateCert(scope, g.gen, mesh)} (a key or certificate was swapped); restore both from git`);
    }
    // Anchors: every live root (old and new during a root overlap).
    const roots = snap.root.generations.filter((r) => LIVE.has(r.state));
    const anchorsPem = (await Promise.all(roots.map((r) => vouch.root(r.gen)))).map(nl).join("");
    const rootPem = await vouch.root(g.issuer!);
    files = meshExport({ mesh, scope, trustDomain: trustDomain(scope, cfg.domain), gen: g.gen, issuerPem, keyPem, chainPem, rootPem, anchorsPem, notAfter: g.notAfter });
    [gen, notAfter] = [g.gen, g.notAfter];
  } finally {
    await lock.release();
  }
  const changed = await writeDeployDir(out, files);
  if (ctx.json) {
    process.stdout.write(JSON.stringify({ schema: "inforge.deploy-mesh/v1", scope, mesh, gen, out, notAfter, changed }) + "\n");
    return 0;
  }
  const what = changed.length ? `wrote ${changed.join(", ")}` : "every file already up to date, nothing written";
  process.stdout.write(`${changed.length ? green("exported") : bold("exported")} the ${scope} ${mesh} issuer G${gen} to ${out}, valid until ${notAfter}; ${what}\n`);
  return 0;
}

const nl = (p: string) => (p.endsWith("\n") ? p : p + "\n");
