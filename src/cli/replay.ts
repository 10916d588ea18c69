// dedupe-cli replay: every fixture delivered, then delivered again.
import type { Command } from "commander";
import { z } from "zod";
import { CONFLICT_STRATEGIES } from "../core/messages.js";
import { PROVIDER_NAMES } from "../providers/types.js";
import type { CliContext } from "./context.js";
import { createRunProgress } from "./progress.js";
import { addDatabaseOptions, databaseOptionsSchema, intFlag, parseOptions } from "./options.js";
import {
  addOutputOptions,
  buildRerunFlags,
  checkFixturePaths,
  harnessOutputSchema,
  loadReceiverMapping,
  openHarnessSession,
  refuseTargetWithoutDatabase,
  rejectStrategyOverHttp,
  reportWritten,
  resolveTarget,
  validateOutputPaths,
  writeHarnessOutput,
} from "./harness-common.js";

const optionsSchema = databaseOptionsSchema.merge(harnessOutputSchema).extend({
  paths: z.array(z.string().min(1)).min(1, "give at least one fixture file or directory"),
  provider: z.enum(PROVIDER_NAMES).optional(),
  times: intFlag(1, 100_000).default(2),
  concurrency: intFlag(1, 1_000).default(1),
  strategy: z.enum(CONFLICT_STRATEGIES).optional(),
  migrate: z.boolean().default(false),
  freshIds: z.boolean().default(false),
  reportDir: z.string().min(1).optional(),
});

export function register(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command("replay")
    .argument("<paths...>", "fixture files or directories (searched recursively)")
    .description(
      "Deliver every fixture, then deliver it again. Checks per fixture: the documented status, that the " +
        "first delivery creates exactly one Message for its unique id (none for ignored events) and one " +
        "BackgroundJob per dedupeKey, and that the duplicate answers deduped:true and creates nothing. " +
        "The provider comes from --provider or the fixture's parent folder; bare captured bodies replay as they are.",
    )
    .option("--provider <name>", `provider of every fixture: ${PROVIDER_NAMES.join(", ")}`)
    .option("--times <k>", "deliveries per fixture", "2")
    .option("--concurrency <c>", "deliveries of one fixture in flight at once", "1")
    .option("--strategy <s>", `in-process only: ${CONFLICT_STRATEGIES.join(", ")}`)
    .option("--migrate", "apply pending migrations to --database-url first (the embedded database is always migrated)", false)
    .option("--fresh-ids", "re-key each fixture with a fresh unique id (for re-runs on the same database)", false)
    .option("--report-dir <dir>", "per failed case: schedule, deliveries, answers, offending rows and a re-run command, as JSON");
  addOutputOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  $ dedupe-cli replay fixtures/                              # every built-in fixture, in-process
  $ dedupe-cli replay captured/ --times 5 --concurrency 5
  $ dedupe-cli replay fixtures/ --target http://127.0.0.1:3000 --database-url "$DATABASE_URL"

Exit codes: 0 every check held, 1 one was violated, 2 usage, configuration or setup error (e.g. nothing listening at --target, every delivery answered 401/404), 3 inconclusive (or interrupted).`,
  );
  return addDatabaseOptions(cmd).action(async (paths: string[], raw) => {
    const opts = parseOptions(optionsSchema, { ...raw, paths });
    const mapping = await loadReceiverMapping(opts);
    const target = resolveTarget(opts, mapping);
    rejectStrategyOverHttp(opts.strategy, target);
    refuseTargetWithoutDatabase(ctx, opts, target);
    await validateOutputPaths(opts);
    await checkFixturePaths(opts.paths);
    const poolSize = target.kind === "in-process" ? Math.min(Math.max(opts.concurrency + 5, 10), 60) : 4;
    const session = await openHarnessSession(ctx, opts, { poolSize, warm: 0 }, mapping);
    ctx.shutdown.handleGracefully();
    const { runReplay } = await import("../harness/replay.js");
    const progress = createRunProgress(ctx, { json: opts.json });
    const result = await runReplay({
      db: session.db,
      paths: opts.paths,
      provider: opts.provider,
      target,
      strategy: opts.strategy,
      times: opts.times,
      concurrency: opts.concurrency,
      freshIds: opts.freshIds,
      idForm: opts.rawIds ? "raw" : "auto",
      mapping,
      clientsFile: opts.clients,
      createClients: session.createClients,
      timeoutMs: opts.timeout,
      onProgress: progress.line,
      meter: progress.meter,
      signal: ctx.shutdown.signal,
    }).finally(() => progress.finish());
    if (opts.reportDir) {
      const { writeReportDir } = await import("../harness/report-dir.js");
      const schedule = { command: "replay" as const, times: opts.times, concurrency: opts.concurrency, freshIds: opts.freshIds };
      const rerunFlags = [...(opts.provider ? ["--provider", opts.provider] : []), ...buildRerunFlags(opts)];
      reportWritten(ctx, await writeReportDir(opts.reportDir, result, { rerunFlags, schedule }), opts.reportDir);
    }
    await writeHarnessOutput(ctx, opts, result);
  });
}
