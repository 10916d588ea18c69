// drainJobs: claims due jobs in batches, runs them with bounded concurrency,
// and records outcomes in batches. Safety rests on the database, not on this
// process: every write after the claim is guarded by lockedBy + attempt
// (src/db/jobs-sql.ts), leases are renewed while a job is held and recovered
// by any worker once they lapse, and whatever this process still holds when
// it stops is handed back without spending an attempt.
import { BackgroundJobType } from "../generated/prisma/enums.js";
import type { DbHandle } from "../db/client.js";
import {
  claimJobs,
  countOpenJobs,
  listenForJobs,
  notifyJobWorkers,
  recoverExpiredLeases,
  releaseJobs,
  renewLeases,
  type ClaimedJobRow,
  type JobAttempt,
} from "../db/jobs-sql.js";
import { OutcomeBatcher, type Settlement } from "./outcomes.js";
import { computeRetryDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
import { createWorkerId, type DrainJobsOptions } from "./options.js";
import { createHandlerRegistry, type HandlerRegistry } from "./registry.js";
import { DrainCounters, jobsPerSecond, type DrainProgress, type DrainSummary, type StopReason } from "./summary.js";
import type { JobHandlerContext, JobInfo } from "./types.js";
import { Waker, withRetries } from "./waker.js";

type HeldState = "queued" | "running" | "finishing";
interface Held {
  row: ClaimedJobRow;
  state: HeldState;
  abort?: AbortController;
}

const ALL_TYPES = Object.values(BackgroundJobType);

/** Runs due jobs until the drain's stop condition; never throws for a failing job, only for a broken database. */
export async function drainJobs(db: DbHandle, options: DrainJobsOptions = {}): Promise<DrainSummary> {
  return new DrainRun(db, options).run();
}

class DrainRun {
  private readonly concurrency: number;
  private readonly batch: number;
  private readonly mode: "once" | "watch";
  private readonly maxJobs: number;
  private readonly types: readonly BackgroundJobType[];
  private readonly leaseMs: number;
  private readonly workerId: string;
  private readonly registry: HandlerRegistry;
  private readonly backoff: BackoffOptions;
  private readonly warn: (message: string) => void;

  private readonly counters = new DrainCounters();
  private readonly held = new Map<string, Held>();
  private readonly queue: ClaimedJobRow[] = [];
  private readonly waker = new Waker();
  private readonly outcomes: OutcomeBatcher;
  private claimed = 0;
  private exhausted = false;
  private fetching?: Promise<void>;
  private releasing: Promise<void> = Promise.resolve();
  private stopReason?: StopReason;
  private stopWaitMs: number;
  private fatal?: Error;
  private readonly stopped: Promise<void>;
  private signalStopped!: () => void;
  private readonly started = performance.now();

  constructor(
    private readonly db: DbHandle,
    private readonly options: DrainJobsOptions,
  ) {
    this.concurrency = options.concurrency ?? 10;
    this.batch = options.batch ?? 100;
    this.mode = options.mode ?? "once";
    this.maxJobs = options.maxJobs ?? Number.POSITIVE_INFINITY;
    this.types = options.types?.length ? options.types : ALL_TYPES;
    this.leaseMs = options.leaseMs ?? 5 * 60_000;
    this.workerId = options.workerId ?? createWorkerId();
    this.registry = createHandlerRegistry(options.handlers, { builtins: options.builtins });
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.outcomes = new OutcomeBatcher({
      db,
      workerId: this.workerId,
      flushSize: options.flushSize ?? this.batch,
      flushDelayMs: options.flushDelayMs ?? 2,
      onSettled: (id, settlement, retryDelayMs) => {
        this.settle(id, settlement);
        // A retry of our own is due later; in watch mode wake up for it rather than wait for a poll.
        if (retryDelayMs !== undefined && this.mode === "watch") this.waker.wakeAfter(retryDelayMs);
      },
      onError: (error) => this.fail(error),
    });
    this.stopWaitMs = options.shutdownTimeoutMs ?? 10_000;
    this.warn = options.onWarning ?? (() => undefined);
    this.stopped = new Promise((resolve) => (this.signalStopped = resolve));
  }

  async run(): Promise<DrainSummary> {
    const timers: NodeJS.Timeout[] = [];
    const onAbort = () => this.stop("signal");
    let unlisten: (() => Promise<void>) | undefined;
    try {
      if (this.options.signal?.aborted) return await this.summarise("signal");
      this.options.signal?.addEventListener("abort", onAbort, { once: true });
      if (this.mode === "watch") unlisten = await this.listen();
      this.scheduleTimeBudget(timers);
      // Renewing at a third of the lease survives two missed renewals.
      timers.push(setInterval(() => void this.renewLeases(), Math.max(50, this.leaseMs / 3)));
      timers.push(setInterval(() => void this.recover(), Math.min(60_000, Math.max(200, this.leaseMs / 2))));
      await this.recover();
      let initialDue: number | undefined;
      if (this.options.onProgress) {
        initialDue = (await countOpenJobs(this.db.prisma, this.types)).reduce((sum, c) => sum + c.due, 0);
        const report = () => this.options.onProgress!(this.progress(initialDue));
        timers.push(setInterval(report, this.options.progressIntervalMs ?? 200));
      }

      const workers = Promise.all(Array.from({ length: this.concurrency }, () => this.work()));
      await Promise.race([workers, this.stopped]);
      if (this.stopReason) {
        let timeout: NodeJS.Timeout | undefined;
        const finished = await Promise.race([
          workers.then(() => true),
          new Promise<boolean>((resolve) => (timeout = setTimeout(() => resolve(false), this.stopWaitMs))),
        ]);
        clearTimeout(timeout);
        if (!finished) this.abandonRunning("did not finish within the shutdown timeout");
      }
      for (const timer of timers) clearInterval(timer);
      await this.outcomes.flush();
      await this.releasing;
      await this.releaseHeld();
      this.options.onProgress?.(this.progress(initialDue));
      if (this.fatal) throw this.fatal;
      return await this.summarise(this.stopReason ?? (this.claimed >= this.maxJobs ? "max-jobs" : "drained"));
    } finally {
      for (const timer of timers) clearInterval(timer);
      this.outcomes.dispose();
      this.waker.dispose();
      this.options.signal?.removeEventListener("abort", onAbort);
      await unlisten?.();
    }
  }

  private async work(): Promise<void> {
    for (;;) {
      const row = await this.next();
      if (!row) return;
      await this.execute(row);
    }
  }

  private async next(): Promise<ClaimedJobRow | undefined> {
    for (;;) {
      if (this.stopReason) return undefined;
      const row = this.queue.shift();
      if (row) {
        this.held.get(row.id)!.state = "running";
        // Refill before the queue runs dry so workers never wait on a claim round trip.
        if (this.queue.length <= this.concurrency && this.canClaim()) void this.fetch();
        return row;
      }
      if (!this.canClaim()) return undefined;
      await this.fetch();
    }
  }

  private canClaim(): boolean {
    return !this.stopReason && this.claimed < this.maxJobs && !(this.mode === "once" && this.exhausted);
  }

  private fetch(): Promise<void> {
    this.fetching ??= this.fetchOnce().finally(() => (this.fetching = undefined));
    return this.fetching;
  }

  private async fetchOnce(): Promise<void> {
    const want = Math.min(this.batch, this.maxJobs - this.claimed);
    let rows: ClaimedJobRow[];
    try {
      rows = await withRetries(() => claimJobs(this.db.prisma, this.workerId, want, this.types, this.options.messageIds));
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    if (rows.length === 0) {
      if (this.mode === "once") {
        // Before declaring the queue empty, take back jobs of dead workers.
        if ((await this.recover()) === 0) this.exhausted = true;
      } else {
        await this.waker.wait(this.options.pollIntervalMs ?? 2_000);
      }
      return;
    }
    this.claimed += rows.length;
    for (const row of rows) {
      this.counters.add(row.type, "claimed");
      this.held.set(row.id, { row, state: "queued" });
    }
    if (this.stopReason) {
      this.releaseNow(rows);
      return;
    }
    this.queue.push(...rows);
  }

  private async execute(row: ClaimedJobRow): Promise<void> {
    const held = this.held.get(row.id);
    if (!held || held.state !== "running") return;
    const handler = this.registry.find(row.type);
    if (!handler) {
      held.state = "finishing";
      this.outcomes.recordFailure({ ...attemptOf(row), error: `no handler for type ${row.type}: export a handler named ${row.type} from the --handlers module, or leave the built-in handlers on`, retryDelayMs: 0, permanent: true });
      return;
    }
    held.abort = new AbortController();
    // A copy: a handler that mutates its job must not change what the runner's guarded writes use.
    const job: JobInfo = { ...row };
    const builtin = this.registry.builtin(row.type);
    const ctx: JobHandlerContext = {
      db: this.db.prisma,
      pool: this.db.pool,
      workerId: this.workerId,
      signal: held.abort.signal,
      runBuiltin: async () => {
        if (!builtin) throw new Error(`no built-in handler for type ${row.type}; remove the ctx.runBuiltin() call`);
        await builtin(job, { ...ctx, runBuiltin: () => Promise.reject(new Error("ctx.runBuiltin() was called from inside a built-in handler; call it only from your own handler")) });
      },
    };
    let error: unknown;
    try {
      await handler(job, ctx);
    } catch (caught) {
      error = caught ?? new Error("the handler threw null or undefined; throw an Error instead");
    }
    // Abandoned (shutdown timeout) or lost (lease taken over): the outcome is no longer ours to record.
    if (this.held.get(row.id) !== held || held.state !== "running") return;
    held.state = "finishing";
    if (error === undefined) {
      this.outcomes.recordCompletion(attemptOf(row));
    } else {
      const message = error instanceof Error ? error.message : String(error);
      this.outcomes.recordFailure({
        ...attemptOf(row),
        error: message.slice(0, 2_000) || "handler failed without a message",
        retryDelayMs: computeRetryDelay(row.attempts, this.backoff),
        permanent: false,
      });
    }
  }

  private settle(id: string, field: Settlement): void {
    const held = this.held.get(id);
    if (!held) return;
    this.held.delete(id);
    this.counters.add(held.row.type, field);
    if (field === "lost") this.warn(`job ${id} (${held.row.type}) was taken over by another worker; this run's outcome was discarded`);
  }

  private stop(reason: StopReason): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.waker.wake();
    this.releaseNow(this.queue.splice(0));
    this.signalStopped();
  }

  private fail(error: Error): void {
    this.fatal ??= error;
    this.stop("error");
  }

  /** Hands unstarted jobs back right away, so other workers can take them while ours finish. */
  private releaseNow(rows: ClaimedJobRow[]): void {
    if (rows.length === 0) return;
    this.releasing = this.releasing.then(() => this.release(rows));
  }

  private async release(rows: ClaimedJobRow[]): Promise<void> {
    try {
      const released = new Set(await withRetries(() => releaseJobs(this.db.prisma, this.workerId, rows.map(attemptOf))));
      for (const row of rows) {
        this.held.delete(row.id);
        if (released.has(row.id)) this.counters.add(row.type, "released");
      }
      if (released.size > 0) await notifyJobWorkers(this.db.prisma).catch(() => undefined);
    } catch (error) {
      this.fatal ??= error as Error;
    }
  }

  private async releaseHeld(): Promise<void> {
    const rows = [...this.held.values()].filter((h) => h.state !== "finishing").map((h) => h.row);
    await this.release(rows);
  }

  private abandonRunning(why: string): void {
    for (const held of this.held.values()) {
      if (held.state !== "running") continue;
      held.state = "queued";
      held.abort?.abort(new Error(why));
      this.warn(`job ${held.row.id} (${held.row.type}) ${why}; handing it back`);
    }
  }

  private async renewLeases(): Promise<void> {
    const mine = [...this.held.values()].filter((h) => h.state !== "finishing");
    if (mine.length === 0) return;
    let kept: Set<string>;
    try {
      kept = new Set(await renewLeases(this.db.prisma, this.workerId, mine.map((h) => attemptOf(h.row))));
    } catch (error) {
      this.warn(`lease renewal failed: ${(error as Error).message}`);
      return;
    }
    for (const held of mine) {
      // Only jobs still in the same state: one that moved to finishing meanwhile was settled by its own guarded write.
      if (kept.has(held.row.id) || this.held.get(held.row.id) !== held || held.state === "finishing") continue;
      this.held.delete(held.row.id);
      const queued = this.queue.indexOf(held.row);
      if (queued >= 0) this.queue.splice(queued, 1);
      held.abort?.abort(new Error("lease lost"));
      this.counters.add(held.row.type, "lost");
      this.warn(`lost the lease on job ${held.row.id} (${held.row.type}); another worker recovered it`);
    }
  }

  private async recover(): Promise<number> {
    try {
      const recovered = await recoverExpiredLeases(this.db.prisma, this.leaseMs);
      for (const job of recovered) this.counters.add(job.type, job.status === "FAILED" ? "failed" : "recovered");
      if (recovered.length > 0) {
        this.waker.wake();
        await notifyJobWorkers(this.db.prisma).catch(() => undefined);
      }
      return recovered.filter((j) => j.status === "PENDING").length;
    } catch (error) {
      this.warn(`lease recovery failed: ${(error as Error).message}`);
      return 0;
    }
  }

  private scheduleTimeBudget(timers: NodeJS.Timeout[]): void {
    const budget = this.options.timeBudgetMs;
    if (budget === undefined) return;
    // Keep back enough of the window for in-flight jobs to finish: the
    // shutdown timeout, but never more than a quarter of the budget.
    const reserve = Math.min(this.stopWaitMs, budget / 4);
    this.stopWaitMs = reserve;
    timers.push(setTimeout(() => this.stop("time-budget"), budget - reserve));
  }

  private async listen(): Promise<() => Promise<void>> {
    try {
      return await listenForJobs(this.db.url, () => this.waker.wake(), (error) => this.warn(`LISTEN connection failed (${error.message}); polling only`));
    } catch (error) {
      this.warn(`could not LISTEN for new jobs (${(error as Error).message}); polling only`);
      return async () => undefined;
    }
  }

  private progress(initialDue: number | undefined): DrainProgress {
    let running = 0;
    for (const held of this.held.values()) if (held.state === "running") running++;
    return { elapsedMs: performance.now() - this.started, totals: { ...this.counters.totals }, running, queued: this.queue.length, initialDue };
  }

  private async summarise(stoppedBy: StopReason): Promise<DrainSummary> {
    const elapsedMs = Math.round(performance.now() - this.started);
    const open = await countOpenJobs(this.db.prisma, this.types);
    const remaining: Record<string, number> = {};
    for (const c of open) remaining[c.type] = c.pending + c.running;
    return {
      workerId: this.workerId,
      mode: this.mode,
      stoppedBy,
      elapsedMs,
      totals: this.counters.totals,
      byType: this.counters.byType,
      remaining,
      jobsPerSecond: jobsPerSecond(this.counters.totals, elapsedMs),
    };
  }
}

function attemptOf(row: ClaimedJobRow): JobAttempt {
  return { id: row.id, attempts: row.attempts };
}
