// dedupe-cli migrate: apply prisma/migrations over plain pg.
import type { Command } from "commander";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import { applyMigrations } from "../db/migrate.js";
import { prepareDatabase, redactUrl } from "../db/prepare.js";
import type { CliContext } from "./context.js";
import { parseOptions } from "./options.js";

const optionsSchema = z.object({
  databaseUrl: z.string().min(1).optional(),
  fresh: z.boolean().default(false),
  json: z.boolean().default(false),
});

export function register(program: Command, ctx: CliContext): Command {
  return program
    .command("migrate")
    .description(
      "Apply pending migrations from prisma/migrations. Records them in _prisma_migrations exactly as " +
        "`prisma migrate deploy` does (same checksums, same advisory lock), so the two tools agree. " +
        "Safe to run twice, or from two processes at once.",
    )
    .option("--database-url <url>", "PostgreSQL to migrate (default: $DATABASE_URL, else the embedded one)")
    .option("--fresh", "embedded database only: delete its data first", false)
    .option("--json", "print the result as JSON on stdout", false)
    .addHelpText("after", "\nExample:\n  $ dedupe-cli migrate --database-url postgresql://postgres@127.0.0.1:5432/app")
    .action(async (raw) => {
      const opts = parseOptions(optionsSchema, raw);
      const databaseUrl = opts.databaseUrl ?? ctx.env.databaseUrl;
      const started = performance.now();
      let report;
      let where: string;
      if (databaseUrl) {
        // prepareDatabase with migrate: true checks reachability first and
        // maps connection failures to clear errors.
        const prepared = await prepareDatabase({ databaseUrl, home: ctx.env.home, migrate: true });
        report = prepared.migrations!;
        where = redactUrl(databaseUrl);
      } else {
        const prepared = await prepareDatabase({
          home: ctx.env.home,
          fresh: opts.fresh,
          onInfo: (line) => ctx.stderr.write(`${line}\n`),
        });
        ctx.shutdown.addCleanup(() => prepared.release());
        report = prepared.migrations ?? (await applyMigrations(prepared.url));
        where = `embedded (${prepared.embedded?.dataDir})`;
      }
      if (!report) throw new ConfigError("migration report missing");
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
