// The crash window, provoked. A receiver that dies between storing a message
// and enqueueing its jobs leaves a message without jobs; the provider
// retries, and a receiver whose duplicates answer "deduped" without ensuring
// the jobs loses them for good. Waiting for such a crash to happen during a
// race catches it by luck (11 of 20 runs), so after a case this step puts
// the database in that state (it deletes the jobs of the one message this
// round created, nothing else), delivers one more duplicate and requires the
// jobs to be back. Receivers that commit message and jobs in one transaction
// (same xmin) have no such window, and the step is skipped for them.
import type { DbHandle } from "../db/client.js";
import type { JobState } from "../db/verify-state-sql.js";
import type { PreparedCase } from "./deliveries.js";
import type { ReceiverMapping } from "./mapping.js";
import type { SettleOptions } from "./settle.js";
import { combineVerdicts } from "./stats.js";
import type { CaseResult, DeliveryEngine, InvariantResult } from "./types.js";
import { settleCase } from "./verify.js";

export interface CrashWindowContext {
  db: DbHandle;
  mapping: ReceiverMapping;
  engine: DeliveryEngine;
  settle: SettleOptions;
  onProgress: (line: string) => void;
}

/** What identifies "the same job" again after it was deleted and re-created (a new id): its key, else its type. */
const identify = (j: JobState, keyed: boolean) => (keyed ? j.dedupeKey : j.type);

/**
 * Runs the crash-window step on one passed case (one stored message with
 * jobs) and folds its invariant into the case. Other cases are returned as
 * they are.
 */
export async function provokeCrashWindow(ctx: CrashWindowContext, prepared: PreparedCase, result: CaseResult): Promise<CaseResult> {
  const jobs = result.jobStates ?? [];
  const messageId = result.messageRowIds?.length === 1 ? result.messageRowIds[0]! : undefined;
  if (prepared.plan.kind !== "message" || !messageId || jobs.length === 0 || result.verdict !== "pass") return result;
  const keyed = ctx.mapping.schema.jobs?.dedupeKey !== undefined;
  // A receiver that commits the message and its jobs in one transaction has
  // no window to provoke: a crash loses both, and the retry creates both.
  // Deleting its jobs would stage a state it can never be in (a false alarm),
  // so the step is skipped when every job shares the message row's xmin.
  const version = await ctx.mapping.readMessageVersion(ctx.db, messageId);
  if (version !== undefined && jobs.every((j) => j.version === version)) {
    ctx.onProgress(`crash-window ${result.name}: skipped, the message and its ${jobs.length} job(s) were committed in one transaction (xmin ${version}), so no crash can separate them`);
    const invariant: InvariantResult = {
      name: "crash-window-jobs-restored",
      expected: "jobs cannot be lost between insert and enqueue",
      observed: `no window: message and ${jobs.length} job(s) committed in one transaction`,
      status: "pass",
    };
    return { ...result, invariants: [...result.invariants, invariant] };
  }
  const removed = await ctx.mapping.deleteJobs(ctx.db, [messageId]);
  // Loud on purpose: this step deletes rows (this run's own) in the user's database.
  // One line: the CLI wraps it to the terminal (hard breaks wrapped again leave orphan words).
  ctx.onProgress(
    `crash-window ${result.name}: DELETED ${removed} job row(s) of message ${messageId} (created by this run) to simulate a crash between insert and enqueue; one more duplicate must restore them (--no-crash-window skips)`,
  );
  const [outcome] = await ctx.engine.send([{ ...prepared.delivery, slot: result.deliveries }], 1);
  const after = (await settleCase(ctx.db, ctx.mapping, prepared, ctx.settle)).value;
  const present = new Set(after.jobStates.map((j) => identify(j, keyed)));
  const missing = jobs.filter((j) => !present.has(identify(j, keyed)));
  const answered = outcome && outcome.status !== null && outcome.status < 500 && !outcome.transportError;
  const ok = missing.length === 0 && Boolean(answered);
  const invariant: InvariantResult = {
    name: "crash-window-jobs-restored",
    expected: `${jobs.length} job(s) back after one duplicate (${[...new Set(jobs.map((j) => j.type))].join(", ")})`,
    observed: ok
      ? `${jobs.length} back`
      : missing.length > 0
        ? `missing ${missing.length}: ${missing.map((j) => identify(j, keyed)).slice(0, 2).join(", ")}`
        : `duplicate answered ${outcome?.status ?? outcome?.error ?? "nothing"}`,
    status: ok ? "pass" : "fail",
    ...(ok ? {} : { witnesses: [result.deliveries] }),
  };
  const notes = [...result.notes];
  if (!ok) {
    notes.push(
      "lost-job risk: a delivery that dies after storing the message and before enqueueing its jobs leaves the message without jobs, and this receiver's duplicates (the provider's retries) answer without re-ensuring them, so the jobs never run. Enqueue jobs with ON CONFLICT DO NOTHING on every delivery, duplicates included.",
    );
  }
  const invariants = [...result.invariants, invariant];
  return { ...result, invariants, notes, verdict: combineVerdicts(invariants.map((i) => i.status)), jobStates: after.jobStates };
}
