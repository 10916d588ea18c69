// The built-in job handlers' database work. Each is one statement, so it is
// atomic, and each is idempotent, so a retried or recovered job (a worker
// died after the effect but before recording success) has no second effect.
import type { Db } from "./client.js";

export interface InboundPostProcessResult {
  /** False when the message was gone (deleted with its client, say). */
  found: boolean;
  /** True when this run set processedAt (and so counted the message on its lead). */
  processed: boolean;
  /** True when this run created the reply draft. */
  drafted: boolean;
}

/**
 * Marks an inbound message processed, counts it on its lead, and creates the
 * reply draft. The lead is bumped only from the rows whose processedAt this
 * statement changed from NULL, so a retry counts nothing twice; concurrent
 * runs serialise on the message's row lock and the loser sees processedAt set.
 * AIDraft.triggerMessageId is unique, so the draft insert is a no-op the
 * second time.
 */
export async function postProcessInboundMessage(db: Db, messageId: string): Promise<InboundPostProcessResult> {
  const rows = await db.$queryRaw<InboundPostProcessResult[]>`
    WITH processed AS (
      UPDATE "Message" SET "processedAt" = now()
      WHERE "id" = ${messageId}::uuid AND "processedAt" IS NULL
      RETURNING "id", "leadId", "sentAt"
    ), counted AS (
      UPDATE "Lead" l
      SET "inboundCount" = l."inboundCount" + 1,
          "lastInboundAt" = GREATEST(l."lastInboundAt", p."sentAt"),
          "updatedAt" = now()
      FROM processed p WHERE l."id" = p."leadId"
      RETURNING l."id"
    ), drafted AS (
      INSERT INTO "AIDraft" ("clientId", "leadId", "channel", "subject", "body", "triggerMessageId")
      SELECT m."clientId", m."leadId", m."channel",
             CASE WHEN m."subject" IS NULL THEN NULL WHEN m."subject" ILIKE 're:%' THEN m."subject" ELSE 'Re: ' || m."subject" END,
             'Thanks for getting back to me! When would be a good time for a quick call?', m."id"
      FROM "Message" m WHERE m."id" = ${messageId}::uuid
      ON CONFLICT ("triggerMessageId") DO NOTHING
      RETURNING "id"
    )
    SELECT EXISTS (SELECT 1 FROM "Message" WHERE "id" = ${messageId}::uuid) AS "found",
           EXISTS (SELECT 1 FROM counted) AS "processed",
           EXISTS (SELECT 1 FROM drafted) AS "drafted"`;
  return rows[0]!;
}

/**
 * Recomputes a lead's score from all its messages: a pure function of the
 * rows (no now()), so running it twice gives the same score.
 *   score = min(100, 10·inbound + 3·outbound + 5·distinct channels)
 * Returns the new score, or undefined when the lead is gone.
 */
export async function scoreLead(db: Db, leadId: string): Promise<number | undefined> {
  const rows = await db.$queryRaw<{ score: number }[]>`
    UPDATE "Lead" l
    SET "score" = s."score", "scoredAt" = now(), "updatedAt" = now()
    FROM (
      SELECT LEAST(100,
               10 * count(*) FILTER (WHERE "direction" = 'INBOUND')
             + 3 * count(*) FILTER (WHERE "direction" = 'OUTBOUND')
             + 5 * count(DISTINCT "channel"))::int AS "score"
      FROM "Message" WHERE "leadId" = ${leadId}::uuid
    ) s
    WHERE l."id" = ${leadId}::uuid
    RETURNING l."score"`;
  return rows[0]?.score;
}

/** The lead of a message, for scoring jobs enqueued without a leadId. */
export async function findMessageLeadId(db: Db, messageId: string): Promise<string | undefined> {
  const rows = await db.$queryRaw<{ leadId: string }[]>`
    SELECT "leadId"::text AS "leadId" FROM "Message" WHERE "id" = ${messageId}::uuid`;
  return rows[0]?.leadId;
}
