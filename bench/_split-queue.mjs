// A prototype of the storage redesign bench/README.md ("Session 6") weighs,
// measured at its floor (a bare loop like dedupe-floor, no runner around
// it): the queue in a narrow table of its own (bigint key, the claim's and
// recovery's partial indexes, deleted on completion), apart from the job
// record (BackgroundJob's columns, its primary key and unique dedupeKey,
// and no index that mentions status, so the record's status updates are
// HOT). Bench only: nothing in src/ uses these tables.
//
// Runners: split-floor (start writes before handlers, completion deletes the
// queue row and marks the record SUCCEEDED), split-floor-norec (the same
// without touching the record: a finished job is one without a queue row).

/** Moves the jobs just seeded into BackgroundJob to the prototype's tables. */
export async function moveJobsToSplitQueue(pool) {
  await pool.query(`
    CREATE TABLE IF NOT EXISTS split_rec (LIKE "BackgroundJob" INCLUDING DEFAULTS) WITH (fillfactor = 80);
    CREATE UNIQUE INDEX IF NOT EXISTS split_rec_pkey ON split_rec ("id");
    CREATE UNIQUE INDEX IF NOT EXISTS split_rec_dedupe_key ON split_rec ("dedupeKey");
    CREATE TABLE IF NOT EXISTS split_q (
      "id" bigserial PRIMARY KEY, "jobId" uuid NOT NULL, "runAt" timestamp(3) NOT NULL,
      "attempts" int NOT NULL DEFAULT 0, "lockedBy" text, "startedAt" timestamp(3), "leaseExpiresAt" timestamp(3)
    ) WITH (fillfactor = 80);
    CREATE INDEX IF NOT EXISTS split_q_pending ON split_q ("runAt", "id") WHERE "lockedBy" IS NULL;
    CREATE INDEX IF NOT EXISTS split_q_held ON split_q ("lockedBy") WHERE "lockedBy" IS NOT NULL;
    INSERT INTO split_rec SELECT * FROM "BackgroundJob";
    INSERT INTO split_q ("jobId", "runAt") SELECT "id", "runAt" FROM split_rec ORDER BY "runAt", "id";
    TRUNCATE "BackgroundJob";`);
  await pool.query(`VACUUM ANALYZE split_rec, split_q`);
}

export const countSplitQueue = async (pool) => (await pool.query(`SELECT count(*)::int AS n FROM split_q`)).rows[0].n;

export async function clearSplitQueue(pool, withRecord) {
  const left = (await pool.query(`SELECT count(*)::int AS n FROM split_rec WHERE "status" <> 'SUCCEEDED'`)).rows[0].n;
  if (withRecord && left > 0) throw new Error(`${left} split_rec jobs not SUCCEEDED`);
  await pool.query(`TRUNCATE split_rec, split_q`);
}

/** The claim: the queue row only (narrow, bigint key), the record's columns joined for the handler. */
export const claimSplitSql = (workerId, batch) => ({
  name: "split-claim",
  text: `
    WITH due AS (
      SELECT "id" FROM split_q WHERE "lockedBy" IS NULL AND "runAt" <= now()
      ORDER BY "runAt", "id" LIMIT $2 FOR UPDATE SKIP LOCKED
    ), claimed AS (
      UPDATE split_q q SET "lockedBy" = $1, "attempts" = q."attempts" + 1, "startedAt" = NULL,
        "leaseExpiresAt" = now() + interval '30 seconds'
      WHERE q."id" = ANY(ARRAY(SELECT "id" FROM due))
      RETURNING q."id", q."jobId", q."attempts"
    )
    SELECT c."id"::text AS "id", c."attempts", r."id"::text AS "jobId", r."type"::text AS "type", r."dedupeKey",
           r."clientId"::text AS "clientId", r."leadId"::text AS "leadId", r."messageId"::text AS "messageId",
           r."maxAttempts", r."runAt" AT TIME ZONE 'UTC' AS "runAt", r."createdAt" AT TIME ZONE 'UTC' AS "createdAt"
    FROM claimed c JOIN split_rec r ON r."id" = c."jobId"`,
  values: [workerId, batch],
});

// coalesce(): the guard on the holder must not be an index condition, or the
// generic plan scans split_q_held (every row this worker holds, dead
// entries included) on every wave; as a filter, the primary key is the way in.

/** One wave: start these (HOT update of the queue row), complete those (delete it; mark the record unless norec). */
export function startAndCompleteSplitSql(workerId, starts, completions, withRecord) {
  const record = withRecord
    ? `, rec AS (UPDATE split_rec r SET "status" = 'SUCCEEDED', "finishedAt" = now(), "updatedAt" = now() FROM done WHERE r."id" = done."jobId" RETURNING r."id")
       SELECT 's' AS "kind", "id"::text AS "id" FROM started UNION ALL SELECT 'c', "id"::text FROM rec`
    : ` SELECT 's' AS "kind", "id"::text AS "id" FROM started UNION ALL SELECT 'c', "id"::text FROM done`;
  return {
    name: withRecord ? "split-wave" : "split-wave-norec",
    text: `
      WITH done AS (
        DELETE FROM split_q q USING unnest($2::bigint[], $3::int[]) AS d("id", "attempts")
        WHERE q."id" = d."id" AND q."attempts" = d."attempts" AND coalesce(q."lockedBy", '') = $1
        RETURNING q."id", q."jobId"
      ), started AS (
        UPDATE split_q q SET "startedAt" = now(), "leaseExpiresAt" = now() + interval '5 minutes'
        FROM unnest($4::bigint[], $5::int[]) AS d("id", "attempts")
        WHERE q."id" = d."id" AND q."attempts" = d."attempts" AND coalesce(q."lockedBy", '') = $1
        RETURNING q."id"
      )${record}`,
    values: [workerId, completions.map((j) => j.id), completions.map((j) => j.attempts), starts.map((j) => j.id), starts.map((j) => j.attempts)],
  };
}
