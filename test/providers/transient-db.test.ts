// Issue 12 items 6 and 7: transient database states answer 503 with
// Retry-After, never 500. Real PostgreSQL states, made deterministic: a
// table lock holds the receiver's statement in flight, then its backend is
// terminated (57P01, as in a fast restart) or its statement_timeout trips (57014).
import { randomUUID } from "node:crypto";
import net from "node:net";
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

/**
 * A TCP relay to the test database that can go silent: frozen, it swallows
 * what the server sends, as a partition without RST or a SIGSTOPped server
 * does. No server-side statement_timeout can help then (its error never
 * arrives); only the client's own timer ends the wait.
 */
async function startFreezableRelay(target: URL): Promise<{ url(params?: string): string; freeze(on: boolean): void; close(): Promise<void> }> {
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk) => void (frozen || client.write(chunk)));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url(params = "") {
      const u = new URL(target.href);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return `${u.href}${params ? `${u.search ? "&" : "?"}${params}` : ""}`;
    },
    freeze(on) {
      frozen = on;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("a database that stops answering (partition, SIGSTOP) → 503 from the client's own timer", () => {
  // Direct: statement_timeout 300 ms cannot arrive; the client gives up 1 s
  // later. Through a pooler (pgbouncer=true) there is no statement_timeout
  // at all: the client timer, 300 ms, is the only bound.
  it.each([
    ["direct", ""],
    ["through a transaction pooler", "pgbouncer=true"],
  ])("%s", async (_, params) => {
    const relay = await startFreezableRelay(new URL(db.database.url));
    const stalled = openDb({ url: relay.url(params), poolSize: 2, statementTimeoutMs: 300 });
    try {
      const handler = createWebhookHandler({ db: stalled.prisma, clientCacheTtlMs: 0 });
      const warm = await handler(freshDelivery());
      expect(warm.status).toBe(200);
      relay.freeze(true);
      const started = performance.now();
      const response = await handler(freshDelivery());
      const waitedMs = performance.now() - started;
      expect(response.status, JSON.stringify(await readJson(response))).toBe(503);
      expect(response.headers.get("retry-after")).toMatch(/^\d+$/);
      // Bounded by the timer, not by a provider's patience (the probe saw 20 s).
      expect(waitedMs).toBeLessThan(10_000);
      // Positive control: with the network back, the same handler accepts.
      relay.freeze(false);
      let after = await handler(freshDelivery());
      // A connection the timer gave up on may be discarded on its next use: one retry, as a provider would.
      if (after.status === 503) after = await handler(freshDelivery());
      expect(after.status).toBe(200);
    } finally {
      relay.freeze(false);
      await stalled.close();
      await relay.close();
    }
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
