// Issue 12 items 6 and 7: transient database states answer 503 with
// Retry-After, never 500. Real PostgreSQL states, made deterministic: a
// table lock holds the receiver's statement in flight, then its backend is
// terminated (57P01, as in a fast restart) or its statement_timeout trips (57014).
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPrismaConnectionError, isTransientDbError } from "../../src/core/prisma-errors.js";
import { openDb, type DbHandle } from "../../src/db/client.js";
import { createWebhookHandler, type HandlerEvent } from "../../src/providers/router.js";
import { useTestDb } from "../helpers/db.js";
import { buildRequest, loadFixture, readJson, seedFixtureClients } from "./support.js";

const db = await useTestDb(4);
const fixture = loadFixture("instantly/reply_received.json");
let bounded: DbHandle;

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
  bounded = openDb({ url: db.database.url, poolSize: 2, statementTimeoutMs: 300 });
});
afterAll(async () => {
  await bounded?.close();
});

function freshDelivery(): Request {
  return buildRequest(fixture, { rawBody: JSON.stringify({ ...(fixture.body as object), email_id: `transient-${randomUUID()}` }) });
}

/**
 * Holds an ACCESS EXCLUSIVE lock on `table` while `run` sends a request,
 * and hands `onBlocked` the pid of the backend that waits for it.
 */
async function withTableLocked<T>(table: string, run: () => Promise<T>, onBlocked: (admin: pg.Client, pid: number) => Promise<void>): Promise<T> {
  const locker = new pg.Client({ connectionString: db.database.url });
  const admin = new pg.Client({ connectionString: db.database.url });
  await Promise.all([locker.connect(), admin.connect()]);
  try {
    await locker.query("BEGIN");
    await locker.query(`LOCK TABLE "${table}" IN ACCESS EXCLUSIVE MODE`);
    const pending = run();
    let pid: number | undefined;
    while (pid === undefined) {
      const { rows } = await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid NOT IN ($1, $2)`,
        [(locker as unknown as { processID: number }).processID, (admin as unknown as { processID: number }).processID],
      );
      pid = rows[0]?.pid;
      if (pid === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    await onBlocked(admin, pid);
    return await pending;
  } finally {
    await locker.query("ROLLBACK").catch(() => undefined);
    await Promise.all([locker.end(), admin.end()]);
  }
}

const terminate = async (admin: pg.Client, pid: number) => void (await admin.query("SELECT pg_terminate_backend($1)", [pid]));
const waitForTimeout = async () => undefined;

async function expect503(handlerDb: DbHandle, table: string, onBlocked: (admin: pg.Client, pid: number) => Promise<void>) {
  const events: HandlerEvent[] = [];
  // No client cache: every delivery's client lookup goes through Prisma.
  const handler = createWebhookHandler({ db: handlerDb.prisma, clientCacheTtlMs: 0, onEvent: (e) => events.push(e) });
  if (table === "Message") await handler(freshDelivery()); // resolve once so the pool is warm
  const response = await withTableLocked(table, () => handler(freshDelivery()), onBlocked);
  const body = await readJson(response);
  expect(response.status, `${JSON.stringify(body)} ${JSON.stringify(events)}`).toBe(503);
  expect(response.headers.get("retry-after")).toMatch(/^\d+$/);
  expect(events.filter((e) => e.status === 500)).toEqual([]);
  // Positive control: with the database back, the same handler accepts.
  const after = await handler(freshDelivery());
  expect(after.status).toBe(200);
}

describe("a backend terminated mid-statement (57P01, as in a restart) → 503", () => {
  it("through Prisma (the client lookup)", async () => {
    await expect503(db, "Client", terminate);
  });
  it("through the hot ingest statement (raw pg)", async () => {
    await expect503(db, "Message", terminate);
  });
});

describe("statement timeout (a stalled database) → 503", () => {
  it("through Prisma (the client lookup)", async () => {
    await expect503(bounded, "Client", waitForTimeout);
  });
  it("through the hot ingest statement (raw pg)", async () => {
    await expect503(bounded, "Message", waitForTimeout);
  });
});

describe("classification of errors as they arrive through Prisma's driver adapter", () => {
  const viaAdapter = (originalCode: string) => ({
    name: "PrismaClientKnownRequestError",
    code: "P2010",
    message: "Raw query failed.",
    meta: { driverAdapterError: { cause: { kind: "postgres", originalCode, code: originalCode } } },
  });
  it.each(["57P01", "57P02", "57P03", "08006", "53300", "53100"])("%s is a connection error", (code) => {
    expect(isPrismaConnectionError(viaAdapter(code))).toBe(true);
  });
  it.each(["57014", "40001", "40P01", "55P03", "25006"])("%s is transient", (code) => {
    expect(isTransientDbError(viaAdapter(code))).toBe(true);
  });
  it.each(["23505", "22P02", "42P01", "54000"])("%s is not", (code) => {
    expect(isTransientDbError(viaAdapter(code))).toBe(false);
  });
});
