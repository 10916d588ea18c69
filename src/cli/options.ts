// Options shared by commands, and validation of commander's raw values with
// zod before any I/O, so that a bad flag fails with exit 2 and nothing written.
import type { Command } from "commander";
import { z } from "zod";
import { UsageError } from "../errors.js";
import { prepareDatabase, redactUrl, type PreparedDatabase } from "../db/prepare.js";
import { openDb, type DbHandle } from "../db/client.js";
import type { CliContext } from "./context.js";

/** --database-url and --fresh, the same on every command that opens a database. */
export function addDatabaseOptions(cmd: Command): Command {
  return cmd
    .option("--database-url <url>", "PostgreSQL to use (default: $DATABASE_URL, else the embedded PostgreSQL in ./.dedupe)")
    .option("--fresh", "embedded database only: delete its data and start empty (refused with --database-url)", false);
}

export const databaseOptionsSchema = z.object({
  databaseUrl: z.string().min(1).optional(),
  fresh: z.boolean().default(false),
});

/** Parses commander options with a zod schema; errors name the flag. */
export function parseOptions<T extends z.ZodType>(schema: T, raw: unknown): z.infer<T> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const flag = issue.path.length > 0 ? `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : "options";
  throw new UsageError(`${flag}: ${issue.message}`);
}

/**
 * An integer flag ("50") → 50. Every message says the accepted range, so
 * `--n abc` reads "--n: must be a whole number from 1 to 100000".
 */
export const intFlag = (min = 1, max = Number.MAX_SAFE_INTEGER) => {
  const message = `must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}`;
  return z.coerce.number({ error: message }).int(message).min(min, message).max(max, message);
};

export interface DatabaseSession {
  database: PreparedDatabase;
  db: DbHandle;
}

/**
 * Resolves the database (embedded by default), opens a pool sized for the
 * command, and registers cleanup so that Ctrl-C still stops the embedded
 * server. Prints where the data lives on stderr.
 */
export async function openDatabaseSession(
  ctx: CliContext,
  opts: { databaseUrl?: string; fresh?: boolean; migrate?: boolean; poolSize?: number; quiet?: boolean; statementTimeoutMs?: number; foreignSchema?: boolean },
): Promise<DatabaseSession> {
  const info = (line: string) => {
    if (!opts.quiet) ctx.stderr.write(`${line}\n`);
  };
  const database = await prepareDatabase({
    databaseUrl: opts.databaseUrl ?? ctx.env.databaseUrl,
    home: ctx.env.home,
    fresh: opts.fresh,
    migrate: opts.migrate,
    foreignSchema: opts.foreignSchema,
    onInfo: info,
  });
  ctx.shutdown.addCleanup(() => database.release());
  if (database.source === "url") info(`database: ${redactUrl(database.url)}`);
  const db = openDb({ url: database.url, poolSize: opts.poolSize, statementTimeoutMs: opts.statementTimeoutMs });
  ctx.shutdown.addCleanup(() => db.close());
  return { database, db };
}
