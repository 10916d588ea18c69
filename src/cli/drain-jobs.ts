// dedupe-cli drain-jobs: run queued BackgroundJobs with the PostgreSQL job
// runner (src/jobs/runner.ts). Safe to run as many copies as you like, on
// as many machines: claims use SKIP LOCKED and every outcome write is guarded
// by the claiming worker and attempt.
import { writeSync } from "node:fs";
import type { Command } from "commander";
import { z } from "zod";
import { InvariantViolationError } from "../errors.js";
import { BackgroundJobType } from "../generated/prisma/enums.js";
import { loadHandlersModule } from "../jobs/registry.js";
import { drainJobs } from "../jobs/runner.js";
import type { JobHandlerMap } from "../jobs/types.js";
import { outputWidth, useColor, type CliContext } from "./context.js";
import { createProgressReporter, renderHandlerErrors, renderSummaryTable } from "./drain-jobs-report.js";
import { registerStats } from "./drain-jobs-stats.js";
import { durationFlag } from "./duration.js";
import { addDatabaseOptions, databaseOptionsSchema, intFlag, openDatabaseSession, parseOptions } from "./options.js";

const JOB_TYPES = Object.values(BackgroundJobType) as [BackgroundJobType, ...BackgroundJobType[]];

const optionsSchema = databaseOptionsSchema
  .extend({
    concurrency: intFlag(1, 1_000).default(10),
    batch: intFlag(1, 10_000).default(100),
    once: z.boolean().default(false),
    watch: z.boolean().default(false),
    maxJobs: intFlag(1).optional(),
    type: z.array(z.enum(JOB_TYPES, { message: `must be one of ${JOB_TYPES.join(", ")}` })).optional(),
    lease: durationFlag(100).default(5 * 60_000),
    claimLease: durationFlag(100).default(30_000),
    startAhead: intFlag(0, 10_000).default(0),
    startConnections: intFlag(0, 16).default(2),
    jobTimeout: durationFlag(1).optional(),
    timeBudget: durationFlag(100).optional(),
    shutdownTimeout: durationFlag(0).default(10_000),
    pollInterval: durationFlag(10).default(2_000),
    listen: z.boolean().default(true),
    backoffBase: durationFlag(1).default(5_000),
    backoffMax: durationFlag(1).default(15 * 60_000),
    handlers: z.string().min(1).optional(),
    workerId: z.string().min(1).max(200).optional(),
    json: z.boolean().default(false),
  })
  .refine((o) => !(o.once && o.watch), { message: "--once and --watch cannot be combined", path: ["watch"] })
  .refine((o) => o.backoffMax >= o.backoffBase, { message: "must be at least --backoff-base", path: ["backoffMax"] });

type DrainJobsCliOptions = z.infer<typeof optionsSchema>;

export function register(program: Command, ctx: CliContext): Command {
  const command = addDatabaseOptions(
    program
      .command("drain-jobs")
      .description(
        "Run queued background jobs. Each job runs once at a time and is never lost: claims use " +
          "FOR UPDATE SKIP LOCKED, outcomes are guarded by worker and attempt, a dead worker's jobs " +
          "return to PENDING after the lease, and SIGINT/SIGTERM hands unfinished jobs back.",
      ),
  )
    .option("--concurrency <n>", "jobs run at once", "10")
    .option("--batch <n>", "jobs claimed per statement", "100")
    .option("--once", "exit when no runnable job is left (default)", false)
    .option("--watch", "keep running; new jobs wake the worker via LISTEN/NOTIFY, with polling as a fallback", false)
    .option("--max-jobs <n>", "stop after claiming this many jobs")
    .option("--type <types...>", `only these job types (${JOB_TYPES.join(", ")})`)
    .option("--lease <duration>", "a started job whose lease is not renewed for this long is recovered by any worker", "5m")
    .option("--claim-lease <duration>", "lease of a claimed job whose handler has not started yet (at most --lease)", "30s")
    .option("--start-ahead <n>", "start this many queued jobs before a slot frees up: faster, but a crash charges them an attempt", "0")
    .option(
      "--start-connections <n>",
      "connections of their own for start writes: a handler runs once its start write is sent, not after its commit (0: wait for the commit)",
      "2",
    )
    .option("--job-timeout <duration>", "fail an attempt whose handler has not settled after this long (its signal is aborted)")
    .option("--time-budget <duration>", "stop claiming early enough to finish within this window (cron-style runs)")
    .option("--shutdown-timeout <duration>", "after SIGINT/SIGTERM, how long to wait for running handlers; past it, exit and leave them to their lease", "10s")
    .option("--poll-interval <duration>", "--watch: poll this often when no notification arrives", "2s")
    .option("--no-listen", "--watch: poll only, no LISTEN (implied by pgbouncer=true in the URL: transaction pooling)")
    .option("--backoff-base <duration>", "retry delay after the first failure (doubles per attempt, ±25% jitter)", "5s")
    .option("--backoff-max <duration>", "cap on any retry delay", "15m")
    .option("--handlers <module>", "ES module exporting handlers by job type; they override the built-ins")
    .option("--worker-id <id>", "name recorded in lockedBy (default host:pid:random)")
    .option("-j, --json", "print one JSON summary on stdout and nothing else", false)
    .addHelpText(
      "after",
      `
Handlers: export default { EMAIL_INBOUND_POST_PROCESS: async (job, ctx) => { ... } } (or named
exports). job = { id, type, dedupeKey, clientId, leadId, messageId, attempts, maxAttempts, runAt,
createdAt }; ctx = { db (Prisma), pool (pg), workerId, signal, runBuiltin() }. Resolve to succeed,
throw to fail the attempt. Handlers must be idempotent: a job can run again after a crash.

Exit codes: 0 every claimed job succeeded or was scheduled for a retry, 1 a job reached FAILED
(the summary is printed first), 2 bad flag, --handlers module or database (nothing claimed).

Examples:
  $ dedupe-cli drain-jobs --concurrency 20
  $ dedupe-cli drain-jobs --time-budget 240s          # from cron, every minute
  $ dedupe-cli drain-jobs --watch --handlers ./handlers.mjs`,
    )
    .action(async (raw) => {
      const opts = parseOptions(optionsSchema, raw);
      // The handlers module is validated before the database is touched.
      const handlers: JobHandlerMap | undefined = opts.handlers ? await loadHandlersModule(opts.handlers) : undefined;
      await runDrainJobs(ctx, opts, handlers);
    });
  // `drain-jobs stats --json`: options after "stats" are the subcommand's, not drain-jobs's.
  command.enablePositionalOptions();
  registerStats(command, ctx);
  return command;
}

async function runDrainJobs(ctx: CliContext, opts: DrainJobsCliOptions, handlers: JobHandlerMap | undefined): Promise<void> {
  const { db } = await openDatabaseSession(ctx, {
    databaseUrl: opts.databaseUrl,
    fresh: opts.fresh,
    // Handlers, claims, outcome batches and lease renewal each need a connection.
    poolSize: opts.concurrency + 4,
    quiet: opts.json,
  });
  ctx.shutdown.handleGracefully();

  const showProgress = !opts.json;
  const reporter = createProgressReporter(ctx.stderr, { tty: Boolean(ctx.stderr.isTTY) && !ctx.env.ci, width: outputWidth(ctx) });
  // A handler that calls process.exit() ends the run with no summary: say what happens to the held jobs.
  let held = 0;
  const onExit = () => {
    // Synchronous: nothing asynchronous runs once the process is exiting.
    if (held > 0) writeSync(2, `\ndrain-jobs: the process is exiting with ${held} job(s) held (did a handler call process.exit()?); unstarted ones return to PENDING after --claim-lease, started ones after --lease\n`);
  };
  process.on("exit", onExit);
  const summary = await drainJobs(db, {
    concurrency: opts.concurrency,
    batch: opts.batch,
    mode: opts.watch ? "watch" : "once",
    maxJobs: opts.maxJobs,
    types: opts.type,
    leaseMs: opts.lease,
    claimLeaseMs: opts.claimLease,
    startAhead: opts.startAhead,
    startConnections: opts.startConnections,
    jobTimeoutMs: opts.jobTimeout,
    timeBudgetMs: opts.timeBudget,
    shutdownTimeoutMs: opts.shutdownTimeout,
    pollIntervalMs: opts.pollInterval,
    // Only an explicit --no-listen overrides the runner's pgbouncer=true detection.
    listen: opts.listen ? undefined : false,
    backoff: { baseMs: opts.backoffBase, maxMs: opts.backoffMax },
    handlers,
    workerId: opts.workerId,
    signal: ctx.shutdown.signal,
    onProgress: showProgress ? reporter.onProgress : undefined,
    onWarning: (message) => {
      if (!opts.json) ctx.stderr.write(`\nwarning: ${message}\n`);
    },
    onHeldChange: (n) => (held = n),
  }).finally(() => {
    reporter.finish();
    process.off("exit", onExit);
  });
  if (summary.totals.abandoned > 0) exitDespiteAbandonedHandlers(ctx, summary.totals.failed > 0 ? 1 : 0);

  if (opts.json) {
    ctx.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    ctx.stdout.write(renderSummaryTable(summary, { color: useColor(ctx), width: outputWidth(ctx) }));
    ctx.stderr.write(renderHandlerErrors(summary));
  }
  if (summary.totals.failed > 0) {
    throw new InvariantViolationError(`${summary.totals.failed} job(s) reached FAILED in this run.`, {
      hint: `SELECT "id", "type", "attempts", "lastError" FROM "BackgroundJob" WHERE "status" = 'FAILED' shows why.`,
    });
  }
}

/**
 * Handlers abandoned past --shutdown-timeout may keep the event loop (and
 * the pool's connections) busy for as long as they like; the run is over,
 * so the process must not linger. The exit code is the one bin/ would map
 * this run's outcome to (1 when a job reached FAILED, else 0).
 */
function exitDespiteAbandonedHandlers(ctx: CliContext, code: number): void {
  const timer = setTimeout(() => {
    ctx.stderr.write("drain-jobs: exiting with abandoned handlers still running\n");
    process.exit(code);
  }, 1_000);
  timer.unref();
}
