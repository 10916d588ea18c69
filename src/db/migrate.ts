// Applies prisma/migrations/* over plain pg, so no Prisma engine binary is
// needed. Bookkeeping is Prisma's own `_prisma_migrations` table (same
// columns, sha256 checksum of migration.sql, same advisory lock key), so
// `prisma migrate deploy` and `dedupe-cli migrate` agree on what is applied
// and never run at the same time.
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { ConfigError } from "../errors.js";
import { isTransactionPooler, stripPoolerParam } from "./pooler.js";

/** The key `prisma migrate` takes with pg_advisory_lock. */
const PRISMA_MIGRATE_LOCK_KEY = 72707369;

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL("../../prisma/migrations", import.meta.url));

export interface LocalMigration {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: string[];
  /** Applied migrations whose file changed since (Prisma warns about these too). */
  checksumMismatches: string[];
  /** Rows in _prisma_migrations with no local folder (applied by a newer version). */
  unknown: string[];
}

export function readLocalMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): LocalMigration[] {
  try {
    return readMigrationFiles(dir);
  } catch (error) {
    // Raised here, before any connection, so it is never mistaken for a database failure.
    throw new ConfigError(`Cannot read the migrations in ${dir}: ${(error as Error).message}`, {
      hint: "Check that prisma/migrations is present and readable (it ships with the package).",
      cause: error,
    });
  }
}

function readMigrationFiles(dir: string): LocalMigration[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(dir, entry.name, "migration.sql")))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

/** A lock wait that hit lock_timeout (55P03) becomes an error saying who to wait for. */
function describeLockWait(error: unknown): unknown {
  if ((error as { code?: string }).code !== "55P03") return error;
  return new ConfigError("Another migration has held Prisma's migrate lock on this database for 60 s.", {
    hint: "Wait for the other `dedupe-cli migrate` / `prisma migrate` to finish, or end its session (pg_stat_activity), then run again.",
    cause: error,
  });
}

/** Waits for Prisma's migrate lock, but not forever: a stuck `prisma migrate` elsewhere must not hang us silently. */
async function lockMigrations(client: pg.Client): Promise<void> {
  await client.query("SET lock_timeout = '60s'");
  try {
    await client.query("SELECT pg_advisory_lock($1)", [PRISMA_MIGRATE_LOCK_KEY]);
  } catch (error) {
    throw describeLockWait(error);
  } finally {
    await client.query("RESET lock_timeout").catch(() => undefined);
  }
}

const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id"                  VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum"            VARCHAR(64) NOT NULL,
  "finished_at"         TIMESTAMPTZ,
  "migration_name"      VARCHAR(255) NOT NULL,
  "logs"                TEXT,
  "rolled_back_at"      TIMESTAMPTZ,
  "started_at"          TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/** Applies every pending migration; safe to run twice or from two processes at once. */
export async function applyMigrations(url: string, dir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationReport> {
  const local = readLocalMigrations(dir);
  const client = new pg.Client({ connectionString: stripPoolerParam(url), connectionTimeoutMillis: 5_000, application_name: "dedupe-cli migrate" });
  await client.connect();
  try {
    if (isTransactionPooler(url)) return await applyInOneTransaction(client, local);
    await lockMigrations(client);
    try {
      return await applyPending(client, local, applyOne);
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [PRISMA_MIGRATE_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    await client.end();
  }
}

/**
 * Through a transaction-mode pooler a session advisory lock would be taken
 * on one server connection and released on another: the whole run is one
 * transaction holding pg_advisory_xact_lock (the same key, so it still
 * excludes `prisma migrate`), released by COMMIT or ROLLBACK. A failing
 * migration rolls back the ones before it in the same run too.
 */
async function applyInOneTransaction(client: pg.Client, local: LocalMigration[]): Promise<MigrationReport> {
  await client.query("BEGIN");
  try {
    await client.query("SET LOCAL lock_timeout = '60s'");
    await client.query("SELECT pg_advisory_xact_lock($1)", [PRISMA_MIGRATE_LOCK_KEY]).catch((error: unknown) => {
      throw describeLockWait(error);
    });
    await client.query("SET LOCAL lock_timeout = 0");
    const report = await applyPending(client, local, recordAndApply);
    await client.query("COMMIT");
    return report;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

async function applyPending(client: pg.Client, local: LocalMigration[], apply: (client: pg.Client, migration: LocalMigration) => Promise<void>): Promise<MigrationReport> {
  await client.query(CREATE_MIGRATIONS_TABLE);
  const rows = await readAppliedRows(client);
  const report: MigrationReport = { applied: [], alreadyApplied: [], checksumMismatches: [], unknown: [] };
  const done = new Map(rows.filter((r) => r.finished_at && !r.rolled_back_at).map((r) => [r.migration_name, r]));
  const failed = rows.find((r) => !r.finished_at && !r.rolled_back_at);
  if (failed) {
    throw new ConfigError(`Migration ${failed.migration_name} failed earlier and is marked as unfinished in _prisma_migrations.`, {
      hint: `Undo what it applied, then mark it: npx prisma migrate resolve --rolled-back ${failed.migration_name} (or --applied if you finished it by hand); then migrate again.`,
    });
  }
  for (const migration of local) {
    const previous = done.get(migration.name);
    if (previous) {
      report.alreadyApplied.push(migration.name);
      if (previous.checksum !== migration.checksum) report.checksumMismatches.push(migration.name);
      continue;
    }
    await apply(client, migration);
    report.applied.push(migration.name);
  }
  const localNames = new Set(local.map((m) => m.name));
  report.unknown = [...done.keys()].filter((name) => !localNames.has(name));
  return report;
}

// One transaction per migration: a failure leaves neither schema changes nor
// a bookkeeping row behind, so the next run simply retries it.
async function applyOne(client: pg.Client, migration: LocalMigration) {
  await client.query("BEGIN");
  try {
    await recordAndApply(client, migration);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/** The migration and its bookkeeping row, inside the caller's transaction. */
async function recordAndApply(client: pg.Client, migration: LocalMigration) {
  const id = randomUUID();
  try {
    await client.query(
      `INSERT INTO "_prisma_migrations" ("id", "checksum", "migration_name", "started_at", "applied_steps_count") VALUES ($1, $2, $3, now(), 0)`,
      [id, migration.checksum, migration.name],
    );
    await client.query(migration.sql);
    await client.query(`UPDATE "_prisma_migrations" SET "finished_at" = now(), "applied_steps_count" = 1 WHERE "id" = $1`, [id]);
  } catch (error) {
    throw new ConfigError(`Migration ${migration.name} failed: ${(error as Error).message}`, {
      hint: "It was rolled back whole (one transaction per migration): fix what the error names, then migrate again.",
      cause: error,
    });
  }
}

async function readAppliedRows(client: pg.Client): Promise<AppliedRow[]> {
  const { rows } = await client.query<AppliedRow>(
    `SELECT "migration_name", "checksum", "finished_at", "rolled_back_at" FROM "_prisma_migrations" ORDER BY "started_at"`,
  );
  return rows;
}

/** Names of local migrations not yet applied (empty when up to date). Read-only. */
export async function findPendingMigrations(client: pg.ClientBase, dir: string = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  const local = readLocalMigrations(dir);
  const { rows } = await client.query<{ exists: boolean }>(`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS "exists"`);
  if (!rows[0]?.exists) return local.map((m) => m.name);
  const applied = new Set(
    (await readAppliedRows(client as pg.Client)).filter((r) => r.finished_at && !r.rolled_back_at).map((r) => r.migration_name),
  );
  return local.map((m) => m.name).filter((name) => !applied.has(name));
}
