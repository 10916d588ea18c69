// Many deliveries in one round trip. Under a retry storm a receiver handles
// dozens of deliveries per event-loop turn, each a one-statement round trip;
// on a small machine the cost of that traffic is mostly the hand-off to a
// PostgreSQL backend per statement (the socket write that wakes it was ~28%
// of serve's samples, more than any JavaScript). Deliveries that arrive in
// the same turn are sent as one statement instead: the same steps as
// ingestMessageStatement, over arrays.
//
// Dedupe semantics are unchanged. Rows within a batch that share a unique
// value are resolved by the statement itself (the lowest index inserts, the
// others are duplicates of it), and concurrent batches meet at the unique
// indexes exactly as single statements do. Every insert runs in key order,
// so two batches cannot deadlock by taking the same keys in opposite orders.
// If a batch fails for any reason but a lost database, its deliveries are
// re-run one statement each, so one bad delivery cannot fail the others.
import { isPrismaConnectionError, isStatementTimeoutError } from "./connection-errors.js";
import { Prisma } from "../generated/prisma/client.js";
import type { BackgroundJobType } from "../generated/prisma/enums.js";
import type { MessageUniqueKey } from "./message-keys.js";
import type { Db } from "./client.js";
import { ingestMessageStatement, LEAD_KEY_COLUMNS, MESSAGE_KEY_COLUMNS, runHotQuery, type IngestRow, type LeadKey, type LeadRef, type MessageRow } from "./sql.js";

export interface BatchedDelivery {
  message: MessageRow;
  lead: LeadRef;
  jobTypes: readonly BackgroundJobType[];
  maxAttempts: number;
}

/** The batched statement's answer for the delivery at `idx` (1-based, input order); missing rows mean "retry". */
type BatchRow = IngestRow & { idx: number };

/**
 * One statement for many deliveries that share a message key, lead key and
 * maxAttempts. Returns one result per delivery, in order; undefined where
 * the single statement would have returned no row (see ingestMessageStatement).
 */
export async function ingestMessageBatchStatement(db: Db, deliveries: readonly BatchedDelivery[]): Promise<(IngestRow | undefined)[]> {
  const first = deliveries[0]!;
  const col = MESSAGE_KEY_COLUMNS[first.message.key];
  const leadCol = LEAD_KEY_COLUMNS[first.lead.key];
  const column = <T>(pick: (d: BatchedDelivery) => T) => deliveries.map(pick);
  const rows = await runHotQuery<BatchRow>(db, Prisma.sql`
    WITH input AS (
      SELECT * FROM unnest(
        ${column((d) => d.message.clientId)}::text[], ${column((d) => d.message.provider)}::text[],
        ${column((d) => d.message.channel)}::text[], ${column((d) => d.message.direction)}::text[],
        ${column((d) => d.message.subject)}::text[], ${column((d) => d.message.body)}::text[],
        ${column((d) => d.message.sentAt.toISOString())}::timestamp(3)[], ${column((d) => d.message.value)}::text[],
        ${column((d) => d.lead.value)}::text[], ${column((d) => d.lead.firstName ?? null)}::text[],
        ${column((d) => d.lead.lastName ?? null)}::text[], ${column((d) => d.jobTypes.join(","))}::text[]
      ) WITH ORDINALITY AS i("clientId", "provider", "channel", "direction", "subject", "body", "sentAt", "value",
                             "leadValue", "firstName", "lastName", "jobTypes", "idx")
    ), existing AS (
      SELECT i."idx", m."id", m."leadId" FROM input i JOIN "Message" m ON m.${col} = i."value"
    ), fresh AS (
      SELECT i.* FROM input i WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e."idx" = i."idx")
    ), lead_ins AS (
      INSERT INTO "Lead" ("clientId", ${leadCol}, "firstName", "lastName")
      SELECT DISTINCT ON (f."clientId", f."leadValue") f."clientId"::uuid, f."leadValue", f."firstName", f."lastName"
      FROM fresh f ORDER BY f."clientId", f."leadValue", f."idx"
      ON CONFLICT ("clientId", ${leadCol}) DO NOTHING
      RETURNING "id", "clientId", ${leadCol} AS "leadValue"
    ), lead AS (
      SELECT f."idx", COALESCE(li."id", l."id") AS "id"
      FROM fresh f
      LEFT JOIN lead_ins li ON li."clientId" = f."clientId"::uuid AND li."leadValue" = f."leadValue"
      LEFT JOIN "Lead" l ON l."clientId" = f."clientId"::uuid AND l.${leadCol} = f."leadValue"
    ), ins AS (
      INSERT INTO "Message" ("clientId", "leadId", "provider", "channel", "direction", "subject", "body", "sentAt", ${col})
      SELECT DISTINCT ON (f."value") f."clientId"::uuid, lead."id", f."provider"::"Provider", f."channel"::"Channel",
             f."direction"::"Direction", f."subject", f."body", f."sentAt", f."value"
      FROM fresh f JOIN lead ON lead."idx" = f."idx" AND lead."id" IS NOT NULL
      ORDER BY f."value", f."idx"
      ON CONFLICT (${col}) DO NOTHING
      RETURNING "id", "leadId", ${col} AS "value"
    ), msg AS (
      SELECT e."idx", e."id", e."leadId", true AS "deduped" FROM existing e
      UNION ALL
      SELECT f."idx", ins."id", ins."leadId", f."idx" <> min(f."idx") OVER (PARTITION BY f."value") FROM fresh f JOIN ins ON ins."value" = f."value"
    ), jobs AS (
      INSERT INTO "BackgroundJob" ("type", "dedupeKey", "clientId", "leadId", "messageId", "maxAttempts")
      SELECT DISTINCT ON (k."dedupeKey") k."type"::"BackgroundJobType", k."dedupeKey", k."clientId"::uuid, k."leadId", k."messageId",
             ${first.maxAttempts}
      FROM (
        SELECT t."type", i."clientId" || ':' || msg."id" || ':' || t."type" AS "dedupeKey", i."clientId", msg."leadId", msg."id" AS "messageId"
        FROM msg JOIN input i ON i."idx" = msg."idx" CROSS JOIN LATERAL unnest(string_to_array(i."jobTypes", ',')) AS t("type")
      ) k
      ORDER BY k."dedupeKey"
      ON CONFLICT ("dedupeKey") DO NOTHING
      RETURNING "messageId"
    )
    SELECT msg."idx"::int AS "idx", msg."id"::text AS "id", msg."leadId"::text AS "leadId", msg."deduped",
           -- A message's new jobs are counted once, on the delivery that came first in the batch.
           CASE WHEN msg."idx" = min(msg."idx") OVER (PARTITION BY msg."id")
                THEN (SELECT count(*)::int FROM jobs j WHERE j."messageId" = msg."id") ELSE 0 END AS "jobsEnqueued"
    FROM msg`);
  const byIndex: (IngestRow | undefined)[] = new Array(deliveries.length).fill(undefined);
  for (const { idx, ...row } of rows) byIndex[idx - 1] = row;
  return byIndex;
}

export interface DeliveryBatcher {
  /** Same contract as ingestMessageStatement, run together with the other deliveries of this event-loop turn. */
  ingest(delivery: BatchedDelivery): Promise<IngestRow | undefined>;
  /** Counters since creation: batched statements sent, deliveries they carried, batches re-run one by one after failing. */
  stats(): BatcherStats;
}

export interface BatcherStats {
  batches: number;
  batchedDeliveries: number;
  singles: number;
  fallbacks: number;
}

interface Pending {
  delivery: BatchedDelivery;
  resolve: (row: IngestRow | undefined) => void;
  reject: (error: unknown) => void;
}

export const DEFAULT_MAX_BATCH = 100;
/** Message bodies per statement, so a burst of large deliveries is not one huge parameter list. */
export const DEFAULT_MAX_BATCH_BYTES = 1024 * 1024;

/**
 * Collects deliveries until the event loop has handled everything that was
 * ready (setImmediate), then sends one statement per group. No timer: a lone
 * delivery waits one loop turn at most, never a fixed window.
 */
export function createDeliveryBatcher(db: Db, options: { maxBatch?: number; maxBatchBytes?: number } = {}): DeliveryBatcher {
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  const maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
  let groups = new Map<string, Pending[]>();
  let scheduled = false;
  const stats: BatcherStats = { batches: 0, batchedDeliveries: 0, singles: 0, fallbacks: 0 };

  const flush = () => {
    scheduled = false;
    const ready = groups;
    groups = new Map();
    for (const group of ready.values()) {
      for (const chunk of splitBatches(group, maxBatch, maxBatchBytes)) void runGroup(db, chunk, stats);
    }
  };

  return {
    stats: () => ({ ...stats }),
    ingest(delivery) {
      // aiDraftId is a uuid column; drafts are sent one at a time, so they keep the single statement.
      if (delivery.message.key === "aiDraftId") {
        stats.singles++;
        return runSingle(db, delivery);
      }
      return new Promise((resolve, reject) => {
        const key = groupKey(delivery.message.key, delivery.lead.key, delivery.maxAttempts);
        const group = groups.get(key);
        if (group) group.push({ delivery, resolve, reject });
        else groups.set(key, [{ delivery, resolve, reject }]);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
  };
}

/** Consecutive chunks of at most `maxCount` deliveries and (unless one alone is larger) `maxBytes` of bodies. */
function splitBatches(group: Pending[], maxCount: number, maxBytes: number): Pending[][] {
  const chunks: Pending[][] = [];
  let chunk: Pending[] = [];
  let bytes = 0;
  for (const pending of group) {
    const size = pending.delivery.message.body.length;
    if (chunk.length > 0 && (chunk.length >= maxCount || bytes + size > maxBytes)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(pending);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

function groupKey(key: MessageUniqueKey, leadKey: LeadKey, maxAttempts: number): string {
  return `${key}\u0000${leadKey}\u0000${maxAttempts}`;
}

function runSingle(db: Db, d: BatchedDelivery): Promise<IngestRow | undefined> {
  return ingestMessageStatement(db, d.message, d.lead, d.jobTypes, d.maxAttempts);
}

async function runGroup(db: Db, group: Pending[], stats: BatcherStats): Promise<void> {
  if (group.length > 1) {
    stats.batches++;
    stats.batchedDeliveries += group.length;
    let rows: (IngestRow | undefined)[] | undefined;
    try {
      rows = await ingestMessageBatchStatement(db, group.map((p) => p.delivery));
    } catch (error) {
      // The database is not there: one statement each would only wait for
      // it once per delivery. Every delivery gets the error (a 503) at once.
      // So is a timed-out statement: re-running it would wait as long again.
      if (isPrismaConnectionError(error) || isStatementTimeoutError(error)) {
        for (const p of group) p.reject(error);
        return;
      }
      // Otherwise each delivery alone, so only a bad one fails.
      stats.fallbacks++;
    }
    if (rows) {
      group.forEach((p, i) => p.resolve(rows[i]));
      return;
    }
  }
  stats.singles += group.length;
  await Promise.all(group.map((p) => runSingle(db, p.delivery).then(p.resolve, p.reject)));
}
