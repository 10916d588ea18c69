// Bulk fixtures for the job runner's tests and benchmark: thousands of
// inbound messages with their jobs in one statement (generate_series), so
// setting up a 5,000-job drain takes milliseconds, not a minute of inserts.
import type { BackgroundJobType } from "../generated/prisma/enums.js";
import type { Db } from "./client.js";
import { DEFAULT_JOB_MAX_ATTEMPTS } from "./sql.js";

export interface SeedJobsOptions {
  clientId: string;
  /** Distinct string per call; namespaces lead emails and message ids. */
  prefix: string;
  messages: number;
  /** Messages are spread round-robin over this many leads. */
  leads: number;
  /** One job of each type per message. */
  types: readonly BackgroundJobType[];
  maxAttempts?: number;
}

/** Creates leads, inbound EMAILBISON messages and one job per (message, type); returns the counts. */
export async function seedMessagesWithJobs(db: Db, o: SeedJobsOptions): Promise<{ messages: number; jobs: number }> {
  const rows = await db.$queryRaw<{ messages: number; jobs: number }[]>`
    WITH leads AS (
      INSERT INTO "Lead" ("clientId", "email")
      SELECT ${o.clientId}::uuid, ${o.prefix} || '-' || g || '@example.com' FROM generate_series(0, ${o.leads}::int - 1) g
      RETURNING "id", "email"
    ), msgs AS (
      INSERT INTO "Message" ("clientId", "leadId", "provider", "channel", "direction", "subject", "body", "sentAt", "emailBisonReplyId")
      SELECT ${o.clientId}::uuid, l."id", 'EMAILBISON', 'EMAIL', 'INBOUND', 'Hello', 'reply ' || g,
             timestamp '2026-01-01' + g * interval '1 second', ${o.prefix} || ':' || g
      FROM generate_series(0, ${o.messages}::int - 1) g
      JOIN leads l ON l."email" = ${o.prefix} || '-' || (g % ${o.leads}::int) || '@example.com'
      RETURNING "id", "leadId"
    ), jobs AS (
      INSERT INTO "BackgroundJob" ("type", "dedupeKey", "clientId", "leadId", "messageId", "maxAttempts")
      SELECT t."type"::"BackgroundJobType", ${o.clientId} || ':' || m."id" || ':' || t."type", ${o.clientId}::uuid, m."leadId", m."id",
             ${o.maxAttempts ?? DEFAULT_JOB_MAX_ATTEMPTS}::int
      FROM msgs m CROSS JOIN unnest(${o.types as BackgroundJobType[]}::text[]) AS t("type")
      RETURNING 1
    )
    SELECT (SELECT count(*)::int FROM msgs) AS "messages", (SELECT count(*)::int FROM jobs) AS "jobs"`;
  return rows[0]!;
}

export interface JobStatusCount {
  status: string;
  attempts: number;
  n: number;
}

/**
 * Jobs grouped by status and attempts, for "every job SUCCEEDED on its first
 * attempt" checks (status's countJobsByStatus in sql.ts counts by status only).
 */
export async function countJobsByStatusAndAttempts(db: Db): Promise<JobStatusCount[]> {
  return db.$queryRaw<JobStatusCount[]>`
    SELECT "status"::text AS "status", "attempts", count(*)::int AS "n"
    FROM "BackgroundJob" GROUP BY "status", "attempts" ORDER BY "status", "attempts"`;
}
