// The harness's reads of a receiver's database, generated from a schema
// mapping (dedupe.config's `schema`, or dedupe-cli's own tables by default).
// Identifiers come from the mapping and are always quoted (checked to exist
// in information_schema before the first delivery); values are always bound
// parameters. Ids are compared as text, so uuid, text and integer id columns
// all work and a bare provider id that is no uuid simply finds nothing.
import { Prisma } from "../generated/prisma/client.js";
import type { Db } from "./client.js";
import type { JobKeyCount, StoredMessage } from "./verify-sql.js";
import type { RunJobRow } from "./verify-run-sql.js";

export type LeadIdentityKind = "email" | "phone" | "ghlContactId" | "linkedinId";

/** The tables and columns the harness reads (the structural twin of dedupe.config's `schema`). */
export interface ReceiverSchema {
  messages: { table: string; id: string; leadId: string; clientId?: string };
  leads: { table: string; id: string; clientId: string; identity?: Partial<Record<LeadIdentityKind, string>> };
  clients: { table: string; id: string };
  drafts?: { table: string; messageId: string };
  jobs?: {
    table: string;
    id: string;
    type: string;
    messageId: string;
    dedupeKey?: string;
    status?: string;
    attempts?: string;
    lastError?: string;
    runAt?: string;
    lockedBy?: string;
    statusValues?: { pending: string[]; running: string[]; succeeded: string[]; failed: string[] };
  };
}

/** "name" → "name" quoted; `"` doubled, so no mapping value can leave the identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** "table" or "schema.table", each part quoted. */
export function quoteTable(name: string): Prisma.Sql {
  return Prisma.raw(name.split(".").map(quoteIdent).join("."));
}

const col = (alias: string, name: string) => Prisma.raw(`${alias}.${quoteIdent(name)}`);

/** Every message row carrying this stored id in `column`, with its client (its own column, or its lead's). */
export async function findMappedMessages(db: Db, schema: ReceiverSchema, column: string, value: string): Promise<StoredMessage[]> {
  const m = schema.messages;
  const l = schema.leads;
  const clientExpr = m.clientId ? col("m", m.clientId) : col("l", l.clientId);
  return db.$queryRaw<StoredMessage[]>`
    SELECT ${col("m", m.id)}::text AS "id", ${clientExpr}::text AS "clientId", ${col("m", m.leadId)}::text AS "leadId"
    FROM ${quoteTable(m.table)} m
    LEFT JOIN ${quoteTable(l.table)} l ON ${col("l", l.id)}::text = ${col("m", m.leadId)}::text
    WHERE ${col("m", column)}::text = ${value}
    ORDER BY ${col("m", m.id)}::text`;
}

/** Jobs of these messages grouped by dedupe key (a job without a key column counts under its own id). */
export async function countMappedJobs(db: Db, schema: ReceiverSchema, messageIds: readonly string[]): Promise<JobKeyCount[]> {
  const j = schema.jobs;
  if (!j || messageIds.length === 0) return [];
  const key = j.dedupeKey ? col("j", j.dedupeKey) : col("j", j.id);
  return db.$queryRaw<JobKeyCount[]>`
    SELECT ${key}::text AS "dedupeKey", ${col("j", j.type)}::text AS "type", count(*)::int AS "n"
    FROM ${quoteTable(j.table)} j WHERE ${col("j", j.messageId)}::text = ANY(${messageIds as string[]}::text[])
    GROUP BY 1, 2 ORDER BY 1`;
}

/** The app's status values folded onto PENDING/RUNNING/SUCCEEDED/FAILED (anything else stays as it is). */
export function normalisedStatus(j: NonNullable<ReceiverSchema["jobs"]>): Prisma.Sql {
  if (!j.status) return Prisma.sql`'SUCCEEDED'`;
  const v = j.statusValues ?? { pending: ["PENDING"], running: ["RUNNING"], succeeded: ["SUCCEEDED"], failed: ["FAILED"] };
  const s = col("j", j.status);
  return Prisma.sql`CASE WHEN ${s}::text = ANY(${v.pending}::text[]) THEN 'PENDING'
    WHEN ${s}::text = ANY(${v.running}::text[]) THEN 'RUNNING'
    WHEN ${s}::text = ANY(${v.succeeded}::text[]) THEN 'SUCCEEDED'
    WHEN ${s}::text = ANY(${v.failed}::text[]) THEN 'FAILED' ELSE ${s}::text END`;
}

/** Every job of these messages, with its status normalised (verify's drain stage). */
export async function listMappedJobs(db: Db, schema: ReceiverSchema, messageIds: readonly string[]): Promise<RunJobRow[]> {
  const j = schema.jobs;
  if (!j || messageIds.length === 0) return [];
  const attempts = j.attempts ? Prisma.sql`${col("j", j.attempts)}::int` : Prisma.sql`1`;
  const lastError = j.lastError ? Prisma.sql`${col("j", j.lastError)}::text` : Prisma.sql`NULL::text`;
  return db.$queryRaw<RunJobRow[]>`
    SELECT ${col("j", j.id)}::text AS "id", ${col("j", j.type)}::text AS "type", ${normalisedStatus(j)} AS "status",
           ${attempts} AS "attempts", ${col("j", j.messageId)}::text AS "messageId", ${lastError} AS "lastError"
    FROM ${quoteTable(j.table)} j WHERE ${col("j", j.messageId)}::text = ANY(${messageIds as string[]}::text[])
    ORDER BY ${col("j", j.id)}::text`;
}

/** Leads carrying this identity (one person must be one lead per client). */
export async function countMappedLeads(db: Db, schema: ReceiverSchema, column: string, value: string): Promise<number> {
  const rows = await db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS "n" FROM ${quoteTable(schema.leads.table)} l WHERE ${col("l", column)}::text = ${value}`;
  return rows[0]!.n;
}

/** Client ids whose `column` holds this value. */
export async function findMappedClients(db: Db, schema: ReceiverSchema, column: string, value: string): Promise<string[]> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT ${col("c", schema.clients.id)}::text AS "id" FROM ${quoteTable(schema.clients.table)} c WHERE ${col("c", column)}::text = ${value}`;
  return rows.map((r) => r.id);
}

/**
 * Client ids from the user's own SQL in their config ($1 = the payload's
 * workspace value, bound, never spliced); the first column of each row. The
 * text is the app owner's, like a query in their own code, hence "unsafe".
 */
export async function findClientsBySql(db: Db, sql: string, value: string): Promise<string[]> {
  const rows = await db.$queryRawUnsafe<Record<string, unknown>[]>(sql, value);
  return rows.map((r) => String(Object.values(r)[0]));
}

/** Rows a job derived from these messages (drafts). */
export async function countMappedDrafts(db: Db, schema: ReceiverSchema, messageIds: readonly string[]): Promise<number> {
  const d = schema.drafts;
  if (!d || messageIds.length === 0) return 0;
  const rows = await db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS "n" FROM ${quoteTable(d.table)} d WHERE ${col("d", d.messageId)}::text = ANY(${messageIds as string[]}::text[])`;
  return rows[0]!.n;
}

export interface MappedTotals {
  clients: number;
  leads: number;
  messages: number;
  aiDrafts: number;
  jobs: number;
}

/** Whole-table counts: only for what no case scope reaches (ignored events, warm-ups), under the harness lock. */
export async function countMappedTotals(db: Db, schema: ReceiverSchema): Promise<MappedTotals> {
  const count = (table: string | undefined) => (table ? Prisma.sql`(SELECT count(*)::int FROM ${quoteTable(table)})` : Prisma.sql`0`);
  const rows = await db.$queryRaw<MappedTotals[]>`
    SELECT ${count(schema.clients.table)} AS "clients", ${count(schema.leads.table)} AS "leads", ${count(schema.messages.table)} AS "messages",
           ${count(schema.drafts?.table)} AS "aiDrafts", ${count(schema.jobs?.table)} AS "jobs"`;
  return rows[0]!;
}
