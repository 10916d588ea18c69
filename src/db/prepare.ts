// Database resolution for every command: --database-url / DATABASE_URL, or
// the embedded PostgreSQL. Turns the ways a database can be unusable
// (unreachable, bad credentials, missing, not migrated) into ConfigErrors
// that say what to do, before any command writes anything.
import fs from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { ConfigError } from "../errors.js";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded.js";
import { applyMigrations, findPendingMigrations, type MigrationReport } from "./migrate.js";

export interface PrepareDatabaseOptions {
  /** Explicit URL (flag or DATABASE_URL). Absent: embedded. */
  databaseUrl?: string;
  /** Directory for the embedded cluster's data. */
  home: string;
  /** Embedded only: start from an empty cluster. */
  fresh?: boolean;
  /** Apply pending migrations to an external database too (embedded is always migrated). */
  migrate?: boolean;
  /** Progress lines for people (stderr). */
  onInfo?: (line: string) => void;
  /** A configured app's own database: dedupe-cli's migrations are neither required nor applied. */
  foreignSchema?: boolean;
  /** The command takes --migrate, so the not-migrated hint may offer it. */
  offerMigrateFlag?: boolean;
  /** Report pending migrations instead of refusing (status, the diagnostic command). */
  allowUnmigrated?: boolean;
}

export interface PreparedDatabase {
  url: string;
  source: "embedded" | "url";
  embedded?: EmbeddedPostgres;
  migrations?: MigrationReport;
  /** Migrations not yet applied (only with allowUnmigrated; otherwise an unmigrated database is refused). */
  pending?: string[];
  /** Stops the embedded server if this process started it. */
  release(): Promise<void>;
}

export async function prepareDatabase(options: PrepareDatabaseOptions): Promise<PreparedDatabase> {
  const info = options.onInfo ?? (() => undefined);
  if (options.databaseUrl) {
    if (options.fresh) {
      throw new ConfigError("--fresh only applies to the embedded database; it never empties a database you point at.", {
        hint: "Drop and recreate your database yourself, or omit --database-url to use the embedded one.",
      });
    }
    const url = validateUrl(options.databaseUrl);
    // Either step's first connect doubles as the reachability check: both map
    // connection failures to describeConnectionFailure.
    let migrations: MigrationReport | undefined;
    let pending: string[] | undefined;
    if (options.foreignSchema) {
      await requireMigrated(url, { ...options, checkMigrations: false });
    } else if (options.migrate) {
      migrations = await runMigrations(url);
    } else {
      pending = await requireMigrated(url, options);
    }
    return { url, source: "url", migrations, pending, release: async () => undefined };
  }

  const dataDir = path.join(options.home, "pg");
  await writeHomeGitignore(options.home);
  const embedded = await startEmbeddedPostgres({ dataDir, fresh: options.fresh });
  try {
    const migrations = options.foreignSchema ? undefined : await runMigrations(embedded.url);
    const how = embedded.attached ? "attached to the running server" : embedded.initialised ? "created and started" : "started";
    info(`embedded PostgreSQL: ${how} in ${Math.round(embedded.startMs)} ms; data in ${embedded.dataDir}`);
    return { url: embedded.url, source: "embedded", embedded, migrations, release: () => embedded.stop() };
  } catch (error) {
    await embedded.stop();
    throw error;
  }
}

/**
 * ./.dedupe holds a whole PostgreSQL cluster: a .gitignore of "*" inside it
 * keeps it out of the user's repository without them editing theirs.
 */
async function writeHomeGitignore(home: string): Promise<void> {
  const file = path.join(home, ".gitignore");
  await fs.mkdir(home, { recursive: true });
  await fs.writeFile(file, "# Written by dedupe-cli: the embedded PostgreSQL's data. Never commit it.\n*\n", { flag: "wx" }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EEXIST") throw error;
  });
}

/** Where the data lives, for people: the embedded data directory or the URL with its password masked. */
export function describeDatabaseLocation(database: PreparedDatabase): string {
  return database.source === "embedded" ? `embedded (${database.embedded?.dataDir})` : redactUrl(database.url);
}

/** Prints a URL with its password masked. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}

function validateUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`The database URL is not a URL: ${JSON.stringify(url.slice(0, 80))}.`, {
      hint: "Expected postgresql://user:password@host:5432/database.",
    });
  }
  if (parsed.protocol !== "postgresql:" && parsed.protocol !== "postgres:") {
    throw new ConfigError(`The database URL must start with postgresql:// (got ${parsed.protocol}//).`, {
      hint: "dedupe-cli works with PostgreSQL only.",
    });
  }
  return url;
}

/** Maps pg/network errors to a ConfigError naming the cause and the fix. */
export function describeConnectionFailure(url: string, error: unknown): ConfigError {
  const e = error as { code?: string; message?: string };
  const where = redactUrl(url);
  // pg's own words for a server that wants a password the URL lacks are SASL internals.
  if (/client password must be a string|SASL: SCRAM/.test(e.message ?? "")) {
    return new ConfigError(`PostgreSQL at ${where} asks for a password and the database URL has none.`, {
      hint: "Put it in the URL: postgresql://user:PASSWORD@host:5432/database (or set PGPASSWORD).",
      cause: error,
    });
  }
  switch (e.code) {
    case "28P01":
    case "28000":
      return new ConfigError(`PostgreSQL at ${where} rejected the credentials.`, {
        hint: "Check the user name and password in --database-url / DATABASE_URL.",
        cause: error,
      });
    case "3D000":
      return new ConfigError(`The database in ${where} does not exist.`, {
        hint: "Create it (createdb <name>), then run `dedupe-cli migrate --database-url <url>`.",
        cause: error,
      });
    case "53300":
      return new ConfigError(`PostgreSQL at ${where} refused a connection: ${e.message}.`, {
        hint: "Fix: stop other clients of the database, or raise the limit (ALTER ROLE <role> CONNECTION LIMIT <n>, or max_connections).",
        cause: error,
      });
    case "ECONNREFUSED":
    case "ENOTFOUND":
    case "EHOSTUNREACH":
    case "ETIMEDOUT":
    case "EAI_AGAIN":
      return new ConfigError(`Cannot reach PostgreSQL at ${where} (${e.code}).`, {
        hint: "Is the server running and the host/port right? Omit --database-url and unset DATABASE_URL to use the embedded PostgreSQL.",
        cause: error,
      });
    default:
      return new ConfigError(`Cannot use PostgreSQL at ${where}: ${e.message ?? String(error)}`, {
        hint: "Check --database-url / DATABASE_URL.",
        cause: error,
      });
  }
}

async function runMigrations(url: string): Promise<MigrationReport> {
  try {
    return await applyMigrations(url);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw describeConnectionFailure(url, error);
  }
}

/** The fix for an unmigrated database, offering --migrate only where the command has it. */
export function describeMigrateFix(offerMigrateFlag: boolean): string {
  return `Run \`dedupe-cli migrate --database-url <url>\` (or \`npx prisma migrate deploy\`)${offerMigrateFlag ? ", or pass --migrate" : ""}.`;
}

async function requireMigrated(
  url: string,
  options: Pick<PrepareDatabaseOptions, "offerMigrateFlag" | "allowUnmigrated"> & { checkMigrations?: boolean },
): Promise<string[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    if (options.checkMigrations === false) return [];
    const pending = await findPendingMigrations(client);
    if (pending.length > 0 && !options.allowUnmigrated) {
      throw new ConfigError(`The database at ${redactUrl(url)} is not migrated (${pending.length} pending: ${pending.join(", ")}).`, {
        hint: describeMigrateFix(options.offerMigrateFlag ?? false),
      });
    }
    return pending;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw describeConnectionFailure(url, error);
  } finally {
    await client.end().catch(() => undefined);
  }
}
