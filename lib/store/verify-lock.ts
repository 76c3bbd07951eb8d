import { warning, type Finding } from "../check/verify-rules.ts";

/** What verify says of a lock file it finds: a run in progress, or one left by a run that is gone. */
export function lockFinding(file: string, text: string): Finding {
  let h: { pid?: number; host?: string; command?: string } = {};
  try {
    h = JSON.parse(text);
  } catch {
    // reported below as unreadable
  }
  let alive = false;
  try {
    if (typeof h.pid === "number") {
      process.kill(h.pid, 0);
      alive = true;
    }
  } catch (e) {
    alive = (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
  return alive
    ? warning("lock.held", `a run is in progress (pid ${h.pid} on ${h.host}, ${h.command}); what verify saw may be mid-change — verify again once it is done`, file)
    : warning("lock.stale", `${file} was left by a run that is gone (${h.pid ? `pid ${h.pid} on ${h.host}` : "unreadable"}); the next run takes it over`, file);
}
