// drainJobs: claims due jobs in batches, runs them with bounded concurrency,
// and records outcomes in batches. Safety rests on the database, not on this
// process: every write after the claim is guarded by lockedBy + attempt
// (src/db/jobs-sql.ts). A claimed job holds a short claim lease until its
// handler starts (a start write that has left the process, or committed:
// src/jobs/starts.ts), then the full lease; leases are
// renewed while held and recovered by any worker once a job's own lease
// lapses. On a stop, unstarted jobs are handed back without spending an
// attempt; running ones only once their handlers settle.
import { BackgroundJobType } from "../generated/prisma/enums.js";
import type { DbHandle } from "../db/client.js";
import { claimJobs, countOpenJobs, type ClaimedJobRow, type JobAttempt } from "../db/jobs-sql.js";
import { abandonRunning, attemptOf, listUnstarted, loseStarted, mayRunOnSend, recoverExpired, releaseRows, renewHeldLeases, type Held, type HeldJobs } from "./held.js";
import { buildHandlerContext, runHandler } from "./execute.js";
import { OutcomeBatcher, sanitiseErrorText, type Settlement } from "./outcomes.js";
import { SendChannel } from "../db/send-channel.js";
import { StartBatcher, type StartAnswer } from "./starts.js";
import { computeRetryDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
import { createWorkerId, isTransactionPoolerUrl, type DrainJobsOptions } from "./options.js";
import { createHandlerRegistry, type HandlerRegistry } from "./registry.js";
import { buildDrainSummary, DrainCounters, HandlerErrorTally, type DrainProgress, type DrainSummary, type StopReason } from "./summary.js";
import { listenOrPoll, Waker, withRetries } from "./waker.js";

const ALL_TYPES = Object.values(BackgroundJobType);

/** Runs due jobs until the drain's stop condition; never throws for a failing job, only for a broken database. */
export async function drainJobs(db: DbHandle, options: DrainJobsOptions = {}): Promise<DrainSummary> {
  return new DrainRun(db, options).run();
}

// Not exported: its public members are the state held.ts works on.
class DrainRun implements HeldJobs {
  private readonly concurrency: number;
  private readonly batch: number;
  /** Queue length at which the next claim goes out. */
  private readonly refillAt: number;
  private readonly mode: "once" | "watch";
  private readonly maxJobs: number;
  private readonly types: readonly BackgroundJobType[];
  readonly leaseMs: number;
  readonly claimLeaseMs: number;
  private readonly startAheadCount: number;
  readonly workerId: string;
  private readonly registry: HandlerRegistry;
  private readonly backoff: BackoffOptions;
  readonly warn: (message: string) => void;

  readonly counters = new DrainCounters();
  private readonly errors = new HandlerErrorTally();
  readonly held = new Map<string, Held>();
  /** Handlers of this process that have not settled yet, by job id: a re-claimed job waits for its previous run. */
  readonly executing = new Map<string, Promise<void>>();
  private starts: StartBatcher;
  private channel?: SendChannel;
  private channelOpening: Promise<void> = Promise.resolve();
  /** Outcomes of handlers that ran before their start write was confirmed, recorded once it is. */
  private readonly awaitingConfirmation = new Set<Promise<void>>();
  readonly queue: ClaimedJobRow[] = [];
  readonly waker = new Waker();
  private readonly outcomes: OutcomeBatcher;
  private claimed = 0;
  private claimedAtLastCheck = -1;
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
    readonly db: DbHandle,
    private readonly options: DrainJobsOptions,
  ) {
    this.concurrency = options.concurrency ?? 10;
    this.batch = options.batch ?? 100;
    this.refillAt = Math.max(this.concurrency, Math.floor(this.batch / 2));
    this.mode = options.mode ?? "once";
    this.maxJobs = options.maxJobs ?? Number.POSITIVE_INFINITY;
    this.types = options.types?.length ? options.types : ALL_TYPES;
    this.leaseMs = options.leaseMs ?? 5 * 60_000;
    this.claimLeaseMs = Math.min(this.leaseMs, options.claimLeaseMs ?? 30_000);
    this.startAheadCount = options.startAhead ?? 0;
    this.workerId = options.workerId ?? createWorkerId();
    this.registry = createHandlerRegistry(options.handlers, { builtins: options.builtins });
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.outcomes = new OutcomeBatcher({
      db,
      workerId: this.workerId,
      flushSize: options.flushSize ?? this.batch,
      flushDelayMs: options.flushDelayMs ?? 2,
      onSettled: (attempt, settlement, retryDelayMs) => {
        this.settle(attempt, settlement);
        // A retry of our own is due later; in watch mode wake up for it rather than wait for a poll.
        if (retryDelayMs !== undefined && this.mode === "watch") this.waker.wakeAfter(retryDelayMs);
      },
      onError: (error) => this.fail(error),
      onWarning: (message) => this.warn(message),
    });
    this.starts = this.createStartBatcher();
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
      if (this.mode === "watch") {
        const pooled = isTransactionPoolerUrl(this.db.url);
        if (this.options.listen ?? !pooled) unlisten = await listenOrPoll(this.db.url, this.waker, this.warn);
        // Said once, so an operator knows why new jobs wait up to --poll-interval.
        else this.warn(`${pooled ? "transaction-mode pooler (pgbouncer=true)" : "--no-listen"}: not LISTENing for new jobs; polling only`);
      }
      this.scheduleTimeBudget(timers);
      // Opened while the first recovery and count run, ready before the first start.
      this.channelOpening = this.openStartChannel();
      // Renewing at a third of the shorter lease survives two missed renewals.
      timers.push(setInterval(() => void renewHeldLeases(this), Math.max(50, this.claimLeaseMs / 3)));
      // Each job carries its own expiry, so how often to look is all this
      // worker's lease decides: often enough for its own claim lease.
      timers.push(setInterval(() => void recoverExpired(this), Math.min(5_000, Math.max(200, this.claimLeaseMs / 2))));
      await recoverExpired(this);
      let initialDue: number | undefined;
      if (this.options.onProgress) {
        initialDue = (await countOpenJobs(this.db.prisma, this.types, this.options.messageIds)).reduce((sum, c) => sum + c.due, 0);
        const report = () => this.options.onProgress!(this.progress(initialDue));
        timers.push(setInterval(report, this.options.progressIntervalMs ?? 200));
      }

      await this.channelOpening;
      let workers = this.startWorkers();
      await Promise.race([workers, this.stopped]);
      // --once: nothing was claimable, but jobs may have become due since
      // (recovered by another worker, released, retried): look again once
      // every handler here has settled, and go on while any are due.
      while (!this.stopReason && (await this.findDueAgain())) {
        this.exhausted = false;
        workers = this.startWorkers();
        await Promise.race([workers, this.stopped]);
      }
      if (this.stopReason) {
        let timeout: NodeJS.Timeout | undefined;
        const finished = await Promise.race([
          workers.then(() => true),
          new Promise<boolean>((resolve) => (timeout = setTimeout(() => resolve(false), this.stopWaitMs))),
        ]);
        clearTimeout(timeout);
        if (!finished) abandonRunning(this, this.stopWaitMs);
      }
      for (const timer of timers) clearInterval(timer);
      await this.flushOutcomes();
      await this.releasing;
      await this.release(listUnstarted(this));
      this.options.onProgress?.(this.progress(initialDue));
      if (this.fatal) throw this.fatal;
      return await this.summarise(this.stopReason ?? (this.claimed >= this.maxJobs ? "max-jobs" : "drained"));
    } finally {
      for (const timer of timers) clearInterval(timer);
      this.outcomes.dispose();
      this.waker.dispose();
      this.options.signal?.removeEventListener("abort", onAbort);
      await unlisten?.();
      await this.channelOpening;
      await this.channel?.close();
    }
  }

  private startWorkers(): Promise<void[]> {
    return Promise.all(Array.from({ length: this.concurrency }, () => this.work()));
  }

  /** --once, after the workers ran dry: whether a due job appeared meanwhile. */
  private async findDueAgain(): Promise<boolean> {
    if (this.mode !== "once" || this.claimed >= this.maxJobs) return false;
    await this.flushOutcomes();
    await recoverExpired(this);
    const open = await withRetries(() => countOpenJobs(this.db.prisma, this.types, this.options.messageIds));
    const due = open.some((c) => c.due > 0);
    // Due jobs this worker cannot claim right now (another worker's claim is committing): do not spin.
    if (due && this.claimed === this.claimedAtLastCheck) await new Promise((resolve) => setTimeout(resolve, 20));
    this.claimedAtLastCheck = this.claimed;
    return due;
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
        const held = this.held.get(row.id);
        // Superseded by a re-claim of the same job (its lease had lapsed): that claim runs instead.
        if (held?.row !== row || held.state !== "queued") continue;
        held.state = "starting";
        held.start ??= this.starts.start(attemptOf(row), () => mayRunOnSend(this, held));
        this.startAhead();
        // Refill while half a batch is still queued: a 500-row claim takes
        // tens of ms on a busy server, longer than `concurrency` jobs last,
        // and every slot would stall on it (measured: ~1/3 of a 1×10 drain).
        if (this.queue.length <= this.refillAt && this.canClaim()) void this.fetch();
        return row;
      }
      if (!this.canClaim()) return undefined;
      await this.fetch();
    }
  }

  /**
   * --start-ahead n: issue the start writes of the next n queued jobs now, so
   * a slot that frees up finds its next job already started instead of
   * waiting a round trip. The price: if this process dies, those n jobs were
   * charged an attempt their handlers never used.
   */
  private startAhead(): void {
    for (let i = 0; i < Math.min(this.startAheadCount, this.queue.length); i++) {
      const held = this.held.get(this.queue[i]!.id);
      if (held?.row === this.queue[i] && held.state === "queued") held.start ??= this.starts.start(attemptOf(held.row));
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
    // The claim lease runs from some moment after this one.
    const leaseFrom = performance.now();
    let rows: ClaimedJobRow[];
    try {
      rows = await withRetries(() => claimJobs(this.db.prisma, this.workerId, want, this.types, this.claimLeaseMs, this.options.messageIds));
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    if (rows.length === 0) {
      if (this.mode === "once") {
        // Before declaring the queue empty, take back jobs of dead workers.
        if ((await recoverExpired(this)) === 0) this.exhausted = true;
      } else {
        await this.waker.wait(this.options.pollIntervalMs ?? 2_000);
      }
      return;
    }
    this.claimed += rows.length;
    for (const row of rows) {
      this.counters.add(row.type, "claimed");
      const previous = this.held.get(row.id);
      // This worker claimed a job it still holds: its lease lapsed (a blocked
      // event loop) and it was recovered. The old attempt is lost; the new
      // one waits in execute() for the old handler to settle.
      if (previous) this.loseHeld(previous, `job ${row.id} (${row.type}) was recovered while this worker held it (was its event loop blocked past --lease?) and claimed again`);
      this.held.set(row.id, { row, state: "queued", leaseFrom });
    }
    this.options.onHeldChange?.(this.held.size);
    if (this.stopReason) {
      this.releaseNow(rows);
      return;
    }
    this.queue.push(...rows);
  }

  private async execute(row: ClaimedJobRow): Promise<void> {
    const held = this.held.get(row.id);
    if (held?.row !== row) return;
    // Never twice at once in this process: a previous run of this job (before a re-claim) settles first.
    const previous = this.executing.get(row.id);
    if (previous) await previous;
    if (held.state !== "starting") return;
    const handler = this.registry.find(row.type);
    if (!handler) {
      held.state = "finishing";
      this.outcomes.recordFailure({ ...attemptOf(row), error: `no handler for type ${row.type}: export a handler named ${row.type} from the --handlers module, or leave the built-in handlers on`, retryDelayMs: 0, permanent: true });
      return;
    }
    const answer: StartAnswer = await (held.start ??= this.starts.start(attemptOf(row), () => mayRunOnSend(this, held)));
    if (!answer.run) {
      if (held.state === "starting") this.loseHeld(held, `lost the lease on job ${row.id} (${row.type}) before it started; another worker recovered it`);
      return;
    }
    if (held.state !== "starting" && !(answer.confirmed && held.state === "running")) return;
    held.state = "running";
    if (answer.confirmed) held.confirmed = answer.confirmed;
    held.abort = new AbortController();
    const execution = runHandler(handler, { ...row }, buildHandlerContext({ db: this.db, workerId: this.workerId, registry: this.registry }, row, held.abort), held.abort, this.options.jobTimeoutMs);
    this.executing.set(row.id, execution.settled);
    void execution.settled.then(() => {
      if (this.executing.get(row.id) === execution.settled) this.executing.delete(row.id);
    });
    const result = await execution.result;
    // A timed-out handler may run on, but the runner no longer waits for it.
    if (result.kind === "timed-out" && this.executing.get(row.id) === execution.settled) this.executing.delete(row.id);
    // Abandoned (shutdown timeout) or lost (lease taken over): the outcome is no longer ours to record.
    if (this.held.get(row.id) !== held || held.state !== "running") return;
    held.state = "finishing";
    const record = () => {
      if (result.kind === "succeeded") {
        this.outcomes.recordCompletion(attemptOf(row));
        return;
      }
      const error = result.kind === "failed" ? result.error : new Error(result.message);
      const message = sanitiseErrorText(error instanceof Error ? error.message : String(error)) || "handler failed without a message";
      this.errors.add(row.type, message);
      this.outcomes.recordFailure({ ...attemptOf(row), error: message, retryDelayMs: computeRetryDelay(row.attempts, this.backoff), permanent: false });
    };
    if (!held.confirmed) return record();
    // Started before its start write was confirmed: the outcome waits for
    // it (an outcome must not overtake its own start), but the slot does not.
    const recorded = held.confirmed.then((ours) => {
      if (ours && this.held.get(row.id) === held) record();
      else loseStarted(this, held);
    });
    this.awaitingConfirmation.add(recorded);
    void recorded.finally(() => this.awaitingConfirmation.delete(recorded));
  }

  /** Writes every outcome recorded so far, including those still waiting for their start's confirmation. */
  private async flushOutcomes(): Promise<void> {
    await Promise.all(this.awaitingConfirmation);
    await this.outcomes.flush();
  }

  private createStartBatcher(channel?: SendChannel): StartBatcher {
    return new StartBatcher({
      db: this.db,
      workerId: this.workerId,
      leaseMs: this.leaseMs,
      channel,
      borrowCompletions: () => this.outcomes.borrowCompletions(),
      onError: (error) => this.fail(error),
    });
  }

  /** The start writes' own connections, where a sent statement can be seen to have left (src/db/send-channel.ts). */
  private async openStartChannel(): Promise<void> {
    const size = this.options.startConnections ?? 2;
    if (size <= 0 || isTransactionPoolerUrl(this.db.url)) return;
    this.channel = await SendChannel.open(this.db.pool, size, "dedupe-cli drain-jobs starts");
    if (this.channel) this.starts = this.createStartBatcher(this.channel);
  }

  /** Drops a held attempt that is no longer ours (counted as lost); a running handler is told through its signal. */
  loseHeld(held: Held, why: string): void {
    if (this.held.get(held.row.id) === held) this.held.delete(held.row.id);
    if (held.state === "finishing" || held.state === "released") return;
    held.state = "released";
    held.abort?.abort(new Error("lease lost"));
    this.counters.add(held.row.type, "lost");
    this.warn(why);
  }

  private settle(attempt: JobAttempt, field: Settlement): void {
    const { id } = attempt;
    const held = this.held.get(id);
    if (!held || held.row.attempts !== attempt.attempts) return;
    this.held.delete(id);
    this.options.onHeldChange?.(this.held.size);
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
      await releaseRows(this, rows);
    } catch (error) {
      this.fatal ??= error as Error;
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

  private async summarise(stoppedBy: StopReason): Promise<DrainSummary> {
    const open = await countOpenJobs(this.db.prisma, this.types, this.options.messageIds);
    return buildDrainSummary({ workerId: this.workerId, mode: this.mode, stoppedBy, elapsedMs: Math.round(performance.now() - this.started), counters: this.counters, errors: this.errors, open });
  }

  private progress(initialDue: number | undefined): DrainProgress {
    let running = 0;
    for (const held of this.held.values()) if (held.state === "running") running++;
    return { elapsedMs: performance.now() - this.started, totals: { ...this.counters.totals }, running, queued: this.queue.length, initialDue };
  }
}
