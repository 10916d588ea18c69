// Ingesting one provider message: find-or-create its lead, insert the message
// unless its provider id was seen, and make sure its background jobs exist.
// The jobs are ensured on duplicates too, so a process that died between the
// insert and the enqueue heals on the provider's retry.
import type { BackgroundJobType, Channel, Direction, Provider } from "../generated/prisma/enums.js";
import type { Db } from "../db/client.js";
import type { DeliveryBatcher } from "../db/ingest-batch.js";
import { ingestMessageStatement, retryOnSnapshotMiss, upsertLead, type LeadRef, type MessageRow } from "../db/sql.js";
import { buildJobDedupeKey, DEFAULT_MAX_ATTEMPTS, enqueueBackgroundJobs, jobTypesForMessage } from "./jobs.js";
import { silentLogger, type DedupeLogger } from "./log.js";
import { DEFAULT_CONFLICT_STRATEGY, insertMessage, type ConflictStrategy } from "./messages.js";
import type { MessageUniqueKey } from "./unique-keys.js";

export interface IngestInput {
  clientId: string;
  provider: Provider;
  channel: Channel;
  direction: Direction;
  subject?: string | null;
  body: string;
  sentAt: Date;
  unique: { key: MessageUniqueKey; value: string };
  lead: LeadRef;
  /** Provider event name, for logs. */
  eventType: string;
  /** Defaults to jobTypesForMessage(provider, direction). */
  jobTypes?: readonly BackgroundJobType[];
}

export interface IngestResult {
  messageId: string;
  leadId: string;
  deduped: boolean;
  /** Jobs this call created (0 on a duplicate whose jobs already existed). */
  jobsEnqueued: number;
  jobTypes: readonly BackgroundJobType[];
}

export interface IngestOptions {
  strategy?: ConflictStrategy;
  logger?: DedupeLogger;
  maxAttempts?: number;
  /**
   * on-conflict only: send this delivery's statement together with the
   * others of the same event-loop turn (createDeliveryBatcher). A receiver
   * under load sets this; one-off callers need not.
   */
  batcher?: DeliveryBatcher;
}

/** The Message columns an ingest input carries (everything but the lead). */
export function buildMessageRow(input: IngestInput): MessageRow {
  return {
    clientId: input.clientId,
    provider: input.provider,
    channel: input.channel,
    direction: input.direction,
    subject: input.subject ?? null,
    body: input.body,
    sentAt: input.sentAt,
    key: input.unique.key,
    value: input.unique.value,
  };
}

export async function ingestMessage(db: Db, input: IngestInput, options: IngestOptions = {}): Promise<IngestResult> {
  const strategy = options.strategy ?? DEFAULT_CONFLICT_STRATEGY;
  const jobTypes = input.jobTypes ?? jobTypesForMessage(input.provider, input.direction);
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const row = buildMessageRow(input);

  let result: IngestResult;
  if (strategy === "on-conflict") {
    // One round trip for the whole delivery (or for a whole batch of them).
    const { batcher } = options;
    const fused = await retryOnSnapshotMiss(
      () =>
        batcher
          ? batcher.ingest({ message: row, lead: input.lead, jobTypes, maxAttempts })
          : ingestMessageStatement(db, row, input.lead, jobTypes, maxAttempts),
      `message ${row.key}=${row.value}`,
    );
    result = { messageId: fused.id, leadId: fused.leadId, deduped: fused.deduped, jobsEnqueued: fused.jobsEnqueued, jobTypes };
  } else {
    const lead = await upsertLead(db, input.clientId, input.lead);
    const inserted = await insertMessage(db, { ...row, leadId: lead.id }, strategy);
    const created = await enqueueBackgroundJobs(
      db,
      jobTypes.map((type) => ({
        type,
        dedupeKey: buildJobDedupeKey(input.clientId, inserted.messageId, type),
        clientId: input.clientId,
        leadId: lead.id,
        messageId: inserted.messageId,
        maxAttempts,
      })),
    );
    result = { messageId: inserted.messageId, leadId: lead.id, deduped: inserted.deduped, jobsEnqueued: created.length, jobTypes };
  }

  (options.logger ?? silentLogger).logDecision({
    eventType: input.eventType,
    provider: input.provider,
    uniqueKey: input.unique.key,
    uniqueValue: input.unique.value,
    clientId: input.clientId,
    leadId: result.leadId,
    messageId: result.messageId,
    deduped: result.deduped,
    jobsEnqueued: result.jobsEnqueued,
  });
  return result;
}
