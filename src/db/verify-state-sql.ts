// What the harness reads (and, for the crash-window step, removes) to judge
// state rather than counts: the leads carrying one identity, every job of a
// case's messages with its row version, all in one REPEATABLE READ snapshot
// so that counts and rows of one verdict cannot disagree. Identifiers come
// from the schema mapping, quoted; values are bound parameters.
import { Prisma } from "../generated/prisma/client.js";
import type { Db } from "./client.js";
import { normalisedStatus, quoteIdent, quoteTable, type ReceiverSchema } from "./verify-mapping-sql.js";

const col = (alias: string, name: string) => Prisma.raw(`${alias}.${quoteIdent(name)}`);

/**
 * Runs `read` inside one REPEATABLE READ, read-only transaction: every
 * statement sees the same committed state. Statements run one after the
 * other (one connection).
 */
export async function readInSnapshot<T>(db: Db, read: (tx: Db) => Promise<T>): Promise<T> {
  return db.$transaction(async (tx) => read(tx as unknown as Db), {
    isolationLevel: Prisma.TransactionIsolationLevel.RepeatableRead,
    // A busy receiver can hold the pool: waiting for a connection is not the snapshot's fault.
    maxWait: 30_000,
    timeout: 60_000,
  });
}

/** Ids of the client's leads whose `column` holds this identity (one person must be one lead per client; other clients may know them too). */
export async function listMappedLeadIds(db: Db, schema: ReceiverSchema, column: string, value: string, clientId: string): Promise<string[]> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT ${col("l", schema.leads.id)}::text AS "id" FROM ${quoteTable(schema.leads.table)} l
    WHERE ${col("l", column)}::text = ${value} AND ${col("l", schema.leads.clientId)}::text = ${clientId} ORDER BY 1`;
  return rows.map((r) => r.id);
}

/** One job's state at one instant; `version` is the row's xmin, which every UPDATE changes. */
export interface JobState {
  id: string;
  type: string;
  dedupeKey: string;
  messageId: string;
  status: string;
  attempts: number | null;
  runAt: string | null;
  lockedBy: string | null;
  version: string;
}

/** Every job of these messages with its state and row version. */
export async function listMappedJobStates(db: Db, schema: ReceiverSchema, messageIds: readonly string[]): Promise<JobState[]> {
  const j = schema.jobs;
  if (!j || messageIds.length === 0) return [];
  const optional = (name: string | undefined, cast: Prisma.Sql) => (name ? Prisma.sql`${col("j", name)}${cast}` : Prisma.sql`NULL${cast}`);
  return db.$queryRaw<JobState[]>`
    SELECT ${col("j", j.id)}::text AS "id", ${col("j", j.type)}::text AS "type",
           ${j.dedupeKey ? col("j", j.dedupeKey) : col("j", j.id)}::text AS "dedupeKey",
           ${col("j", j.messageId)}::text AS "messageId", ${normalisedStatus(j)} AS "status",
           ${optional(j.attempts, Prisma.raw("::int"))} AS "attempts",
           ${optional(j.runAt, Prisma.raw("::text"))} AS "runAt",
           ${optional(j.lockedBy, Prisma.raw("::text"))} AS "lockedBy",
           j.xmin::text AS "version"
    FROM ${quoteTable(j.table)} j WHERE ${col("j", j.messageId)}::text = ANY(${messageIds as string[]}::text[])
    ORDER BY 1`;
}

/**
 * The message row's xmin: the transaction that wrote it. When its jobs carry
 * the same xmin, they were committed with it in one transaction, and no crash
 * can leave the message without them.
 */
export async function readMappedMessageVersion(db: Db, schema: ReceiverSchema, messageId: string): Promise<string | undefined> {
  const m = schema.messages;
  const rows = await db.$queryRaw<{ version: string }[]>`
    SELECT m.xmin::text AS "version" FROM ${quoteTable(m.table)} m WHERE ${col("m", m.id)}::text = ${messageId}`;
  return rows[0]?.version;
}

/**
 * Deletes the jobs of these messages (the crash-window step: the state a
 * receiver is left in when it dies between storing a message and enqueueing
 * its jobs). Only ever called with message ids this run created.
 */
export async function deleteMappedJobs(db: Db, schema: ReceiverSchema, messageIds: readonly string[]): Promise<number> {
  const j = schema.jobs;
  if (!j || messageIds.length === 0) return 0;
  return db.$executeRaw`DELETE FROM ${quoteTable(j.table)} j WHERE ${col("j", j.messageId)}::text = ANY(${messageIds as string[]}::text[])`;
}
