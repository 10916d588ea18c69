// Options shared by commands, and validation of commander's raw values with
// zod before any I/O, so that a bad flag fails with exit 2 and nothing written.
import path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { ConfigError, UsageError } from "../errors.js";
import { prepareDatabase, redactUrl, type PreparedDatabase } from "../db/prepare.js";
import { openDb, type DbHandle } from "../db/client.js";
import { fitPoolSize, openPoolConnections, readConnectionBudget } from "../db/connection-budget.js";
import { outputWidth, type CliContext } from "./context.js";
import { wrapText } from "./table.js";

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
  // zod's enum message ("Invalid option: expected one of ...") names neither the value given nor the flag's choices plainly.
  if (issue.code === "invalid_value" && issue.path.length > 0) {
    let given: unknown = raw;
    for (const key of issue.path) given = (given as Record<PropertyKey, unknown> | undefined)?.[key as PropertyKey];
    throw new UsageError(`${flag}: must be one of ${issue.values.map(String).join(", ")} (got ${JSON.stringify(given)}).`);
  }
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

/** Fewest deliveries a race can have: one delivery has nothing to race against. */
export const MIN_RACE_N = 2;
/** Below this a race rarely exposes a check-then-create bug; allowed, with a warning. */
export const WARN_RACE_N = 10;

/** --n: refused below MIN_RACE_N, since a race of one proves nothing and would pass. */
export const raceSizeFlag = () =>
  z.coerce
    .number({ error: "must be a whole number from 2 to 100000" })
    .int("must be a whole number from 2 to 100000")
    .min(MIN_RACE_N, "must be at least 2: a race of one delivery has nothing to race against and proves nothing")
    .max(100_000, "must be a whole number from 2 to 100000");

/** The warning a small --n gets on stderr, or undefined. */
export function describeSmallRace(n: number): string | undefined {
  if (n >= WARN_RACE_N) return undefined;
  return `warning: --n ${n}: a race of fewer than ${WARN_RACE_N} deliveries rarely exposes a check-then-create bug; a pass means little (50 is the default).`;
}

export interface DatabaseSession {
  database: PreparedDatabase;
  db: DbHandle;
  /** The pool size in use: the one asked for, or fewer when the server allows fewer. */
  poolSize: number;
}

export interface DatabaseSessionOptions {
  databaseUrl?: string;
  fresh?: boolean;
  migrate?: boolean;
  poolSize?: number;
  /** --pool-size was given: refuse rather than size it down. */
  poolSizeExplicit?: boolean;
  /** Fewest connections the command can work with (default: all of poolSize when explicit, else 2). */
  minPoolSize?: number;
  /** Connections to open before returning, so the first burst finds them ready. */
  warm?: number;
  /** Report an unmigrated database (status) instead of refusing it. */
  allowUnmigrated?: boolean;
  /** serve: bound every statement (ms). */
  statementTimeoutMs?: number;
  /** A configured app's own database: dedupe-cli's migrations are neither required nor applied. */
  foreignSchema?: boolean;
  quiet?: boolean;
}

/**
 * Resolves the database (embedded by default), opens a pool sized for the
 * command, and registers cleanup so that Ctrl-C still stops the embedded
 * server. Prints where the data lives on stderr.
 */
export async function openDatabaseSession(
  ctx: CliContext,
  opts: DatabaseSessionOptions,
): Promise<DatabaseSession> {
  const info = (line: string) => {
    if (!opts.quiet) ctx.stderr.write(`${wrapText(line, outputWidth(ctx), { hang: "  " })}\n`);
  };
  const database = await prepareDatabase({
    databaseUrl: opts.databaseUrl ?? ctx.env.databaseUrl,
    home: ctx.env.home,
    fresh: opts.fresh,
    migrate: opts.migrate,
    foreignSchema: opts.foreignSchema,
    // Commands with a --migrate flag pass a boolean; the hint offers the flag only to them.
    offerMigrateFlag: opts.migrate !== undefined,
    allowUnmigrated: opts.allowUnmigrated,
    onInfo: info,
  });
  ctx.shutdown.addCleanup(() => database.release());
  if (database.source === "embedded") ctx.embeddedDataDir = path.join(ctx.env.home, "pg");
  if (database.source === "url") info(`database: ${redactUrl(database.url)}`);
  let poolSize = opts.poolSize ?? 20;
  // Small pools (status, clients) fit anywhere; reading the limits costs a connection.
  // A server that hides the limits (a restricted catalog, a pooler) is not refused: the pool is opened as asked.
  const budget = poolSize > 4 ? await readConnectionBudget(database.url).catch(rethrowConfigError) : undefined;
  if (budget) {
    const plan = fitPoolSize(budget, {
      poolSize,
      min: opts.minPoolSize ?? 2,
      explicit: opts.poolSizeExplicit ?? false,
      url: database.url,
    });
    // Printed even with --json (stderr): a smaller pool changes what the race can show.
    if (plan.notice) ctx.stderr.write(`${wrapText(plan.notice, outputWidth(ctx), { hang: "  " })}\n`);
    poolSize = plan.poolSize;
  }
  const db = openDb({ url: database.url, poolSize, statementTimeoutMs: opts.statementTimeoutMs });
  ctx.shutdown.addCleanup(() => db.close());
  if (opts.warm) await openPoolConnections(db.pool, Math.min(opts.warm, poolSize), database.url);
  return { database, db, poolSize };
}

/** Connection failures stay errors; anything else the probe hit means "limits unknown". */
function rethrowConfigError(error: unknown): undefined {
  if (error instanceof ConfigError) throw error;
  return undefined;
}
