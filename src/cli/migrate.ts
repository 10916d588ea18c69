// dedupe-cli migrate: apply prisma/migrations over plain pg.
import type { Command } from "commander";
import { z } from "zod";
import { describeDatabaseLocation, prepareDatabase } from "../db/prepare.js";
import type { CliContext } from "./context.js";
import { addDatabaseOptions, databaseOptionsSchema, parseOptions } from "./options.js";

const optionsSchema = databaseOptionsSchema.extend({ json: z.boolean().default(false) });

export function register(program: Command, ctx: CliContext): Command {
  return addDatabaseOptions(
    program
      .command("migrate")
      .description(
        "Apply pending migrations from prisma/migrations. Records them in _prisma_migrations exactly as " +
          "`prisma migrate deploy` does (same checksums, same advisory lock), so the two tools agree. " +
          "Safe to run twice, or from two processes at once.",
      ),
  )
    .option("-j, --json", "print the result as JSON on stdout", false)
    .addHelpText("after", "\nExample:\n  $ dedupe-cli migrate --database-url postgresql://postgres@127.0.0.1:5432/app")
    .action(async (raw) => {
      const opts = parseOptions(optionsSchema, raw);
      const started = performance.now();
      // migrate: true applies pending migrations to an external database (the
      // embedded one always is), mapping connection failures to clear errors.
      const prepared = await prepareDatabase({
        databaseUrl: opts.databaseUrl ?? ctx.env.databaseUrl,
        home: ctx.env.home,
        fresh: opts.fresh,
        migrate: true,
        onInfo: (line) => ctx.stderr.write(`${line}\n`),
      });
      ctx.shutdown.addCleanup(() => prepared.release());
      const report = prepared.migrations!;
      const where = describeDatabaseLocation(prepared);
      const ms = Math.round(performance.now() - started);
      if (opts.json) {
        ctx.stdout.write(`${JSON.stringify({ database: where, ...report, ms })}\n`);
        return;
      }
      for (const name of report.applied) ctx.stdout.write(`applied  ${name}\n`);
      for (const name of report.checksumMismatches) ctx.stdout.write(`warning  ${name} was edited after it was applied (checksum differs)\n`);
      for (const name of report.unknown) ctx.stdout.write(`warning  ${name} is applied in the database but missing locally\n`);
      ctx.stdout.write(
        report.applied.length === 0
          ? `${where}: up to date (${report.alreadyApplied.length} migrations applied) in ${ms} ms\n`
          : `${where}: applied ${report.applied.length} migration(s) in ${ms} ms\n`,
      );
    });
}
