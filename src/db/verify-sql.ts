// Read-only queries the race/replay harness verifies with. Kept apart from
// sql.ts (the write path) so that what the harness reads cannot drift into
// what the receiver writes. Tagged templates only; identifiers come from the
// closed map in sql.ts.
import { Prisma } from "../generated/prisma/client.js";
import type { MessageUniqueKey } from "./message-keys.js";
import type { Db } from "./client.js";
import { MESSAGE_KEY_COLUMNS } from "./sql.js";

export interface StoredMessage {
  id: string;
  clientId: string;
  leadId: string;
}

/** Every Message carrying this stored id (a unique index makes more than one impossible, unless the receiver's schema lacks it). */
export async function findMessagesByKey(db: Db, key: MessageUniqueKey, value: string): Promise<StoredMessage[]> {
  const col = MESSAGE_KEY_COLUMNS[key];
  // Compared as text, so a bare provider id that is no uuid finds nothing instead of failing the cast.
  const cmp = key === "aiDraftId" ? Prisma.sql`${col}::text = ${value}` : Prisma.sql`${col} = ${value}`;
  return db.$queryRaw<StoredMessage[]>`
    SELECT "id"::text AS "id", "clientId"::text AS "clientId", "leadId"::text AS "leadId"
    FROM "Message" WHERE ${cmp} ORDER BY "createdAt", "id"`;
}

export interface JobKeyCount {
  dedupeKey: string;
  type: string;
  n: number;
}

/** Jobs grouped by dedupeKey for any of these messages. */
export async function countJobsForMessages(db: Db, messageIds: readonly string[]): Promise<JobKeyCount[]> {
  if (messageIds.length === 0) return [];
  return db.$queryRaw<JobKeyCount[]>`
    SELECT "dedupeKey", "type"::text AS "type", count(*)::int AS "n"
    FROM "BackgroundJob" WHERE "messageId" = ANY(${messageIds as string[]}::uuid[])
    GROUP BY "dedupeKey", "type" ORDER BY "dedupeKey"`;
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
