// Invariants on state rather than counts: one lead per identity a round
// delivered, and jobs a duplicate delivery must leave exactly as it found
// them. Each names the rows (lead ids, job id and field) that broke it.
import type { JobState } from "../db/verify-state-sql.js";
import type { InvariantResult } from "./types.js";

const FINISHED = new Set(["SUCCEEDED", "FAILED"]);
const OPEN = new Set(["PENDING", "RUNNING"]);

const listIds = (ids: readonly string[], max = 3) => `${ids.slice(0, max).join(", ")}${ids.length > max ? `, … (${ids.length})` : ""}`;

/**
 * Exactly one lead carries the identity the round delivered (a fresh one
 * each round). `exact` false (an app that may not create leads for every
 * event): at most one.
 */
export function checkLeadIdentity(leadIds: readonly string[], identity: string, exact: boolean): InvariantResult {
  const ok = exact ? leadIds.length === 1 : leadIds.length <= 1;
  return {
    name: "one-lead-per-identity",
    expected: `${exact ? "1 lead" : "at most 1 lead"} with ${identity}`,
    observed: leadIds.length <= 1 ? String(leadIds.length) : `${leadIds.length} leads: ${listIds(leadIds)}`,
    status: ok ? "pass" : "fail",
    ...(ok ? {} : { witnesses: [] }),
  };
}

/** The fields of a job that differ between two reads (the row version always counts). */
function describeChange(before: JobState, after: JobState): string[] {
  const fields: string[] = [];
  for (const f of ["status", "attempts", "runAt", "lockedBy"] as const) {
    if (before[f] !== after[f]) fields.push(`${f} ${String(before[f])} -> ${String(after[f])}`);
  }
  if (fields.length === 0 && before.version !== after.version) fields.push("rewritten in place (row version changed, no field did)");
  return fields;
}

/**
 * Jobs before and after duplicate deliveries of a stored message. A
 * duplicate must not modify an existing job (re-arming, re-scheduling or
 * unlocking it makes it run again, or twice at once), and a finished job
 * must never return to pending or running. `workersMayRun`: the app's own
 * workers may progress jobs meanwhile, so forward moves (a claim, a finish,
 * a retry with more attempts) are not blamed on the duplicate.
 */
export function compareJobStates(before: readonly JobState[], after: readonly JobState[], step: string, workersMayRun: boolean): InvariantResult[] {
  const afterById = new Map(after.map((j) => [j.id, j]));
  const reopened: string[] = [];
  const modified: string[] = [];
  for (const b of before) {
    const a = afterById.get(b.id);
    if (!a) continue; // a removed job is one-job-per-key's (missing) to report
    if (FINISHED.has(b.status) && OPEN.has(a.status)) reopened.push(`${b.type} ${b.id}: status ${b.status} -> ${a.status}`);
    const change = describeChange(b, a);
    if (change.length === 0) continue;
    const forward = workersMayRun && isForwardProgress(b, a);
    if (!forward) modified.push(`${b.type} ${b.id}: ${change.join("; ")}`);
  }
  return [
    {
      name: "finished-stays-finished",
      expected: `no finished job back to PENDING/RUNNING after ${step}`,
      observed: reopened.length === 0 ? `${before.filter((j) => FINISHED.has(j.status)).length} finished, none reopened` : reopened.slice(0, 2).join(" | "),
      status: reopened.length === 0 ? "pass" : "fail",
    },
    {
      name: "duplicate-leaves-jobs-alone",
      expected: `${before.length} existing job(s) unchanged by ${step}`,
      observed: modified.length === 0 ? "unchanged" : modified.slice(0, 2).join(" | "),
      status: modified.length === 0 ? "pass" : "fail",
    },
  ];
}

/** What a worker (never a delivery) does to a job: claim it, finish it, or retry it with more attempts. */
function isForwardProgress(before: JobState, after: JobState): boolean {
  if (before.status === "PENDING" && after.status !== "PENDING") return true;
  if (before.status === "RUNNING" && FINISHED.has(after.status)) return true;
  return before.attempts !== null && after.attempts !== null && after.attempts > before.attempts;
}
