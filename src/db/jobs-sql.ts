// The job runner's queue SQL: claim, complete, fail, release, heartbeat and
// lease recovery. Every write after the claim is guarded by
// status = 'RUNNING' AND "lockedBy" = <worker> AND attempts = <the claimed
// attempt>, so a worker whose lease expired (and whose job another worker
// re-claimed) can never overwrite the newer run's state.
//
// Times are computed with now() inside PostgreSQL, never in JS, so workers
// on machines with skewed clocks still agree on leases and due times.
import pg from "pg";
import { isTransactionPooler } from "./pooler.js";
import { Prisma } from "../generated/prisma/client.js";
import type { BackgroundJobType } from "../generated/prisma/enums.js";
import type { Db } from "./client.js";
import { runHotQuery } from "./sql.js";

/** The NOTIFY channel the 20261122010000_job_notify trigger signals on insert. */
export const JOB_NOTIFY_CHANNEL = "dedupe_jobs";

export interface ClaimedJobRow {
  id: string;
  /** text, not the enum: a job type added by a newer migration must still come back (and fail clearly). */
  type: string;
  dedupeKey: string;
  clientId: string;
  leadId: string | null;
  messageId: string | null;
  /** Including this claim. */
  attempts: number;
  maxAttempts: number;
  runAt: Date;
  createdAt: Date;
}

/**
 * Claims up to `batch` due jobs in one statement. The inner WHERE/ORDER BY is
 * exactly the partial index BackgroundJob_pending_runAt_id_idx
 * (("runAt","id") WHERE status = 'PENDING'), so the claim is an index range
 * scan in runAt order however many finished jobs the table holds. SKIP LOCKED
 * lets any number of workers claim side by side without waiting on each other.
 */
export async function claimJobs(db: Db, workerId: string, batch: number, types: readonly BackgroundJobType[], claimLeaseMs = 30_000, messageIds?: readonly string[]): Promise<ClaimedJobRow[]> {
  return runHotQuery<ClaimedJobRow>(db, buildClaimSql(workerId, batch, types, claimLeaseMs, messageIds));
}

/**
 * The claim counts an attempt (the attempt number is the claim's token in
 * every guard) but leaves startedAt NULL and gives the job only the short
 * claim lease: until startJobs marks it started, a crash costs it nothing
 * (recovery gives the attempt back) and it comes back within the claim lease.
 */
function buildClaimSql(workerId: string, batch: number, types: readonly BackgroundJobType[], claimLeaseMs: number, messageIds?: readonly string[]): Prisma.Sql {
  // verify drains only the jobs of the messages its run caused (ids compared as text).
  const scope = messageIds ? Prisma.sql`AND "messageId"::text = ANY(${messageIds as string[]}::text[])` : Prisma.empty;
  return Prisma.sql`
    WITH due AS (
      SELECT "id" FROM "BackgroundJob"
      WHERE "status" = 'PENDING' AND "runAt" <= now() AND "type" = ANY(${types as BackgroundJobType[]}::"BackgroundJobType"[]) ${scope}
      ORDER BY "runAt", "id"
      LIMIT ${batch}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE "BackgroundJob" j
    SET "status" = 'RUNNING', "attempts" = j."attempts" + 1, "lockedBy" = ${workerId},
        "lockedAt" = now(), "startedAt" = NULL, "finishedAt" = NULL, "updatedAt" = now(),
        "leaseExpiresAt" = now() + ${Math.round(claimLeaseMs)}::int * interval '1 millisecond'
    WHERE j."id" = ANY(ARRAY(SELECT "id" FROM due))
    RETURNING j."id"::text AS "id", j."type"::text AS "type", j."dedupeKey", j."clientId"::text AS "clientId",
              j."leadId"::text AS "leadId", j."messageId"::text AS "messageId", j."attempts", j."maxAttempts",
              j."runAt" AT TIME ZONE 'UTC' AS "runAt", j."createdAt" AT TIME ZONE 'UTC' AS "createdAt"`;
}

/** The claim's plan (EXPLAIN, nothing executed), to check it scans the partial pending index. */
export async function explainClaim(db: Db, batch: number, types: readonly BackgroundJobType[]): Promise<string> {
  const rows = await db.$queryRaw<{ "QUERY PLAN": string }[]>`EXPLAIN ${buildClaimSql("explain", batch, types, 30_000)}`;
  return rows.map((r) => r["QUERY PLAN"]).join("\n");
}

/**
 * The guard's status test, written so that it cannot use an index. These
 * statements run as named prepared statements, and PostgreSQL's generic plan
 * (from statistics where RUNNING rows are rare) would otherwise scan an
 * index of RUNNING jobs (then BackgroundJob_status_leaseExpiresAt_idx; now
 * the partial BackgroundJob_running_lockedBy_idx, by lockedBy) for every
 * RUNNING entry, dead ones included: each completed claim leaves one behind
 * until VACUUM, making every outcome batch slower than the last (measured: 17k → 300 jobs/s). As a
 * plain filter it leaves the job's primary key as the only way in.
 */
const IS_RUNNING = Prisma.sql`j."status"::text = 'RUNNING'`;

export interface JobAttempt {
  id: string;
  attempts: number;
}

/**
 * Marks claimed jobs started, right before their handlers run: from here the
 * attempt counts (a crash no longer gives it back) and the job holds the full
 * lease. Returns the ids this worker still held; a handler whose job is
 * missing must not run.
 */
export async function startJobs(db: Db, workerId: string, jobs: readonly JobAttempt[], leaseMs: number): Promise<string[]> {
  if (jobs.length === 0) return [];
  return (await runHotQuery<{ id: string }>(db, buildStartSql(workerId, jobs, leaseMs))).map((r) => r.id);
}

/** startJobs' statement, for a caller that sends it itself (src/db/send-channel.ts); its rows are { id }. */
export function buildStartSql(workerId: string, jobs: readonly JobAttempt[], leaseMs: number): Prisma.Sql {
  return Prisma.sql`
    UPDATE "BackgroundJob" j
    SET "startedAt" = now(), "lockedAt" = now(), "leaseExpiresAt" = now() + ${Math.round(leaseMs)}::int * interval '1 millisecond'
    FROM unnest(${jobs.map((j) => j.id)}::uuid[], ${jobs.map((j) => j.attempts)}::int[]) AS d("id", "attempts")
    WHERE j."id" = d."id" AND j."attempts" = d."attempts" AND j."lockedBy" = ${workerId} AND ${IS_RUNNING}
    RETURNING j."id"::text AS "id"`;
}

export interface StartedAndCompleted {
  /** Ids of the started jobs this worker still held (their handlers may run). */
  started: string[];
  /** Ids of the completions written (jobs this worker still held). */
  completed: string[];
}

/**
 * startJobs and completeJobs in one statement (one round trip, one commit):
 * a slot whose handler just finished asks to start its next job, so the
 * completion written with that start costs no statement of its own. The
 * two updates touch different rows (a job completed here is no longer
 * RUNNING, so it cannot be started in the same batch).
 */
export async function startAndCompleteJobs(db: Db, workerId: string, starts: readonly JobAttempt[], completions: readonly JobAttempt[], leaseMs: number): Promise<StartedAndCompleted> {
  return splitStartedAndCompleted(await runHotQuery<StartOrCompletionRow>(db, buildStartAndCompleteSql(workerId, starts, completions, leaseMs)));
}

export interface StartOrCompletionRow {
  kind: "s" | "c";
  id: string;
}

/** startAndCompleteJobs' statement, for a caller that sends it itself; splitStartedAndCompleted reads its rows. */
export function buildStartAndCompleteSql(workerId: string, starts: readonly JobAttempt[], completions: readonly JobAttempt[], leaseMs: number): Prisma.Sql {
  return Prisma.sql`
    WITH done AS (
      UPDATE "BackgroundJob" j
      SET "status" = 'SUCCEEDED', "finishedAt" = now(), "lockedAt" = NULL, "leaseExpiresAt" = NULL, "lastError" = NULL, "updatedAt" = now()
      FROM unnest(${completions.map((j) => j.id)}::uuid[], ${completions.map((j) => j.attempts)}::int[]) AS d("id", "attempts")
      WHERE j."id" = d."id" AND j."attempts" = d."attempts" AND j."lockedBy" = ${workerId} AND ${IS_RUNNING}
      RETURNING j."id"
    ), started AS (
      UPDATE "BackgroundJob" j
      SET "startedAt" = now(), "lockedAt" = now(), "leaseExpiresAt" = now() + ${Math.round(leaseMs)}::int * interval '1 millisecond'
      FROM unnest(${starts.map((j) => j.id)}::uuid[], ${starts.map((j) => j.attempts)}::int[]) AS d("id", "attempts")
      WHERE j."id" = d."id" AND j."attempts" = d."attempts" AND j."lockedBy" = ${workerId} AND ${IS_RUNNING}
      RETURNING j."id"
    )
    SELECT 's' AS "kind", "id"::text AS "id" FROM started
    UNION ALL
    SELECT 'c' AS "kind", "id"::text AS "id" FROM done`;
}

export function splitStartedAndCompleted(rows: readonly StartOrCompletionRow[]): StartedAndCompleted {
  const result: StartedAndCompleted = { started: [], completed: [] };
  for (const row of rows) (row.kind === "s" ? result.started : result.completed).push(row.id);
  return result;
}

/** Marks claimed jobs SUCCEEDED in one statement; returns the ids this worker still held. */
export async function completeJobs(db: Db, workerId: string, jobs: readonly JobAttempt[]): Promise<string[]> {
  if (jobs.length === 0) return [];
  const rows = await runHotQuery<{ id: string }>(db, Prisma.sql`
    UPDATE "BackgroundJob" j
    SET "status" = 'SUCCEEDED', "finishedAt" = now(), "lockedAt" = NULL, "leaseExpiresAt" = NULL, "lastError" = NULL, "updatedAt" = now()
    FROM unnest(${jobs.map((j) => j.id)}::uuid[], ${jobs.map((j) => j.attempts)}::int[]) AS d("id", "attempts")
    WHERE j."id" = d."id" AND j."attempts" = d."attempts" AND j."lockedBy" = ${workerId} AND ${IS_RUNNING}
    RETURNING j."id"::text AS "id"`);
  return rows.map((r) => r.id);
}

export interface JobFailure extends JobAttempt {
  error: string;
  /** Backoff before the next attempt, when one is left. */
  retryDelayMs: number;
  /** Fail now whatever attempts remain (no handler for the type). */
  permanent: boolean;
}

export interface FailedJobOutcome {
  id: string;
  /** PENDING: scheduled for a retry at runAt. FAILED: attempts used up (or permanent). */
  status: "PENDING" | "FAILED";
  runAt: Date;
}

/**
 * Records failed attempts in one statement: back to PENDING at
 * now() + delay while attempts remain, else FAILED with finishedAt. The
 * decision uses the row's own attempts/maxAttempts, so it is right even if
 * maxAttempts was edited while the job ran.
 */
export async function failJobs(db: Db, workerId: string, failures: readonly JobFailure[]): Promise<FailedJobOutcome[]> {
  if (failures.length === 0) return [];
  return runHotQuery<FailedJobOutcome>(db, Prisma.sql`
    WITH d AS (
      SELECT * FROM unnest(
        ${failures.map((f) => f.id)}::uuid[], ${failures.map((f) => f.attempts)}::int[], ${failures.map((f) => f.error)}::text[],
        ${failures.map((f) => Math.max(0, Math.round(f.retryDelayMs)))}::int[], ${failures.map((f) => f.permanent)}::bool[]
      ) AS d("id", "attempts", "error", "delayMs", "permanent")
    )
    UPDATE "BackgroundJob" j
    SET "status" = CASE WHEN d."permanent" OR j."attempts" >= j."maxAttempts" THEN 'FAILED' ELSE 'PENDING' END::"BackgroundJobStatus",
        "runAt" = CASE WHEN d."permanent" OR j."attempts" >= j."maxAttempts" THEN j."runAt"
                       ELSE now() + d."delayMs" * interval '1 millisecond' END,
        "finishedAt" = CASE WHEN d."permanent" OR j."attempts" >= j."maxAttempts" THEN now() END,
        "lockedAt" = NULL, "leaseExpiresAt" = NULL, "lastError" = d."error", "updatedAt" = now()
    FROM d
    WHERE j."id" = d."id" AND j."attempts" = d."attempts" AND j."lockedBy" = ${workerId} AND ${IS_RUNNING}
    RETURNING j."id"::text AS "id", j."status"::text AS "status", j."runAt" AT TIME ZONE 'UTC' AS "runAt"`);
}

/**
 * Where this worker's attempts ended up, for outcomes a guarded write did
 * not return: a write retried after a lost connection may have committed the
 * first time (the retry then matches nothing). A job another worker took
 * over no longer carries our workerId and comes back as absent.
 */
export async function readOwnSettledJobs(db: Db, workerId: string, jobs: readonly JobAttempt[]): Promise<Array<{ id: string; status: "PENDING" | "SUCCEEDED" | "FAILED"; runAt: Date }>> {
  if (jobs.length === 0) return [];
  return runHotQuery(db, Prisma.sql`
    SELECT j."id"::text AS "id", j."status"::text AS "status", j."runAt" AT TIME ZONE 'UTC' AS "runAt"
    FROM "BackgroundJob" j
    JOIN unnest(${jobs.map((j) => j.id)}::uuid[], ${jobs.map((j) => j.attempts)}::int[]) AS d("id", "attempts")
      ON j."id" = d."id" AND j."attempts" = d."attempts"
    WHERE j."lockedBy" = ${workerId} AND j."status"::text <> 'RUNNING'`);
}

/**
 * Hands claimed jobs back (shutdown, time budget) without spending an
 * attempt: attempts - 1, so a job released N times still gets all its tries.
 */
export async function releaseJobs(db: Db, workerId: string, jobs: readonly JobAttempt[]): Promise<string[]> {
  if (jobs.length === 0) return [];
  const rows = await runHotQuery<{ id: string }>(db, Prisma.sql`
    UPDATE "BackgroundJob" j
    SET "status" = 'PENDING', "attempts" = j."attempts" - 1, "lockedBy" = NULL, "lockedAt" = NULL,
        "leaseExpiresAt" = NULL, "startedAt" = NULL, "updatedAt" = now()
    FROM unnest(${jobs.map((j) => j.id)}::uuid[], ${jobs.map((j) => j.attempts)}::int[]) AS d("id", "attempts")
    WHERE j."id" = d."id" AND j."attempts" = d."attempts" AND j."lockedBy" = ${workerId} AND ${IS_RUNNING}
    RETURNING j."id"::text AS "id"`);
  return rows.map((r) => r.id);
}

/**
 * Renews this worker's leases: the full lease for started jobs, the claim
 * lease for queued ones (the row's startedAt tells which). Returns the ids
 * still held; a job missing from the result was recovered by another worker
 * and must not be run here.
 */
export async function renewLeases(db: Db, workerId: string, jobs: readonly JobAttempt[], leases: { leaseMs: number; claimLeaseMs: number } = { leaseMs: 300_000, claimLeaseMs: 30_000 }): Promise<string[]> {
  if (jobs.length === 0) return [];
  const rows = await runHotQuery<{ id: string }>(db, Prisma.sql`
    UPDATE "BackgroundJob" j SET "lockedAt" = now(), "leaseExpiresAt" = now() + CASE WHEN j."startedAt" IS NULL
      THEN ${Math.round(leases.claimLeaseMs)}::int ELSE ${Math.round(leases.leaseMs)}::int END * interval '1 millisecond'
    FROM unnest(${jobs.map((j) => j.id)}::uuid[], ${jobs.map((j) => j.attempts)}::int[]) AS d("id", "attempts")
    WHERE j."id" = d."id" AND j."attempts" = d."attempts" AND j."lockedBy" = ${workerId} AND ${IS_RUNNING}
    RETURNING j."id"::text AS "id"`);
  return rows.map((r) => r.id);
}

export interface RecoveredJob {
  id: string;
  type: string;
  status: "PENDING" | "FAILED";
  lockedBy: string | null;
  /** False: the job was claimed but its handler never started; its attempt was given back. */
  started: boolean;
}

/**
 * Returns jobs whose own lease expired (their worker died or hung) to
 * PENDING, or to FAILED when that lost attempt was the last. A job whose
 * handler never started (startedAt NULL: it was still queued in the dead
 * worker) gets its attempt back and keeps its lastError. One UPDATE: when
 * every worker runs it at once, the row lock plus the re-checked WHERE make
 * each job recovered exactly once, and a job re-claimed or renewed meanwhile
 * (a later leaseExpiresAt) is left alone.
 */
export async function recoverExpiredLeases(db: Db): Promise<RecoveredJob[]> {
  return runHotQuery<RecoveredJob>(db, buildRecoverySql());
}

/** Recovery's and the open-job count's plans (EXPLAIN, nothing executed), to check they read partial indexes only. */
export async function explainRecoveryAndCount(db: Db, types: readonly BackgroundJobType[]): Promise<{ recovery: string; count: string }> {
  const plan = async (sql: Prisma.Sql) => (await db.$queryRaw<{ "QUERY PLAN": string }[]>`EXPLAIN ${sql}`).map((r) => r["QUERY PLAN"]).join("\n");
  return { recovery: await plan(buildRecoverySql()), count: await plan(buildCountOpenSql(types)) };
}

function buildRecoverySql(): Prisma.Sql {
  return Prisma.sql`
    WITH expired AS (
      SELECT "id", "lockedBy", "startedAt" IS NOT NULL AS "started" FROM "BackgroundJob"
      WHERE "status" = 'RUNNING' AND "leaseExpiresAt" < now()
      FOR UPDATE SKIP LOCKED
    ), recovered AS (
      UPDATE "BackgroundJob" j
      SET "status" = CASE WHEN e."started" AND j."attempts" >= j."maxAttempts" THEN 'FAILED' ELSE 'PENDING' END::"BackgroundJobStatus",
          "attempts" = CASE WHEN e."started" THEN j."attempts" ELSE j."attempts" - 1 END,
          "finishedAt" = CASE WHEN e."started" AND j."attempts" >= j."maxAttempts" THEN now() END,
          "lastError" = CASE WHEN e."started"
                          THEN 'lease expired: worker ' || COALESCE(j."lockedBy", '?') || ' stopped renewing it during attempt ' || j."attempts"
                          ELSE j."lastError" END,
          "startedAt" = CASE WHEN e."started" AND j."attempts" >= j."maxAttempts" THEN j."startedAt" END,
          "lockedBy" = NULL, "lockedAt" = NULL, "leaseExpiresAt" = NULL, "updatedAt" = now()
      FROM expired e WHERE j."id" = e."id"
      RETURNING j."id"::text AS "id", j."type"::text AS "type", j."status"::text AS "status", e."lockedBy", e."started"
    )
    SELECT * FROM recovered`;
}

/** Wakes --watch workers for jobs that became runnable without an INSERT (released, recovered). */
export async function notifyJobWorkers(db: Db): Promise<void> {
  await runHotQuery(db, Prisma.sql`SELECT pg_notify(${JOB_NOTIFY_CHANNEL}, '')::text AS "_"`);
}

export interface JobCountsByType {
  type: string;
  pending: number;
  due: number;
  running: number;
}

/** Unfinished jobs per type, for the progress total and the summary's "remaining". */
export async function countOpenJobs(db: Db, types: readonly BackgroundJobType[], messageIds?: readonly string[]): Promise<JobCountsByType[]> {
  return runHotQuery<JobCountsByType>(db, buildCountOpenSql(types, messageIds));
}

function buildCountOpenSql(types: readonly BackgroundJobType[], messageIds?: readonly string[]): Prisma.Sql {
  // Scoped like the claim: a drain limited to some messages' jobs must not wait for anyone else's.
  const scope = messageIds ? Prisma.sql`AND "messageId"::text = ANY(${messageIds as string[]}::text[])` : Prisma.empty;
  // One arm per status, each matching a partial index (pending by runAt,
  // running by holder): a table of finished jobs is never scanned.
  return Prisma.sql`
    SELECT o."type",
           count(*) FILTER (WHERE o."status" = 'PENDING')::int AS "pending",
           count(*) FILTER (WHERE o."status" = 'PENDING' AND o."runAt" <= now())::int AS "due",
           count(*) FILTER (WHERE o."status" = 'RUNNING')::int AS "running"
    FROM (
      SELECT "type"::text AS "type", 'PENDING' AS "status", "runAt" FROM "BackgroundJob"
      WHERE "status" = 'PENDING' AND "type"::text = ANY(${types as BackgroundJobType[]}::text[]) ${scope}
      UNION ALL
      SELECT "type"::text AS "type", 'RUNNING' AS "status", "runAt" FROM "BackgroundJob"
      WHERE "status" = 'RUNNING' AND "type"::text = ANY(${types as BackgroundJobType[]}::text[]) ${scope}
    ) o
    GROUP BY o."type" ORDER BY o."type"`;
}

/**
 * LISTENs for job notifications on a dedicated connection (a pooled one
 * would be handed to other queries). Returns a stop function. Connection
 * errors go to onError; callers fall back to polling.
 */
export async function listenForJobs(url: string, onNotify: () => void, onError: (error: Error) => void): Promise<() => Promise<void>> {
  // LISTEN through a transaction pooler "succeeds" on a server connection
  // that is then handed to others: notifications would be lost silently.
  if (isTransactionPooler(url)) throw new Error("LISTEN does not work through a transaction-mode pooler (pgbouncer=true)");
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, application_name: "dedupe-cli drain-jobs listen" });
  client.on("error", onError);
  client.on("notification", (message) => {
    if (message.channel === JOB_NOTIFY_CHANNEL) onNotify();
  });
  await client.connect();
  try {
    // A constant, not built from input: LISTEN takes no bind parameters.
    await client.query(`LISTEN ${client.escapeIdentifier(JOB_NOTIFY_CHANNEL)}`);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return async () => {
    client.removeAllListeners("notification");
    await client.end().catch(() => undefined);
  };
}
