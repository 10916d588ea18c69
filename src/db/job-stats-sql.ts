// Read-only queue statistics for `drain-jobs stats`: plain SELECTs, no locks
// taken beyond what any read takes, safe to run against a busy queue.
import type { Db } from "./client.js";

export interface JobTypeStatusCounts {
  type: string;
  pending: number;
  /** PENDING with runAt <= now(). */
  due: number;
  running: number;
  succeeded: number;
  failed: number;
  /** Age of the oldest due job of this type, ms (null when none is due). */
  oldestDueMs: number | null;
}

export async function countJobsByTypeAndStatus(db: Db): Promise<JobTypeStatusCounts[]> {
  return db.$queryRaw<JobTypeStatusCounts[]>`
    SELECT "type"::text AS "type",
           count(*) FILTER (WHERE "status" = 'PENDING')::int AS "pending",
           count(*) FILTER (WHERE "status" = 'PENDING' AND "runAt" <= now())::int AS "due",
           count(*) FILTER (WHERE "status" = 'RUNNING')::int AS "running",
           count(*) FILTER (WHERE "status" = 'SUCCEEDED')::int AS "succeeded",
           count(*) FILTER (WHERE "status" = 'FAILED')::int AS "failed",
           (extract(epoch FROM now() - min("runAt") FILTER (WHERE "status" = 'PENDING' AND "runAt" <= now())) * 1000)::float8 AS "oldestDueMs"
    FROM "BackgroundJob" GROUP BY "type" ORDER BY "type"`;
}

export interface FailureGroup {
  type: string;
  lastError: string;
  count: number;
  lastFailedAt: Date;
}

/** FAILED jobs grouped by type and lastError, most frequent first. */
export async function listFailureGroups(db: Db, limit: number): Promise<FailureGroup[]> {
  return db.$queryRaw<FailureGroup[]>`
    SELECT "type"::text AS "type", COALESCE("lastError", '(no error recorded)') AS "lastError", count(*)::int AS "count",
           max(COALESCE("finishedAt", "updatedAt")) AS "lastFailedAt"
    FROM "BackgroundJob" WHERE "status" = 'FAILED'
    GROUP BY 1, 2 ORDER BY "count" DESC, "lastFailedAt" DESC LIMIT ${limit}`;
}

export interface HolderLeases {
  worker: string;
  /** RUNNING jobs this worker holds. */
  held: number;
  /** Of those, how many have a lease that already expired (the worker is probably dead). */
  expired: number;
  /** How long ago the oldest expired lease ran out, ms (null when none has). */
  expiredForMs: number | null;
}

/** RUNNING jobs per holding worker, with how many of their leases have expired. */
export async function listLeaseHolders(db: Db): Promise<HolderLeases[]> {
  return db.$queryRaw<HolderLeases[]>`
    SELECT COALESCE("lockedBy", '?') AS "worker", count(*)::int AS "held",
           count(*) FILTER (WHERE "leaseExpiresAt" < now())::int AS "expired",
           (extract(epoch FROM now() - min("leaseExpiresAt") FILTER (WHERE "leaseExpiresAt" < now())) * 1000)::float8 AS "expiredForMs"
    FROM "BackgroundJob" WHERE "status" = 'RUNNING'
    GROUP BY 1 ORDER BY "expired" DESC, "held" DESC, 1`;
}
