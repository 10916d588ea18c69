// What a drain does with the jobs it holds besides running them: renewing
// their leases, handing back the unstarted ones, leaving running ones to
// their lease past the shutdown timeout, recovering other workers' expired
// jobs, and deciding whether a job may run before its start write commits.
// Split from runner.ts, which keeps the claim/start/run loop.
import type { DbHandle } from "../db/client.js";
import { notifyJobWorkers, recoverExpiredLeases, releaseJobs, renewLeases, type ClaimedJobRow, type JobAttempt } from "../db/jobs-sql.js";
import type { StartAnswer } from "./starts.js";
import type { DrainCounters } from "./summary.js";
import { withRetries, type Waker } from "./waker.js";

// queued: claimed, waiting in this worker. starting: its start write is in
// flight. running: its handler runs. finishing: its outcome is being
// written. abandoned: still running past the shutdown timeout, left to its
// lease. released: handed back (or lost) before it started.
export type HeldState = "queued" | "starting" | "running" | "finishing" | "abandoned" | "released";

export interface Held {
  row: ClaimedJobRow;
  state: HeldState;
  abort?: AbortController;
  /** performance.now() before the statement that last set this job's lease (claim or renewal) was sent. */
  leaseFrom: number;
  /** The start write (startJobs), once issued. */
  start?: Promise<StartAnswer>;
  /** Running before its start write's answer: resolves whether the job was still ours. */
  confirmed?: Promise<boolean>;
}

export function attemptOf(row: ClaimedJobRow): JobAttempt {
  return { id: row.id, attempts: row.attempts };
}

/** The run's state these helpers read and change. */
export interface HeldJobs {
  readonly db: DbHandle;
  readonly workerId: string;
  readonly leaseMs: number;
  readonly claimLeaseMs: number;
  readonly held: Map<string, Held>;
  /** Handlers of this process that have not settled yet, by job id. */
  readonly executing: ReadonlyMap<string, Promise<void>>;
  readonly queue: ClaimedJobRow[];
  readonly counters: DrainCounters;
  readonly waker: Waker;
  warn(message: string): void;
  /** Drops a held attempt that is no longer ours (counted as lost). */
  loseHeld(held: Held, why: string): void;
}

/** Hands claimed rows back without spending an attempt; throws only when the database stayed unreachable. */
export async function releaseRows(run: HeldJobs, rows: ClaimedJobRow[]): Promise<void> {
  const released = new Set(await withRetries(() => releaseJobs(run.db.prisma, run.workerId, rows.map(attemptOf))));
  for (const row of rows) {
    const held = run.held.get(row.id);
    if (held?.row === row) {
      held.state = "released";
      run.held.delete(row.id);
    }
    if (released.has(row.id)) run.counters.add(row.type, "released");
  }
  if (released.size > 0) await notifyJobWorkers(run.db.prisma).catch(() => undefined);
}

/** What never started: the only jobs a stopping worker hands back (a started one never, while its handler may still run). */
export function listUnstarted(run: HeldJobs): ClaimedJobRow[] {
  return [...run.held.values()].filter((h) => h.state === "queued" || h.state === "starting").map((h) => h.row);
}

/** Past the shutdown timeout: leave running jobs RUNNING (their lease expires, another worker retries them) and say so. */
export function abandonRunning(run: HeldJobs, stopWaitMs: number): void {
  const running = [...run.held.values()].filter((h) => h.state === "running");
  for (const held of running) {
    held.state = "abandoned";
    held.abort?.abort(new Error(`still running after the ${stopWaitMs} ms shutdown timeout`));
    run.counters.add(held.row.type, "abandoned");
  }
  if (running.length > 0) {
    run.warn(
      `${running.length} job(s) still running after the ${stopWaitMs} ms shutdown timeout; ` +
        `not handed back while their handlers may still run: they stay RUNNING until their lease expires ` +
        `(--lease ${run.leaseMs} ms after the last renewal), then any worker runs them again`,
    );
  }
}

/** Renews the leases of every job still ours; a job missing from the answer was recovered elsewhere and is dropped here. */
export async function renewHeldLeases(run: HeldJobs): Promise<void> {
  const mine = [...run.held.values()].filter((h) => h.state !== "finishing" && h.state !== "abandoned" && h.state !== "released");
  if (mine.length === 0) return;
  let kept: Set<string>;
  const leaseFrom = performance.now();
  try {
    // A renewal that hits a busy pool or a restarting server is retried until the next one is due, not skipped.
    const leases = { leaseMs: run.leaseMs, claimLeaseMs: run.claimLeaseMs };
    kept = new Set(await withRetries(() => renewLeases(run.db.prisma, run.workerId, mine.map((h) => attemptOf(h.row)), leases), run.claimLeaseMs / 3));
  } catch (error) {
    run.warn(`lease renewal failed: ${(error as Error).message}`);
    return;
  }
  for (const held of mine) {
    if (kept.has(held.row.id)) held.leaseFrom = leaseFrom;
    // Only jobs still in the same state: one that moved to finishing meanwhile was settled by its own guarded write.
    if (kept.has(held.row.id) || run.held.get(held.row.id) !== held || held.state === "finishing") continue;
    const queued = run.queue.indexOf(held.row);
    if (queued >= 0) run.queue.splice(queued, 1);
    run.loseHeld(held, `lost the lease on job ${held.row.id} (${held.row.type}); another worker recovered it`);
  }
}

/** Returns expired jobs (of any worker) to the queue; resolves how many became PENDING. Never throws. */
export async function recoverExpired(run: HeldJobs): Promise<number> {
  try {
    const recovered = await withRetries(() => recoverExpiredLeases(run.db.prisma));
    for (const job of recovered) run.counters.add(job.type, job.status === "FAILED" ? "failed" : "recovered");
    if (recovered.length > 0) {
      run.waker.wake();
      await notifyJobWorkers(run.db.prisma).catch(() => undefined);
    }
    return recovered.filter((j) => j.status === "PENDING").length;
  } catch (error) {
    run.warn(`lease recovery failed: ${(error as Error).message}`);
    return 0;
  }
}

/**
 * At flush time, for a job whose start write just left the process: may its
 * handler run before the commit? Only while its lease is certainly still
 * this worker's (the renewal keeps it far from expiry); a job held past half
 * its claim lease (a blocked event loop) waits for the answer.
 */
export function mayRunOnSend(run: HeldJobs, held: Held): boolean {
  if (run.held.get(held.row.id) !== held || held.state !== "starting") return false;
  // A previous run of this job in this process must settle first (execute() waits for it).
  if (run.executing.has(held.row.id)) return false;
  if (performance.now() - held.leaseFrom >= run.claimLeaseMs / 2) return false;
  // From here it counts as running: a stop must not hand it back.
  held.state = "running";
  return true;
}

/** A job started before its confirmation, which then said it was not ours: nothing of this run of it is recorded. */
export function loseStarted(run: HeldJobs, held: Held): void {
  if (held.state !== "finishing") return run.loseHeld(held, `lost job ${held.row.id} (${held.row.type}) as it started; its handler was told to stop (ctx.signal)`);
  if (run.held.get(held.row.id) === held) run.held.delete(held.row.id);
  held.state = "released";
  run.counters.add(held.row.type, "lost");
  run.warn(`lost job ${held.row.id} (${held.row.type}) as it started; its handler had already finished, and its outcome was discarded`);
}
