// Read-only job queries for `dedupe-cli verify`'s drain stage. Scoped to the
// messages the run's deliveries were answered with, so that whatever else a
// user's database holds (their own jobs, history) can neither fail nor pass
// the check. Tagged templates only.
import type { Db } from "./client.js";

export interface RunJobRow {
  id: string;
  type: string;
  status: string;
  attempts: number;
  messageId: string;
  lastError: string | null;
}

/** Every BackgroundJob of these messages, oldest first. */
export async function listJobsForMessages(db: Db, messageIds: readonly string[]): Promise<RunJobRow[]> {
  if (messageIds.length === 0) return [];
  return db.$queryRaw<RunJobRow[]>`
    SELECT "id"::text AS "id", "type"::text AS "type", "status"::text AS "status", "attempts",
           "messageId"::text AS "messageId", "lastError"
    FROM "BackgroundJob" WHERE "messageId" = ANY(${messageIds as string[]}::uuid[])
    ORDER BY "createdAt", "id"`;
}

/** PENDING or RUNNING jobs of these messages (what --no-drain waits for the user's workers to finish). */
export async function countOpenJobsForMessages(db: Db, messageIds: readonly string[]): Promise<number> {
  if (messageIds.length === 0) return 0;
  const rows = await db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS "n" FROM "BackgroundJob"
    WHERE "messageId" = ANY(${messageIds as string[]}::uuid[]) AND "status" IN ('PENDING', 'RUNNING')`;
  return rows[0]!.n;
}
