import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { InputError, StateError } from "../errors.ts";
import * as X from "../x509/mod.ts";
import { scope as scopeOf } from "../dsl/builders.ts";
import * as P from "../model/paths.ts";
import { writeAtomic } from "../store/atomic.ts";
import { realPath, within } from "../store/no-follow.ts";
import { FsStore } from "../store/fs-store.ts";
import type { Args } from "../runbook/args.ts";
import type { RunContext } from "../runbook/context.ts";
import { parseWait } from "./deploy.ts";
import { servedChainPem } from "./served-chain.ts";
import { vouching } from "../apply/vouch.ts";
import { runIntents } from "../runbook/pipeline.ts";

// `inforge pki sign-csr --region R --service S <csr.pem> [--out chain.pem]` (CI posture), for
// workloads that keep their own key. lib/x509 reads the CSR, applies the key policy and verifies
// its signature; the planner holds the requested names to the service's own and issues under the
// scope's active intermediate (step issue-csr-leaf), recorded in leaves/<scope>/index.json "csr"
// so the issuer stays trusted while it is valid. Prints the chain (leaf + intermediate, + the
// cross-signed root during a root overlap) on
// stdout — the plan goes to stderr — or writes it to --out.

export async function signCsrCommand(a: Args, ctx: RunContext, command: string): Promise<number> {
  const file = a.positionals[2];
  if (!file) throw new InputError("missing the CSR file; for example: inforge pki sign-csr --region eu --service payments payments.csr");
  if (a.positionals.length > 3) throw new InputError(`unexpected argument "${a.positionals[3]}"; give one CSR file`);
  const region = a.flags.region;
  const service = a.flags.service;
  if (typeof region !== "string" || typeof service !== "string") {
    throw new InputError(`inforge pki sign-csr needs --region and --service; for example: inforge pki sign-csr --region eu --service payments ${file}`);
  }
  const out = a.flags.out;
  if (out === true) throw new InputError("--out needs a file");
  if (out !== undefined) {
    // By real path: a symlink or `..` route into the pki directory is still inside it.
    if (within(realPath(resolve(out)), ctx.dir)) throw new InputError(`--out "${out}" is inside the pki directory; write the chain elsewhere (inforge records its own copy as ${P.csrLeafCert(region, service)})`);
  }
  let pem: string;
  try {
    // Sized before it is read: a huge file is refused, not loaded (lib/x509's MAX_CSR_BYTES).
    const size = (await stat(file)).size;
    if (size > X.MAX_CSR_BYTES) throw new InputError(`the CSR "${file}" is ${size} bytes; a certificate request is at most ${X.MAX_CSR_BYTES / 1024} KiB (a P-256 CSR is under 1 KiB) — give the CSR file itself`);
    pem = await readFile(file, "utf8");
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot read the CSR "${file}"; give the path of a PEM certificate request (openssl req -new … -out ${file})`);
  }
  const csr = await X.parseCsr(pem, file);
  const intent = Object.freeze({ ...scopeOf(region).service(service).leaf().signCsr(csr), origin: "inforge pki sign-csr" });
  const outcome = await runIntents([intent], ctx, {
    title: `sign-csr ${region}/${service}`, command, waitMs: parseWait(a),
    // stdout carries the chain, so the plan goes to stderr.
    print: (s) => process.stderr.write(s + "\n"),
  });
  if (!outcome.result) return 0; // --plan
  const rec = outcome.result.state.leaves[region]?.csr?.[service as never];
  const store = new FsStore(ctx.dir);
  const leafPem = await store.read(P.csrLeafCert(region, service));
  if (!rec || leafPem === null || X.parseCertificate(leafPem, P.csrLeafCert(region, service)).fingerprint !== rec.fingerprint) {
    throw new StateError(`the certificate for ${region}/${service} changed while it was being read (another sign-csr ran); run the command again`);
  }
  // The intermediate, and during a root overlap the cross-signed root (lib/model/bundles.ts servedChain).
  const chain = leafPem + (await servedChainPem(vouching((p) => store.read(p), outcome.result.state), outcome.result.state, region, rec.gen));
  if (out !== undefined) {
    await writeAtomic(resolve(out), chain, 0o644);
    process.stderr.write(`wrote the chain (leaf + ${region} G${rec.gen}) to ${out}, valid until ${rec.notAfter}\n`);
  } else {
    process.stdout.write(chain);
  }
  return 0;
}
