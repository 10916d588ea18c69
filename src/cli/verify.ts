// dedupe-cli verify: the whole check in one command (replay, race, drain,
// late duplicates), for CI. Options are validated (and a --handlers module
// loaded) before the database is touched, so a bad flag exits 2 having
// written nothing.
import type { Command } from "commander";
import { z } from "zod";
import { CONFLICT_STRATEGIES } from "../core/messages.js";
import { InconclusiveError, InvariantViolationError } from "../errors.js";
import { loadHandlersModule } from "../jobs/registry.js";
import { outputWidth, useColor, type CliContext } from "./context.js";
import { createProgressReporter } from "./drain-jobs-report.js";
import { wrapLines } from "./progress.js";
import { durationFlag } from "./duration.js";
import {
  addOutputOptions,
  buildRerunFlags,
  checkFixturePaths,
  describeInconclusiveHint,
  describeInterruption,
  describeViolation,
  harnessOutputSchema,
  MAX_POOL,
  openHarnessSession,
  resolveRaceRun,
  racePoolSize,
  reportWritten,
  resolveTarget,
} from "./harness-common.js";
import { addDatabaseOptions, databaseOptionsSchema, intFlag, parseOptions, raceSizeFlag } from "./options.js";
import type { ReceiverMapping } from "../harness/mapping.js";
import type { CaseResult } from "../harness/types.js";

const optionsSchema = databaseOptionsSchema
  // verify has no --url (it covers every provider) and no --history (it drops per-delivery outcomes).
  .extend(harnessOutputSchema.omit({ url: true, history: true }).shape)
  .extend({
    paths: z.array(z.string().min(1)).default([]),
    n: raceSizeFlag().default(50),
    rounds: intFlag(1, 10_000).optional(),
    budget: durationFlag(100, 3_600_000).optional(),
    stall: z.boolean().default(true),
    migrate: z.boolean().default(false),
    strategy: z.enum(CONFLICT_STRATEGIES).optional(),
    drain: z.boolean().default(true),
    drainTimeout: durationFlag(100).default(60_000),
    drainConcurrency: intFlag(1, 1_000).default(10),
    handlers: z.string().min(1).optional(),
    poolSize: intFlag(1, 5_000).optional(),
    reportDir: z.string().min(1).optional(),
  })
  .refine((o) => o.drain || !o.handlers, { message: "has nothing to run with --no-drain (your own workers run the jobs)", path: ["handlers"] })
  // As in race: --rounds is a fixed count, --budget "as many as fit"; together they contradict.
  .refine((o) => o.rounds === undefined || o.budget === undefined, {
    path: ["budget"],
    message: "cannot be combined with --rounds (--rounds runs exactly that many race rounds; --budget runs them until the time is spent): give one",
  });

/** Race rounds per fixture when neither --rounds nor --budget is given: keeps verify on the built-in receiver under a minute on 2 cores. */
const DEFAULT_VERIFY_ROUNDS = 3;

export type VerifyCliOptions = z.infer<typeof optionsSchema>;

export function register(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command("verify")
    .argument("[paths...]", "fixture files or directories (default: the built-in fixtures)")
    .description(
      "The full check, for CI: replay every fixture (delivered, then again), race every fixture (N identical " +
        "deliveries released together, --rounds times with fresh ids), drain the jobs the run enqueued and " +
        "check each SUCCEEDED on its first attempt, then deliver every fixture once more and check the late " +
        "duplicate enqueues nothing (no new Message or BackgroundJob rows; every answer deduped or ignored).",
    )
    .option("-n, --n <n>", "deliveries per race round", "50")
    .option("--rounds <r>", `identical race rounds per fixture, each with a fresh unique id (default: ${DEFAULT_VERIFY_ROUNDS}, the last with the messages table's writes held until writers contend, 100 ms to 1 s)`)
    .option("--budget <duration>", "race rounds per fixture until this time is spent, stopping at the first failed round, as race --budget (refused with --rounds)")
    .option("--no-stall", "do not hold the messages table's writes (100 ms to 1 s, until writers contend) in the last default race round, nor in a budget's stalled rounds (as race --no-stall)")
    .option("--strategy <s>", `in-process only: ${CONFLICT_STRATEGIES.join(", ")} (check-then-create is the negative control)`)
    .option("--migrate", "apply pending migrations to --database-url first (the embedded database is always migrated)", false)
    .option("--no-drain", "do not run jobs here: wait (up to --drain-timeout) for your app's own workers to finish them")
    .option("--drain-timeout <duration>", "--no-drain: how long to wait for your workers", "60s")
    .option("--drain-concurrency <n>", "jobs run at once by the in-process drain", "10")
    .option("--handlers <module>", "ES module of job handlers for the drain; they override the built-ins (see drain-jobs --help)")
    .option("--pool-size <n>", `in-process DB pool size (default: min(n + 10, ${MAX_POOL}))`)
    .option("--report-dir <dir>", "per failed case (replay, race, late-duplicates): deliveries, answers, offending rows and a re-run command, as JSON");
  addOutputOptions(cmd, {
    omit: ["url", "history"],
    describe: {
      target: "verify this HTTP receiver (provider routes appended) instead of the built-in handlers",
      junit: "write JUnit XML: one testsuite per stage, one testcase per invariant per fixture",
    },
  });
  cmd.addHelpText(
    "after",
    `
The drain runs only the jobs of the messages this run delivered, with the built-in handlers (or --handlers), and judges only those, so other data in your database can neither fail it nor be run by it. With a dedupe.config (your own app's schema) your own workers run the jobs: verify waits. If your app runs its own workers, pass --no-drain: verify waits for them to finish this run's jobs and applies the same checks (docs/ci.md: workers that insert rows during the deliveries). Re-runs on the same database are fine: race rounds use fresh ids, and replayed fixtures already stored by a previous run must simply dedupe.

Exit codes: 0 every invariant held, 1 one was violated (the stage, fixture and invariant are named), 2 usage, configuration or setup error (e.g. nothing listening at --target, every delivery of a provider answered 401/404), 3 inconclusive (e.g. a race too poorly synchronised, or interrupted).

Examples:
  $ dedupe-cli verify                                        # embedded PostgreSQL, built-in handlers
  $ dedupe-cli verify --junit dedupe-report.xml --json > dedupe-report.json
  $ dedupe-cli verify --strategy check-then-create           # negative control: must exit 1
  $ dedupe-cli verify --target http://127.0.0.1:3000 --database-url "$DATABASE_URL" --no-drain`,
  );
  return addDatabaseOptions(cmd).action(async (paths: string[], raw) => {
    const opts = parseOptions(optionsSchema, { ...raw, paths });
    const { mapping } = await resolveRaceRun(ctx, opts);
    if (opts.paths.length > 0) await checkFixturePaths(opts.paths);
    // Loaded (and validated) before any database I/O: a typo'd export is exit 2 with nothing written.
    const handlers = opts.handlers ? await loadHandlersModule(opts.handlers) : undefined;
    await runVerifyCommand(ctx, opts, handlers, mapping);
  });
}

async function runVerifyCommand(
  ctx: CliContext,
  opts: VerifyCliOptions,
  handlers: Awaited<ReturnType<typeof loadHandlersModule>> | undefined,
  mapping: ReceiverMapping,
): Promise<void> {
  const target = resolveTarget(opts, mapping);
  const inProcess = target.kind === "in-process";
  // A configured app runs its own jobs with its own workers: verify waits for them.
  const drainHere = opts.drain && mapping.conventions;
  // The drain needs a connection per running job plus claims, outcome batches and lease renewal.
  const drainConnections = drainHere ? opts.drainConcurrency + 4 : 2;
  const poolSize = opts.poolSize ?? (inProcess ? Math.max(racePoolSize(opts.n), drainConnections) : drainConnections + 2);
  const session = await openHarnessSession(ctx, opts, { poolSize, warm: inProcess ? Math.min(opts.n, poolSize) : 0, min: drainConnections }, mapping);
  ctx.shutdown.handleGracefully();

  const { BUILTIN_FIXTURES_DIR } = await import("../harness/deliveries.js");
  const { runVerify } = await import("../harness/verify-run.js");
  const reporter = createProgressReporter(ctx.stderr, { tty: Boolean(ctx.stderr.isTTY) && !ctx.env.ci });
  const progress = (line: string) => {
    reporter.finish(); // a drain progress bar must not swallow the line
    ctx.stderr.write(`${wrapLines(line, outputWidth(ctx))}\n`);
  };
  const outcomes = new Map<string, CaseResult["outcomes"]>();
  const result = await runVerify({
    db: session.db,
    paths: opts.paths.length > 0 ? opts.paths : [BUILTIN_FIXTURES_DIR],
    n: opts.n,
    rounds: opts.rounds ?? DEFAULT_VERIFY_ROUNDS,
    budgetMs: opts.budget,
    // The default schedule ends on a stalled round; --rounds N means N identical rounds.
    stallLastRound: opts.rounds === undefined && opts.budget === undefined,
    stall: opts.stall,
    target,
    strategy: opts.strategy,
    drain: drainHere ? { kind: "in-process", concurrency: opts.drainConcurrency, handlers } : { kind: "external", timeoutMs: opts.drainTimeout },
    idForm: opts.rawIds ? "raw" : "auto",
    mapping,
    clientsFile: opts.clients,
    createClients: session.createClients,
    concurrencyCap: inProcess ? session.poolSize : undefined,
    timeoutMs: opts.timeout,
    onProgress: progress,
    onDrainProgress: reporter.onProgress,
    onOutcomes: opts.reportDir ? (stage, cases) => cases.forEach((c) => outcomes.set(`${stage}\0${c.name}`, c.outcomes)) : undefined,
    signal: ctx.shutdown.signal,
  }).finally(() => reporter.finish());

  if (opts.reportDir) {
    const { writeFailedCases } = await import("../harness/report-dir.js");
    const failed = result.stages.flatMap((stage) =>
      stage.cases
        .filter((c) => c.verdict === "fail")
        .map((c) => ({ stage: stage.name, case: { ...c.details, ...c }, outcomes: outcomes.get(`${stage.name}\0${c.name}`) ?? [] })),
    );
    const schedule = { command: "verify" as const, n: opts.n, rounds: opts.budget === undefined ? (opts.rounds ?? DEFAULT_VERIFY_ROUNDS) : undefined, budgetMs: opts.budget };
    reportWritten(ctx, await writeFailedCases(opts.reportDir, failed, { rerunFlags: buildRerunFlags(opts), schedule }), opts.reportDir);
  }
  const { listProblems, renderVerifyTable, verifyToJson, writeVerifyJunit } = await import("../harness/verify-report.js");
  if (opts.json) ctx.stdout.write(verifyToJson(result));
  else ctx.stdout.write(renderVerifyTable(result, { color: useColor(ctx), width: outputWidth(ctx) }));
  if (opts.junit) await writeVerifyJunit(opts.junit, result);
  const interrupted = describeInterruption(ctx);
  if (opts.junit && interrupted) await (await import("../harness/junit.js")).markJunitInterrupted(opts.junit, interrupted);

  const problems = listProblems(result);
  const line = (p: (typeof problems)[number]) => describeViolation(`${p.stage} ${p.case}`, p.invariant);
  if (result.verdict === "fail") {
    const failed = problems.filter((p) => p.invariant.status === "fail");
    // Stage notes say why (e.g. "jobs still open after 60 s (--drain-timeout): are your workers running?").
    const notes = result.stages.filter((s) => s.verdict === "fail").flatMap((s) => s.notes.map((n) => `${s.name}: ${n}`));
    throw new InvariantViolationError(
      `verify: ${failed.length} invariant(s) violated:\n${failed.slice(0, 40).map(line).join("\n")}${failed.length > 40 ? `\n  ... and ${failed.length - 40} more` : ""}`,
      { hint: notes.length > 0 ? notes.join("\n") : undefined },
    );
  }
  if (result.verdict === "inconclusive") {
    const reasons = [
      ...new Set([
        ...result.stages.flatMap((s) => [...s.notes.filter((n) => /interrupt|stopped|still open/.test(n)).map((n) => `${s.name}: ${n}`), ...s.cases.flatMap((c) => c.notes.filter((n) => n.startsWith("inconclusive")).map((n) => `${s.name} ${c.name}: ${n}`))]),
        ...result.stages.filter((s) => s.cases.length === 0 && s.checks.length === 0 && s.completed).map((s) => `${s.name}: nothing was checked`),
      ]),
    ];
    throw new InconclusiveError(`verify: no trustworthy verdict:\n  ${reasons.slice(0, 10).join("\n  ") || problems.map(line).slice(0, 10).join("\n")}`, {
      hint: describeInconclusiveHint(reasons),
    });
  }
}
