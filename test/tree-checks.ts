// Whole-tree checks shared by the runtime tests: `inforge pki verify` (in this Node process),
// the state checker on a fresh snapshot, and openssl on every leaf against the region bundle
// (partial chain, as a mesh service verifies) and against root.pem (as a root-anchoring consumer),
// also with -crl_check_all (root CRL + scope CRL).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { checkState } from "../lib/check/check-state.ts";
import { FsStore } from "../lib/store/fs-store.ts";
import { readSnapshot } from "../lib/store/snapshot.ts";
import { ciEnv, cli, opensslVerify, type Sandbox } from "./helpers.ts";
import { leavesOf } from "./deno.ts";

export const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

/** Every problem found with the tree at instant `at` (ms); an empty list means it verifies. */
export async function treeProblems(sb: Sandbox, at: number): Promise<string[]> {
  const problems: string[] = [];
  const v = await cli(["pki", "verify", "--at", iso(at)], ciEnv(sb));
  if (v.code !== 0) problems.push(`inforge pki verify exited ${v.code}: ${v.err}${v.out}`);
  for (const i of checkState(await readSnapshot(new FsStore(sb.dir)))) problems.push(`checkState: ${i.code}: ${i.message}`);
  const attime = ["-attime", String(Math.floor(at / 1000))];
  let leaves = 0;
  for (const scope of ["global", "eu", "us", "ap"]) {
    if (!existsSync(join(sb.dir, "leaves", scope, "index.json"))) continue;
    for (const { service, gen } of leavesOf(sb.dir, scope)) {
      leaves++;
      const leaf = join(sb.dir, "leaves", scope, `${service}.crt.pem`);
      const mesh = opensslVerify([...attime, "-partial_chain", "-CAfile", join(sb.dir, "bundles", `${scope}.pem`), leaf]);
      if (!mesh.ok) problems.push(`openssl (bundles/${scope}.pem) refuses ${scope}/${service}: ${mesh.out}`);
      const rooted = opensslVerify([...attime, "-CAfile", join(sb.dir, "bundles/root.pem"), "-untrusted", join(sb.dir, "scopes", scope, `G${gen}.crt.pem`), leaf]);
      if (!rooted.ok) problems.push(`openssl (bundles/root.pem) refuses ${scope}/${service}: ${rooted.out}`);
      // Revocation checked for every CA of the chain: the root CRL and the scope's CRL (one per live intermediate).
      const crls = ["-CRLfile", join(sb.dir, "crl/root.crl.pem"), "-CRLfile", join(sb.dir, "crl", `${scope}.crl.pem`)];
      const revocation = opensslVerify([...attime, "-crl_check_all", ...crls, "-CAfile", join(sb.dir, "bundles/root.pem"), "-untrusted", join(sb.dir, "scopes", scope, `G${gen}.crt.pem`), leaf]);
      if (!revocation.ok) problems.push(`openssl -crl_check_all refuses ${scope}/${service}: ${revocation.out}`);
    }
  }
  if (!leaves) problems.push("the tree has no leaves to verify");
  return problems;
}
