// dedupe-cli status: where the database is, whether it is migrated, and what
// it holds (rows per table, jobs per status). Read-only.
import type { Command } from "commander";
import { z } from "zod";
import { countJobsByStatus, countRows } from "../db/sql.js";
import { describeDatabaseLocation, describeMigrateFix } from "../db/prepare.js";
import { outputWidth, type CliContext } from "./context.js";
import { renderTextTable, wrapText } from "./table.js";
import { addDatabaseOptions, databaseOptionsSchema, openDatabaseSession, parseOptions } from "./options.js";

const optionsSchema = databaseOptionsSchema.extend({ json: z.boolean().default(false) });

export function register(program: Command, ctx: CliContext): Command {
  return addDatabaseOptions(program.command("status").description("Show the database in use, its migration state, row counts and jobs by status."))
    .option("-j, --json", "print one JSON object on stdout", false)
    .addHelpText("after", "\nExample:\n  $ dedupe-cli status --json")
    .action(async (raw) => {
      const opts = parseOptions(optionsSchema, raw);
      const { database, db } = await openDatabaseSession(ctx, { databaseUrl: opts.databaseUrl, fresh: opts.fresh, poolSize: 2, quiet: opts.json, allowUnmigrated: true });
      if (database.pending && database.pending.length > 0) return void reportUnmigrated(ctx, opts.json, describeDatabaseLocation(database), database.pending);
      const rows = await countRows(db.prisma);
      const jobs = await countJobsByStatus(db.prisma);
      const where = describeDatabaseLocation(database);
      if (opts.json) {
        ctx.stdout.write(`${JSON.stringify({ database: where, source: database.source, migrated: true, rows, jobs })}\n`);
        return;
      }
      const table = [...Object.entries(rows).map(([name, n]) => [name, String(n)]), ...Object.entries(jobs).map(([status, n]) => [`jobs ${status}`, String(n)])];
      ctx.stdout.write(`${wrapText(`database: ${where} (migrated)`, outputWidth(ctx), { hang: "  " })}\n${renderTextTable({ head: ["table", "rows"], rows: table, width: outputWidth(ctx) })}\n`);
    });
}

/** status is the diagnostic command: an unmigrated database is its answer, not an error (exit 0). */
function reportUnmigrated(ctx: CliContext, json: boolean, where: string, pending: string[]): void {
  if (json) {
    ctx.stdout.write(`${JSON.stringify({ database: where, migrated: false, pending })}\n`);
    return;
  }
  const width = outputWidth(ctx);
  const lines = [`database: ${where} (not migrated, ${pending.length} pending)`, ...pending.map((name) => `  pending: ${name}`), describeMigrateFix(false)];
  ctx.stdout.write(`${lines.map((l) => wrapText(l, width, { hang: "  " })).join("\n")}\n`);
}
