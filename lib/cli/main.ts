import { InputError, PostureError, StateError, CheckError } from "../errors.ts";
import { parseArgs, nearest, type Args } from "../runbook/args.ts";
import { runContext, type RunContext } from "../runbook/context.ts";
import { USAGE, commandHelp, completion } from "./help.ts";
import { SHIPPED } from "../runbook/shipped.ts";
import { ciGuard } from "../store/ci-guard.ts";
import { deniedMessage, isDenied } from "../runtime.ts";
import { join } from "node:path";
import type { RunOutcome } from "../runbook/pipeline.ts";
import { VERSION } from "./version.ts";
import { explain, runReport } from "../runbook/report.ts";

export { explain, runReport };

// Only what every start needs is imported statically: parsing the arguments, the help text, the
// run context. Each command's module (and with it @peculiar/x509, age, valibot…) is imported when
// the command is dispatched, so the prebuilt CLI's entry chunk stays small (scripts/build.ts
// splits the bundle at these imports; test/prebuilt-cli.test.ts checks what the entry holds).
const tasks = () => import("../runbook/tasks.ts");
const runTask: typeof import("../runbook/run-task.ts").runTask = async (...a) => (await import("../runbook/run-task.ts")).runTask(...a);

const GLOBAL_FLAGS = ["dir", "regions", "at", "plan", "json", "wait", "concurrency", "help", "yes"];
const BOOLEANS = new Set(["plan", "json", "force", "root", "finish", "help", "check", "allow-in-repo", "yes", "version", "rotate", "recover"]);

/** `inforge pki <sub>`: the seed's commands, each a shipped task underneath. */
const PKI: Record<string, { flags: string[]; positional?: string; task: (a: Args) => { name: string; flags: Record<string, string | true> } }> = {
  init: { flags: ["domain", "name", "ci-recipient", "identity-out", "name-constraints", "root-in"], task: (a) => ({ name: "init", flags: pick(a, ["domain", "name", "ci-recipient", "identity-out", "name-constraints", "root-in"]) }) },
  intermediate: { flags: [], positional: "scope", task: (a) => ({ name: "add-region", flags: { scope: pos(a, "scope", "inforge pki intermediate eu") } }) },
  renew: { flags: ["region"], task: (a) => ({ name: "renew", flags: pick(a, ["region"]) }) },
  rotate: {
    flags: ["intermediate", "root", "finish", "force", "leaf", "region", "root-in"],
    task: (a) => {
      const f = a.flags;
      const modes = ["intermediate", "root", "leaf"].filter((m) => f[m] !== undefined);
      if (modes.length !== 1) throw new InputError("inforge pki rotate needs exactly one of --intermediate <scope>, --root or --leaf <service> --region <region>");
      if (f.root) return { name: "rotate-root", flags: pick(a, ["finish", "root-in"]) };
      if (f.leaf) return { name: "rotate-leaf", flags: { service: str(f.leaf, "--leaf"), ...pick(a, ["region"]) } };
      return { name: "rotate-intermediate", flags: { scope: str(f.intermediate!, "--intermediate"), ...pick(a, ["force"]) } };
    },
  },
  issuer: {
    flags: ["mesh", "rotate", "force", "recover"], positional: "scope",
    task: (a) => {
      if (a.flags.mesh === undefined) throw new InputError("inforge pki issuer needs --mesh istio, --mesh linkerd or --mesh cert-manager; for example: inforge pki issuer eu --mesh istio");
      if (a.flags.rotate !== undefined && a.flags.recover !== undefined) throw new InputError("inforge pki issuer takes --rotate (planned, with overlap) or --recover (compromise: revoke and replace now), not both");
      return { name: "issuer", flags: { scope: pos(a, "scope", "inforge pki issuer eu --mesh istio"), mesh: str(a.flags.mesh, "--mesh"), ...pick(a, ["rotate", "force", "recover"]) } };
    },
  },
  crl: { flags: [], task: () => ({ name: "sign-crl", flags: {} }) },
  config: { flags: ["promotion", "probe-max-age"], task: (a) => ({ name: "config", flags: pick(a, ["promotion", "probe-max-age"]) }) },
  revoke: {
    flags: ["leaf", "region", "reason"],
    task: (a) => {
      const f = a.flags;
      if (f.leaf === undefined || f.region === undefined) throw new InputError("inforge pki revoke needs --leaf <service> --region <region>; for example: inforge pki revoke --leaf payments --region eu --reason key-compromise");
      return { name: "revoke-leaf", flags: { service: str(f.leaf, "--leaf"), region: str(f.region, "--region"), ...(f.reason !== undefined ? { reason: str(f.reason, "--reason") } : {}) } };
    },
  },
  "recover-intermediate": { flags: [], positional: "scope", task: (a) => ({ name: "recover-intermediate", flags: { scope: pos(a, "scope", "inforge pki recover-intermediate eu") } }) },
};

/** Every `inforge pki` subcommand, for suggestions. */
const PKI_SUBS = [...Object.keys(PKI), "status", "graph", "verify", "sign-csr", "rekey", "probe"];

function pick(a: Args, names: string[]): Record<string, string | true> {
  return Object.fromEntries(Object.entries(a.flags).filter(([k]) => names.includes(k)));
}
function str(v: string | true, flag: string): string {
  if (v === true) throw new InputError(`${flag} needs a value`);
  return v;
}
function pos(a: Args, what: string, example: string): string {
  const p = a.positionals[2];
  if (!p) throw new InputError(`missing ${what}; for example: ${example}`);
  if (a.positionals.length > 3) throw new InputError(`unexpected argument "${a.positionals[3]}"; give one ${what}`);
  return p;
}

/** `pki config --promotion probe --probe-max-age 1h`: the fields the run sets before it signs (checked again by the task's schema). */
async function configChange(a: Args): Promise<{ promotion?: "time" | "probe"; probeMaxAge?: string }> {
  const { parseDuration } = await import("../model/duration.ts");
  const p = a.flags.promotion;
  const m = a.flags["probe-max-age"];
  if (p !== undefined && p !== "time" && p !== "probe") throw new InputError(`invalid --promotion "${p === true ? "" : p}"; give time (after the propagation delay, the default) or probe (on inforge pki probe evidence)`);
  if (m !== undefined && (m === true || parseDuration(m) === null)) throw new InputError(`invalid --probe-max-age "${m === true ? "" : m}"; give a duration such as 1h`);
  return { ...(p ? { promotion: p } : {}), ...(typeof m === "string" ? { probeMaxAge: m } : {}) };
}

/** Refuse what a command would otherwise ignore: positionals after `where`, which takes none. */
function noExtra(a: Args, where: string): void {
  const n = where.split(" ").length - 1; // "inforge pki status" → 2 positionals
  if (a.positionals.length > n) throw new InputError(`unexpected argument "${a.positionals[n]}" for ${where}, which takes no arguments; see ${where} --help`);
}

/** A single-dash option (`-h`, `-x`) would pass as a positional: inforge takes long flags only. */
function noShortFlags(argv: readonly string[]): void {
  const end = argv.indexOf("--");
  const short = (end < 0 ? argv : argv.slice(0, end)).find((x, i, all) => /^-[^-]/.test(x) && !(i > 0 && /^--[a-z][a-z0-9-]*$/.test(all[i - 1]!) && !BOOLEANS.has(all[i - 1]!.slice(2))));
  if (short !== undefined) throw new InputError(`unknown option "${short}"; inforge takes long flags only${short === "-h" ? " — did you mean --help?" : " (run inforge --help)"}`);
}

/** What a flag's value is, for "--region needs a value" (a flag given last, or before another flag). */
const VALUE_OF: Record<string, string> = {
  region: "a region, such as --region eu", leaf: "a service, such as --leaf payments", intermediate: "a scope, such as --intermediate eu",
  service: "a service, such as --service payments", since: "a git revision, such as --since origin/main", reason: "a reason, such as --reason key-compromise",
  calendar: "a number of events, such as --calendar 20", format: "mermaid or dot, such as --format dot",
  timeout: "a duration, such as --timeout 5s", promotion: "time or probe, such as --promotion probe", "probe-max-age": "a duration, such as --probe-max-age 1h",
};

function checkFlags(a: Args, allowed: string[], where: string): void {
  for (const f of Object.keys(a.flags)) {
    if (a.flags[f] === true && !BOOLEANS.has(f) && (allowed.includes(f) || GLOBAL_FLAGS.includes(f))) {
      throw new InputError(`--${f} needs a value${VALUE_OF[f] ? `: ${VALUE_OF[f]}` : ""}; see ${where} --help`);
    }
    if (allowed.includes(f) || GLOBAL_FLAGS.includes(f)) continue;
    const near = nearest(f, [...allowed, ...GLOBAL_FLAGS]);
    throw new InputError(`unknown flag --${f} for ${where}${near ? ` — did you mean --${near}?` : ""}`);
  }
}

export async function main(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  noShortFlags(argv);
  const a = parseArgs(argv, BOOLEANS);
  const [cmd, sub] = a.positionals;
  if (a.flags.help || cmd === "help") {
    const key = cmd === "help" ? a.positionals.slice(1, 3).join(" ") : cmd === "pki" || cmd === "releases" ? `${cmd} ${sub ?? ""}` : (cmd ?? "");
    if (cmd === "run" && sub && a.flags.help) {
      const { loadTask, taskDirs } = await tasks();
      const { task } = await loadTask(sub, taskDirs(env));
      process.stdout.write((await import("../runbook/task-help.ts")).taskHelp(sub, task));
      return 0;
    }
    process.stdout.write(commandHelp(key.trim()) ?? USAGE);
    return 0;
  }
  if (a.flags.version || cmd === "version") {
    process.stdout.write(`inforge ${VERSION}\n`);
    return 0;
  }
  if (!cmd) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd === "completion") {
    const script = completion(sub ?? "");
    if (!script) throw new InputError(`unknown shell "${sub ?? ""}"; use inforge completion bash or inforge completion zsh`);
    process.stdout.write(script);
    return 0;
  }
  ciGuard(env);
  const ctx = runContext(a, env);
  if (cmd === "tasks") {
    checkFlags(a, [], "inforge tasks");
    noExtra(a, "inforge tasks");
    const { listTasks, taskDirs, importTask } = await tasks();
    const rows = await Promise.all((await listTasks(taskDirs(env))).map(async (t) => ({ ...t, task: await importTask(t.file) })));
    const w = Math.max(...rows.map((r) => r.name.length));
    if (ctx.json) {
      const tasks = rows.map((r) => ({ name: r.name, summary: r.task.summary, file: r.file, shipped: r.file.startsWith(SHIPPED) }));
      process.stdout.write(JSON.stringify({ schema: "inforge.tasks/v1", tasks }) + "\n");
    }
    else for (const r of rows) process.stdout.write(`${r.name.padEnd(w)}  ${r.task.summary}${r.file.startsWith(SHIPPED) ? "" : "  (./tasks)"}\n`);
    return 0;
  }
  if (cmd === "run") {
    if (!sub) throw new InputError("missing task name; for example: inforge run renew --region eu (inforge tasks lists them)");
    const { loadTask, taskDirs } = await tasks();
    const { task, file } = await loadTask(sub, taskDirs(env));
    return report(await runTask(sub, task, a.flags, ctx, `inforge run ${argv.slice(1).join(" ")}`, file), ctx, sub);
  }
  if (cmd === "pki") {
    if (sub === "status") {
      checkFlags(a, ["check", "calendar"], "inforge pki status");
      noExtra(a, "inforge pki status");
      return (await import("./report-commands.ts")).statusCommand(a, ctx);
    }
    if (sub === "verify") {
      checkFlags(a, ["since"], "inforge pki verify");
      noExtra(a, "inforge pki verify");
      return (await import("./verify.ts")).verifyCommand(ctx, a.flags.since as string | undefined); // a bare --since is refused by checkFlags
    }
    if (sub === "probe") {
      checkFlags(a, ["region", "timeout"], "inforge pki probe");
      noExtra(a, "inforge pki probe");
      if (a.flags.plan) throw new InputError("inforge pki probe has no --plan: it changes nothing but its own record (probes/<scope>.json); run it without --plan");
      return (await import("./probe.ts")).probeCommand(a, ctx, `inforge ${argv.join(" ")}`);
    }
    if (sub === "graph") {
      checkFlags(a, ["format"], "inforge pki graph");
      noExtra(a, "inforge pki graph");
      return (await import("./report-commands.ts")).graphCommand(a, ctx);
    }
    if (sub === "sign-csr") {
      checkFlags(a, ["region", "service", "out"], "inforge pki sign-csr");
      return (await import("./sign-csr.ts")).signCsrCommand(a, ctx, `inforge ${argv.join(" ")}`);
    }
    if (sub === "rekey") {
      checkFlags(a, ["ci-recipient", "root-recipient"], "inforge pki rekey");
      if (a.positionals.length > 2) throw new InputError(`unexpected argument "${a.positionals[2]}" for inforge pki rekey`);
      return (await import("./rekey.ts")).rekeyCommand(a, ctx, `inforge ${argv.join(" ")}`);
    }
    const spec = sub ? PKI[sub] : undefined;
    if (!spec) {
      const near = sub ? nearest(sub, PKI_SUBS) : null;
      throw new InputError(`unknown command "inforge pki ${sub ?? ""}"${near ? ` — did you mean "inforge pki ${near}"?` : ""}; run inforge --help`);
    }
    checkFlags(a, [...spec.flags, ...(a.flags.plan ? ["out"] : [])], `inforge pki ${sub}`);
    if (!spec.positional && a.positionals.length > 2) throw new InputError(`unexpected argument "${a.positionals[2]}" for inforge pki ${sub}`);
    const t = spec.task(a);
    // pki config shows pki.json against the signed record first; with nothing changed there is nothing to sign.
    if (sub === "config" && (await (await import("./config.ts")).reviewConfig(ctx, await configChange(a))) === null) {
      if (ctx.json) process.stdout.write(JSON.stringify({ schema: "inforge.run/v1", at: ctx.now.toISOString().replace(/\.\d+Z$/, "Z"), task: "config", applied: false, planOnly: ctx.planOnly, needs: [], steps: [], bundles: [], notes: ["custody.json already signs pki.json's current values"], next: [], written: [], journal: null, entry: null }) + "\n");
      else process.stdout.write("nothing to do: custody.json already signs pki.json's current trust-critical fields\n");
      return 0;
    }
    const { task, file } = await (await tasks()).loadTask(t.name, [SHIPPED]);
    const flags = { ...t.flags, ...pick(a, ["identity-out", "wait", "concurrency", "yes", ...(a.flags.plan ? ["out"] : [])]) };
    return report(await runTask(t.name, task, flags, ctx, `inforge ${argv.join(" ")}`, file), ctx, t.name);
  }
  if (cmd === "apply") {
    checkFlags(a, [], "inforge apply");
    const r = await (await import("./apply-plan.ts")).applyPlanCommand(a, ctx, `inforge ${argv.join(" ")}`);
    return report(r.outcome, ctx, r.task);
  }
  if (cmd === "deploy") {
    checkFlags(a, ["region", "out", "allow-in-repo", "mesh"], "inforge deploy");
    return (await import("./deploy.ts")).deployCommand(a, ctx, `inforge ${argv.join(" ")}`);
  }
  if (cmd === "releases") {
    checkFlags(a, ["out", "releases", "allow-in-repo"], "inforge releases deploy");
    return (await import("./releases.ts")).releasesCommand(a, ctx, `inforge ${argv.join(" ")}`);
  }
  // `inforge graph`, `inforge statsu`: a pki subcommand given at the top level, or a typo of one.
  const top = ["pki", "tasks", "run", "help", "completion", "deploy", "releases", "apply"];
  const sub2 = PKI_SUBS.includes(cmd) ? cmd : nearest(cmd, PKI_SUBS);
  const near = nearest(cmd, top) ?? (sub2 ? `pki ${sub2}` : null);
  throw new InputError(`unknown command "${cmd}"${near ? ` — did you mean "inforge ${near}"?` : ""}; run inforge --help`);
}

function report(o: RunOutcome, ctx: RunContext, task: string): number {
  if (ctx.json) process.stdout.write(JSON.stringify(runReport(o, ctx, task)) + "\n");
  return 0;
}

const entry = process.argv[1] ?? "";
if (entry.endsWith(join("lib", "cli", "main.ts"))) {
  main(process.argv.slice(2), process.env).then((code) => (process.exitCode = code), (e) => (process.exitCode = explain(e, process.argv.includes("--json"))));
}
