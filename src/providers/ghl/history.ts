// Importing past GHL SMS messages (a backfill from GHL's conversations API or
// saved webhook bodies). Each message gets the same ghlId a live webhook
// delivery would (planGhlMessage), so import and webhooks deduplicate against
// each other, and two imports of one file at once still leave one row each.
// History enqueues no jobs: post-processing and scoring are for new activity;
// a later webhook delivery of the same message still ensures its jobs.
import fs from "node:fs";
import pLimit from "p-limit";
import { z } from "zod";
import type { Db } from "../../db/client.js";
import { ingestMessage } from "../../core/ingest.js";
import { ConfigError } from "../../errors.js";
import { freeText, idSchema, optionalDate, optionalText, parsePayload, toIngestInput, type MessagePlan } from "../common.js";
import { PayloadValidationError } from "../errors.js";
import { describeLocationMismatch, isSmsMessageType, planGhlMessage } from "./index.js";

const historyMessageSchema = z.looseObject({
  id: idSchema.nullish(),
  messageId: idSchema.nullish(),
  type: z.union([z.string(), z.number()]).nullish(),
  direction: optionalText,
  messageType: optionalText,
  locationId: optionalText,
  contactId: optionalText,
  body: freeText,
  dateAdded: optionalDate,
  from: optionalText,
  to: optionalText,
  phone: optionalText,
});

export interface GhlHistoryResult {
  total: number;
  created: number;
  deduped: number;
  /** Not SMS (email, call, ...). */
  skipped: number;
}

/** Reads [ ... ] or { "messages": [ ... ] }. */
export function readGhlHistoryFile(path: string): unknown[] {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(`Cannot read GHL history ${path}: ${(error as Error).message}`);
  }
  const list = Array.isArray(raw) ? raw : (raw as { messages?: unknown })?.messages;
  if (!Array.isArray(list)) throw new ConfigError(`${path}: expected a JSON array of messages or { "messages": [...] }`);
  return list;
}

/** Plans every message first (nothing is written if one is malformed), then ingests them with bounded concurrency. */
export async function importGhlHistory(db: Db, clientId: string, messages: readonly unknown[], options: { concurrency?: number } = {}): Promise<GhlHistoryResult> {
  const client = await db.client.findUnique({ where: { id: clientId }, select: { slug: true, ghlLocationId: true } });
  if (!client) throw new ConfigError(`No client with id ${clientId}.`);
  const plans: MessagePlan[] = [];
  let skipped = 0;
  messages.forEach((message, index) => {
    try {
      const plan = planHistoryMessage(message, client);
      if (plan) plans.push(plan);
      else skipped++;
    } catch (error) {
      if (error instanceof PayloadValidationError) throw new PayloadValidationError(`[${index}].${error.field}`, error.detail);
      throw error;
    }
  });
  const limit = pLimit(options.concurrency ?? 8);
  const results = await Promise.all(plans.map((plan) => limit(() => ingestMessage(db, { ...toIngestInput(plan, clientId), jobTypes: [] }))));
  const created = results.filter((r) => !r.deduped).length;
  return { total: messages.length, created, deduped: results.length - created, skipped };
}

/** null for non-SMS messages. */
function planHistoryMessage(message: unknown, client: { slug: string; ghlLocationId: string | null }): MessagePlan | null {
  const m = parsePayload(historyMessageSchema, message);
  if (!isSmsMessageType(m.messageType)) return null;
  const direction =
    m.type === "InboundMessage" || m.direction?.toLowerCase() === "inbound"
      ? "INBOUND"
      : m.type === "OutboundMessage" || m.direction?.toLowerCase() === "outbound"
        ? "OUTBOUND"
        : null;
  if (!direction) throw new PayloadValidationError("direction", 'expected "inbound" or "outbound" (or type InboundMessage/OutboundMessage)');
  // Another location's message would take that location's ghlId, so its
  // live webhook would later dedupe into this client instead of its own.
  if (m.locationId) {
    const mismatch = describeLocationMismatch(client, m.locationId);
    if (mismatch) throw new PayloadValidationError("locationId", mismatch);
  }
  const locationId = m.locationId ?? client.ghlLocationId;
  return planGhlMessage(
    {
      eventType: "GHL_HISTORY_IMPORT",
      direction,
      locationId,
      messageId: m.messageId ?? m.id ?? null,
      contactId: m.contactId,
      body: m.body,
      dateAdded: m.dateAdded,
      from: m.from ?? (direction === "INBOUND" ? m.phone : null),
      to: m.to ?? (direction === "OUTBOUND" ? m.phone : null),
    },
    null,
  );
}
