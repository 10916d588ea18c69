// Read-only queries the race/replay harness times and verifies with, and the
// row shapes the mapped queries (verify-mapping-sql.ts) return. Kept apart
// from sql.ts (the write path) so that what the harness reads cannot drift
// into what the receiver writes. Tagged templates only.
import type { Db } from "./client.js";

export interface StoredMessage {
  id: string;
  clientId: string;
  leadId: string;
}

export interface JobKeyCount {
  dedupeKey: string;
  type: string;
  n: number;
}

/** The database's clock: statement windows are compared with it, never with ours. */
export async function readDatabaseClock(db: Db): Promise<Date> {
  const rows = await db.$queryRaw<{ now: Date }[]>`SELECT clock_timestamp() AS "now"`;
  return rows[0]!.now;
}

export interface StatementWindow {
  pid: number;
  start: Date;
  /** Null while the statement still runs. */
  end: Date | null;
}

/**
 * For every other client backend of this database whose latest statement
 * started at or after `since`: when it started and when it finished. After
 * a race this is the database's own record of how many statements it ran at
 * once (one per connection: the last one; earlier ones are not kept, so the
 * figure can only be an underestimate).
 */
export async function readStatementWindows(db: Db, since: Date): Promise<StatementWindow[]> {
  return db.$queryRaw<StatementWindow[]>`
    SELECT pid, query_start AS "start", CASE WHEN state = 'active' THEN NULL ELSE state_change END AS "end"
    FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
      AND query_start >= ${since}`;
}
