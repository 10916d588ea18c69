// What a drain did, per job type: the numbers behind the summary table, the
// --json output and the exit code.

export interface TypeCounts {
  /** Attempts this run started (claims). */
  claimed: number;
  succeeded: number;
  /** Failed attempts scheduled for another try. */
  retried: number;
  /** Jobs this run moved to FAILED (attempts used up, no handler, or an expired lease on the last attempt). */
  failed: number;
  /** Claimed but handed back unstarted or unfinished (shutdown, time budget), attempts restored. */
  released: number;
  /** Jobs of dead workers this run returned to PENDING. */
  recovered: number;
  /** Outcomes discarded because another worker had taken the job over (lease lost). */
  lost: number;
  /** Still running past the shutdown timeout: left RUNNING for their lease to expire, not handed back. */
  abandoned: number;
}

/** One distinct handler error of this run: how often it happened, per job type. */
export interface HandlerErrorCount {
  type: string;
  message: string;
  count: number;
}

export type StopReason = "drained" | "max-jobs" | "time-budget" | "signal" | "error";

export interface DrainProgress {
  elapsedMs: number;
  totals: TypeCounts;
  running: number;
  queued: number;
  /** Due jobs when the drain started (only computed when onProgress is given). */
  initialDue?: number;
}

export interface DrainSummary {
  workerId: string;
  mode: "once" | "watch";
  stoppedBy: StopReason;
  elapsedMs: number;
  totals: TypeCounts;
  byType: Record<string, TypeCounts>;
  /** PENDING + RUNNING jobs per type left in the database after the drain (all workers). */
  remaining: Record<string, number>;
  /** Finished attempts (succeeded + retried + failed) per second. */
  jobsPerSecond: number;
  /** Distinct handler errors (type + message), most frequent first, at most 20. */
  errors: HandlerErrorCount[];
  /** How many distinct errors were left out of `errors`. */
  moreErrors: number;
}

export function emptyCounts(): TypeCounts {
  return { claimed: 0, succeeded: 0, retried: 0, failed: 0, released: 0, recovered: 0, lost: 0, abandoned: 0 };
}

export class DrainCounters {
  readonly totals = emptyCounts();
  readonly byType: Record<string, TypeCounts> = {};

  add(type: string, field: keyof TypeCounts, n = 1): void {
    if (n === 0) return;
    this.totals[field] += n;
    (this.byType[type] ??= emptyCounts())[field] += n;
  }
}

export function jobsPerSecond(counts: TypeCounts, elapsedMs: number): number {
  const finished = counts.succeeded + counts.retried + counts.failed;
  return elapsedMs > 0 ? Math.round((finished / elapsedMs) * 1000 * 10) / 10 : 0;
}

/** Counts handler errors by type and message, so each distinct one is reported once. */
export class HandlerErrorTally {
  private readonly counts = new Map<string, HandlerErrorCount>();

  add(type: string, message: string): void {
    const key = `${type}\u0000${message}`;
    const entry = this.counts.get(key);
    if (entry) entry.count++;
    // Bounded: a handler putting ids in its messages must not grow this without limit.
    else if (this.counts.size < 1_000) this.counts.set(key, { type, message, count: 1 });
  }

  /** The `limit` most frequent, and how many distinct ones were left out. */
  top(limit = 20): { errors: HandlerErrorCount[]; more: number } {
    const all = [...this.counts.values()].sort((a, b) => b.count - a.count || a.type.localeCompare(b.type));
    return { errors: all.slice(0, limit).map((e) => ({ ...e })), more: Math.max(0, all.length - limit) };
  }
}

/** The run's summary: its counters and errors, and what is left open in the database (all workers). */
export function buildDrainSummary(run: {
  workerId: string;
  mode: "once" | "watch";
  stoppedBy: StopReason;
  elapsedMs: number;
  counters: DrainCounters;
  errors: HandlerErrorTally;
  open: ReadonlyArray<{ type: string; pending: number; running: number }>;
}): DrainSummary {
  const remaining: Record<string, number> = {};
  for (const c of run.open) remaining[c.type] = c.pending + c.running;
  const top = run.errors.top();
  return {
    workerId: run.workerId,
    mode: run.mode,
    stoppedBy: run.stoppedBy,
    elapsedMs: run.elapsedMs,
    totals: run.counters.totals,
    byType: run.counters.byType,
    remaining,
    jobsPerSecond: jobsPerSecond(run.counters.totals, run.elapsedMs),
    errors: top.errors,
    moreErrors: top.more,
  };
}
