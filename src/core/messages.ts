// Idempotent Message insert behind one interface, three strategies:
//
//   on-conflict        INSERT ... ON CONFLICT DO NOTHING RETURNING, falling
//                      back to a read of the existing row in the same
//                      statement. No exception, one round trip.
//   catch-p2002        Prisma create, catch the unique violation on *this*
//                      key, then read the existing row (the seed
//                      application's pattern). Two round trips on a duplicate
//                      and a logged ERROR in PostgreSQL for each one.
//   check-then-create  findUnique, then create. Racy: kept only as the
//                      harness's negative control. Never the default.
//
// The default is on-conflict, chosen by measurement (bench/ingest, see
// bench/README.md; 2 cores, PostgreSQL 18, concurrency 50): new messages
// 2880/s vs 1093/s for catch-p2002, duplicates 5246/s vs 158/s. Duplicates
// are the common case under provider retries, and there on-conflict needs one
// statement where catch-p2002 pays a failed INSERT, a thrown error and a
// SELECT.
import type { Db } from "../db/client.js";
import { insertMessageOnConflict, retryOnSnapshotMiss, type MessageRow } from "../db/sql.js";
import { isPrismaUniqueConstraintError } from "./prisma-errors.js";
import { messageUniqueIndexName, type MessageUniqueKey } from "./unique-keys.js";

export const CONFLICT_STRATEGIES = ["on-conflict", "catch-p2002", "check-then-create"] as const;
export type ConflictStrategy = (typeof CONFLICT_STRATEGIES)[number];
export const DEFAULT_CONFLICT_STRATEGY: ConflictStrategy = "on-conflict";

export type NewMessage = MessageRow & { leadId: string };

export interface InsertMessageResult {
  messageId: string;
  deduped: boolean;
}

export async function insertMessage(db: Db, message: NewMessage, strategy: ConflictStrategy = DEFAULT_CONFLICT_STRATEGY): Promise<InsertMessageResult> {
  switch (strategy) {
    case "on-conflict":
      return insertWithOnConflict(db, message);
    case "catch-p2002":
      return insertCatchingP2002(db, message);
    case "check-then-create":
      return insertCheckThenCreate(db, message);
  }
}

async function insertWithOnConflict(db: Db, message: NewMessage): Promise<InsertMessageResult> {
  const row = await retryOnSnapshotMiss(() => insertMessageOnConflict(db, message), `message ${message.key}=${message.value}`);
  return { messageId: row.id, deduped: row.deduped };
}

function toCreateData(message: NewMessage) {
  return {
    clientId: message.clientId,
    leadId: message.leadId,
    provider: message.provider,
    channel: message.channel,
    direction: message.direction,
    subject: message.subject,
    body: message.body,
    sentAt: message.sentAt,
    [message.key]: message.value,
  };
}

function whereKey(key: MessageUniqueKey, value: string) {
  return { [key]: value } as unknown as { id: string };
}

async function insertCatchingP2002(db: Db, message: NewMessage): Promise<InsertMessageResult> {
  try {
    const created = await db.message.create({ data: toCreateData(message), select: { id: true } });
    return { messageId: created.id, deduped: false };
  } catch (error) {
    // Only a violation of *this* key means "already delivered"; any other
    // unique violation is a real error and must surface.
    if (!isPrismaUniqueConstraintError(error, { index: messageUniqueIndexName(message.key), field: message.key })) throw error;
    const existing = await db.message.findUnique({ where: whereKey(message.key, message.value), select: { id: true } });
    if (!existing) throw error;
    return { messageId: existing.id, deduped: true };
  }
}

/** The racy pattern. Two concurrent calls can both miss, then one create throws P2002. */
async function insertCheckThenCreate(db: Db, message: NewMessage): Promise<InsertMessageResult> {
  const existing = await db.message.findUnique({ where: whereKey(message.key, message.value), select: { id: true } });
  if (existing) return { messageId: existing.id, deduped: true };
  const created = await db.message.create({ data: toCreateData(message), select: { id: true } });
  return { messageId: created.id, deduped: false };
}
