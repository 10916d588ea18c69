// dedupe-cli race: N identical deliveries released together; verdict from the database.
import type { Command } from "commander";
import { z } from "zod";
import { CONFLICT_STRATEGIES } from "../core/messages.js";
import { PROVIDER_NAMES } from "../providers/types.js";
import type { CliContext } from "./context.js";
import { BUDGET_MAX_N_FACTOR, WAVES } from "../harness/schedule.js";
import { durationFlag, lateScheduleFlag } from "./duration.js";
import { createRunProgress } from "./progress.js";
import { addDatabaseOptions, databaseOptionsSchema, intFlag, parseOptions, raceSizeFlag } from "./options.js";
import {
  addOutputOptions,
  buildRerunFlags,
  checkFixturePaths,
  harnessOutputSchema,
  MAX_POOL,
  openHarnessSession,
  resolveRaceRun,
  racePoolSize,
  reportWritten,
  writeHarnessOutput,
} from "./harness-common.js";

/**
 * Over HTTP, by default, rounds run until this much time per fixture is
 * spent (the first four always run; the first failed round ends it). The
 * receiver's own scheduling (one event loop parsing N requests) can
 * serialise a round enough that a racy receiver answers every delivery
 * correctly, and a narrow window (a 20 ms lease) opens in only some rounds:
 * measured against the lease-lock test receiver, 20 of 20 default runs
 * caught it (15 in round 1, 5 only in the N=200 rounds 2 and 4). A passing
 * race costs its four rounds, about 2 s more than the old fixed 3 rounds on
 * a quiet machine. In-process the barrier reaches the database directly: 1
 * round, with the messages table's writes held (a loaded machine can still
 * serialise it; see RunRaceOptions.stallLastRound).
 */
export const HTTP_DEFAULT_BUDGET_MS = 3_000;

const optionsSchema = databaseOptionsSchema
  .merge(harnessOutputSchema)
  .extend({
    n: raceSizeFlag().default(50),
    rounds: intFlag(1, 10_000).optional(),
    budget: durationFlag(100, 3_600_000).optional(),
    fixture: z.string().min(1).optional(),
    allFixtures: z.boolean().default(false),
    provider: z.enum(PROVIDER_NAMES).optional(),
    strategy: z.enum(CONFLICT_STRATEGIES).optional(),
    migrate: z.boolean().default(false),
    asIs: z.boolean().default(false),
    warmup: z.boolean().default(true),
    poolSize: intFlag(1, 5_000).optional(),
    crashWindow: z.boolean().default(true),
    stall: z.boolean().default(true),
    late: lateScheduleFlag.default([1000]),
    settle: durationFlag(0, 60_000).optional(),
    settleTimeout: durationFlag(1, 600_000).default(10_000),
    reportDir: z.string().min(1).optional(),
  })
  // --rounds is a fixed, reproducible count; --budget is "as many as fit":
  // together they contradict each other, so neither silently wins.
  .refine((o) => o.rounds === undefined || o.budget === undefined, {
    path: ["budget"],
    message: "cannot be combined with --rounds (--rounds runs exactly that many rounds; --budget runs rounds until the time is spent): give one",
  })
  .refine((o) => !o.asIs || o.budget === undefined, {
    path: ["budget"],
    message: "cannot be combined with --as-is (every round would race the same stored id, so only the first is a race)",
  });

export function register(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command("race")
    .description(
      "Fire N identical deliveries of one fixture, released together, then check from the database: " +
        "one Message, one deduped:false and N-1 deduped:true answers, no 5xx or transport errors, one " +
        "BackgroundJob per dedupeKey, one lead per identity and no rows the run did not cause. Each round " +
        "re-keys the message and lead ids; after it, a crash-window step and late duplicates. A race too " +
        "poorly synchronised to trust (release spread > 0.5 x p50 latency or the engine's absolute bound, " +
        "or fewer than half the deliveries in flight at once) is inconclusive (exit 3), never a pass.",
    )
    .option("-n, --n <n>", "deliveries per round", "50")
    .option("--rounds <r>", "exactly this many identical rounds, each with a fresh unique id, N deliveries released at once (default: 1 in-process or with --as-is, with the messages table's writes held 100 ms; over HTTP see --budget)")
    .option("--budget <duration>", `rounds per fixture until this time is spent, stopping at the first failed round; rounds alternate all-at-once and ${WAVES.waves} waves ${WAVES.gapMs} ms apart, N doubles every 2 rounds up to ${BUDGET_MAX_N_FACTOR} x --n (default: ${HTTP_DEFAULT_BUDGET_MS / 1000}s with --target; refused with --rounds)`)
    .option("--fixture <path>", "fixture file (default: the built-in EmailBison LEAD_REPLIED)")
    .option("--all-fixtures", "race every built-in fixture (or every fixture under --fixture <dir>)", false)
    .option("--provider <name>", `provider of the fixture (default: its folder name): ${PROVIDER_NAMES.join(", ")}`)
    .option("--strategy <s>", `in-process only: ${CONFLICT_STRATEGIES.join(", ")} (check-then-create is the negative control)`)
    .option("--migrate", "apply pending migrations to --database-url first (the embedded database is always migrated)", false)
    .option("--as-is", "race the fixture's own unique id instead of a fresh one", false)
    .option("--no-warmup", "skip warming the receiver (deliveries naming an unknown client, answered 404) before each round")
    .option("--pool-size <n>", `in-process DB pool size (default: min(n + 10, ${MAX_POOL}))`)
    .option("--no-crash-window", "skip the crash-window step (after each passed round: DELETE that round's message's jobs, send one more duplicate, require the jobs back)")
    .option("--no-stall", "do not hold the messages table's writes (100 ms to 1 s, until writers contend) in the default single round (in-process, or --as-is), nor in rounds 3-5 of each 6 under a budget (a slow database, provoked)")
    .option("--late <offsets>", 'one more duplicate of every round at each offset after the last round, e.g. "1s,5s"; "none" skips', "1s")
    .option("--settle <duration>", "rows must hold still this long before a case is judged (default: 0 in-process, 100ms over HTTP)")
    .option("--settle-timeout <duration>", "stop waiting for rows to hold still (the case is then inconclusive)", "10s")
    .option("--report-dir <dir>", "per failed case: schedule, deliveries, answers, offending rows and a re-run command, as JSON");
  addOutputOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  $ dedupe-cli race --n 50                                   # built-in EmailBison LEAD_REPLIED, in-process
  $ dedupe-cli race --strategy check-then-create             # negative control: must exit 1
  $ dedupe-cli race --all-fixtures --rounds 3 --json > race.json
  $ dedupe-cli race --n 50 --target http://127.0.0.1:3000 --database-url "$DATABASE_URL"
  $ dedupe-cli race --budget 10s --target http://127.0.0.1:3000 --database-url "$DATABASE_URL"

Exit codes: 0 every invariant held, 1 one was violated (the deliveries that witnessed it are named), 2 usage, configuration or setup error (e.g. nothing listening at --target, every delivery answered 401/404; the receiver's logic was never reached), 3 inconclusive (race too poorly synchronised, or interrupted).`,
  );
  return addDatabaseOptions(cmd).action(async (raw) => {
    const opts = parseOptions(optionsSchema, raw);
    const { mapping, target } = await resolveRaceRun(ctx, opts);
    if (opts.fixture) await checkFixturePaths([opts.fixture]);
    const inProcess = target.kind === "in-process";
    const poolSize = inProcess ? (opts.poolSize ?? racePoolSize(opts.n)) : 4;
    const session = await openHarnessSession(ctx, opts, { poolSize, warm: inProcess ? Math.min(opts.n, poolSize) : 0 }, mapping);
    ctx.shutdown.handleGracefully();
    const { runRace } = await import("../harness/race.js");
    const { BUILTIN_FIXTURES_DIR, DEFAULT_RACE_FIXTURE } = await import("../harness/deliveries.js");
    const progress = createRunProgress(ctx, { json: opts.json });
    // Neither flag: a budget over HTTP, one round in-process.
    const budgetMs = opts.budget ?? (opts.rounds === undefined && !inProcess && !opts.asIs ? HTTP_DEFAULT_BUDGET_MS : undefined);
    const rounds = opts.rounds ?? (inProcess || opts.asIs ? 1 : undefined);
    const result = await runRace({
      db: session.db,
      paths: [opts.fixture ?? (opts.allFixtures ? BUILTIN_FIXTURES_DIR : DEFAULT_RACE_FIXTURE)],
      provider: opts.provider,
      n: opts.n,
      rounds,
      budgetMs,
      // Neither flag: the one fixed round is stalled (a loaded machine can serialise an all-at-once round); --rounds N means N identical rounds.
      stallLastRound: opts.rounds === undefined && budgetMs === undefined,
      target,
      strategy: opts.strategy,
      asIs: opts.asIs,
      warmup: opts.warmup,
      crashWindow: opts.crashWindow,
      stall: opts.stall,
      lateMs: opts.late,
      settle: opts.settle === undefined ? undefined : { windowMs: opts.settle, timeoutMs: opts.settleTimeout },
      idForm: opts.rawIds ? "raw" : "auto",
      mapping,
      clientsFile: opts.clients,
      createClients: session.createClients,
      concurrencyCap: inProcess ? session.poolSize : undefined,
      timeoutMs: opts.timeout,
      onProgress: progress.line,
      meter: progress.meter,
      signal: ctx.shutdown.signal,
    }).finally(() => progress.finish());
    if (opts.reportDir) {
      const { writeReportDir } = await import("../harness/report-dir.js");
      const schedule = { command: "race" as const, n: opts.n, rounds, budgetMs, lateMs: opts.late };
      const files = await writeReportDir(opts.reportDir, result, { rerunFlags: buildRerunFlags(opts), schedule });
      reportWritten(ctx, files, opts.reportDir);
    }
    await writeHarnessOutput(ctx, opts, result);
  });
}
