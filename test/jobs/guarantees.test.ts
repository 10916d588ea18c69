// The runner's guarantees under the situations an operator meets: workers
// with different leases side by side, a worker that re-claims a job it still
// holds, --once next to another worker's recovery, a handler that never
// settles, a handler error PostgreSQL cannot store, and a database that is
// shutting down or starting up. A recording handler logs each execution's
// start and end, so "never twice at once" is checked, not assumed.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client.js";
import { countJobsByStatusAndAttempts, seedMessagesWithJobs } from "../../src/db/job-fixtures-sql.js";
import { drainJobs } from "../../src/jobs/runner.js";
import type { JobHandler } from "../../src/jobs/types.js";
import { useTestDb } from "../helpers/db.js";
import { createClient } from "../helpers/seed.js";

const db = await useTestDb(30);
const TYPE = "EMAIL_INBOUND_POST_PROCESS" as const;
let clientId: string;

beforeAll(async () => {
  clientId = (await createClient(db.prisma)).id;
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function seed(messages: number, maxAttempts = 5) {
  await db.prisma.backgroundJob.deleteMany({});
  await seedMessagesWithJobs(db.prisma, { clientId, prefix: `g-${randomUUID().slice(0, 8)}`, messages, leads: 1, types: [TYPE], maxAttempts });
}

interface Execution {
  id: string;
  attempt: number;
  worker: string;
  start: number;
  end?: number;
}

/** Wraps a handler so every execution's start and end are logged. */
function recording(log: Execution[], inner: JobHandler): JobHandler {
  return async (job, ctx) => {
    const entry: Execution = { id: job.id, attempt: job.attempts, worker: ctx.workerId, start: performance.now() };
    log.push(entry);
    try {
      await inner(job, ctx);
    } finally {
      entry.end = performance.now();
    }
  };
}

/** Pairs of executions of one job whose [start, end] intervals overlap (an unfinished one runs to +infinity). */
function findOverlaps(log: Execution[]): Array<[Execution, Execution]> {
  const overlaps: Array<[Execution, Execution]> = [];
  for (let i = 0; i < log.length; i++) {
    for (let j = i + 1; j < log.length; j++) {
      const a = log[i]!;
      const b = log[j]!;
      if (a.id !== b.id) continue;
      if (a.start < (b.end ?? Infinity) && b.start < (a.end ?? Infinity)) overlaps.push([a, b]);
    }
  }
  return overlaps;
}

describe("the overlap check itself", () => {
  it("flags overlapping executions of one job and accepts back-to-back ones (controls)", () => {
    expect(findOverlaps([{ id: "a", attempt: 1, worker: "w", start: 0, end: 10 }, { id: "a", attempt: 2, worker: "v", start: 5, end: 20 }])).toHaveLength(1);
    expect(findOverlaps([{ id: "a", attempt: 1, worker: "w", start: 0 }, { id: "a", attempt: 2, worker: "v", start: 50, end: 60 }])).toHaveLength(1);
    expect(findOverlaps([{ id: "a", attempt: 1, worker: "w", start: 0, end: 10 }, { id: "a", attempt: 2, worker: "v", start: 10, end: 20 }])).toEqual([]);
    expect(findOverlaps([{ id: "a", attempt: 1, worker: "w", start: 0, end: 10 }, { id: "b", attempt: 1, worker: "v", start: 5, end: 20 }])).toEqual([]);
  });
});

describe("1. workers with different --lease", () => {
  it("a short-lease worker never recovers a long-lease worker's live job: each of 20 jobs runs once", async () => {
    await seed(20);
    const log: Execution[] = [];
    // The long-lease worker's handlers outlast the short lease many times over.
    const handler = recording(log, () => sleep(1_200));
    const long = drainJobs(db, { workerId: "long", leaseMs: 60_000, concurrency: 20, batch: 20, handlers: { [TYPE]: handler } });
    await sleep(100);
    // A watching worker with a short lease, as a cron worker beside a watch worker.
    const stop = new AbortController();
    const short = drainJobs(db, { workerId: "short", mode: "watch", pollIntervalMs: 50, leaseMs: 300, concurrency: 20, batch: 20, signal: stop.signal, handlers: { [TYPE]: handler } });
    const a = await long;
    // Give the short-lease worker time to finish anything it took over, then stop it.
    await sleep(1_500);
    stop.abort();
    const b = await short;
    expect(findOverlaps(log)).toEqual([]);
    expect(a.totals.succeeded + b.totals.succeeded).toBe(20);
    expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([{ status: "SUCCEEDED", attempts: 1, n: 20 }]);
  });
});

describe("4. a handler error PostgreSQL cannot store", () => {
  it("an error message with U+0000 is stored sanitised; the run and later runs go on", async () => {
    await seed(3, 1);
    const summary = await drainJobs(db, {
      handlers: {
        [TYPE]: (job) => {
          throw new Error(`bad\u0000byte in ${job.id}`);
        },
      },
    });
    expect(summary.totals).toMatchObject({ claimed: 3, failed: 3 });
    const jobs = await db.prisma.backgroundJob.findMany({});
    for (const job of jobs) {
      expect(job.status).toBe("FAILED");
      expect(job.lastError).toBe(`bad\\u0000byte in ${job.id}`);
    }
    // The queue is not poisoned: the next run works.
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: `n-${randomUUID().slice(0, 8)}`, messages: 2, leads: 1, types: [TYPE] });
    expect((await drainJobs(db, {})).totals).toMatchObject({ claimed: 2, succeeded: 2 });
  });
});

describe("5. a worker re-claims a job it still holds", () => {
  it("the new attempt waits for the old execution to settle; no crash, never twice at once", async () => {
    await seed(1);
    const log: Execution[] = [];
    const stop = new AbortController();
    const summary = await drainJobs(db, {
      workerId: "w5",
      mode: "watch",
      pollIntervalMs: 20,
      concurrency: 2,
      signal: stop.signal,
      handlers: {
        [TYPE]: recording(log, async (job) => {
          if (job.attempts > 1) {
            setTimeout(() => stop.abort(), 200);
            return;
          }
          // As when this worker's event loop was blocked past its lease:
          // the job goes back to PENDING behind its back ...
          await db.prisma.$executeRaw`UPDATE "BackgroundJob" SET "status" = 'PENDING', "lockedBy" = NULL WHERE "id" = ${job.id}::uuid`;
          // ... and this same worker claims it again while this run goes on.
          for (let i = 0; i < 200; i++) {
            const row = await db.prisma.backgroundJob.findUniqueOrThrow({ where: { id: job.id } });
            if (row.status === "RUNNING" && row.attempts === 2) break;
            await sleep(10);
          }
          await sleep(300);
        }),
      },
    });
    expect(log.map((e) => e.attempt)).toEqual([1, 2]);
    expect(findOverlaps(log)).toEqual([]);
    expect(summary.totals).toMatchObject({ claimed: 2, succeeded: 1, lost: 1 });
    expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([{ status: "SUCCEEDED", attempts: 2, n: 1 }]);
  });
});

describe("6. --once re-checks after recovery", () => {
  it("a job another worker's recovery returns to PENDING while this drain runs is drained, not left behind", async () => {
    await seed(2);
    const [a, b] = await db.prisma.backgroundJob.findMany({ orderBy: { id: "asc" } });
    // b is held by a worker that will be found dead while a runs.
    await db.prisma.$executeRaw`UPDATE "BackgroundJob" SET "status" = 'RUNNING', "lockedBy" = 'ghost', "lockedAt" = now(), "attempts" = 1 WHERE "id" = ${b!.id}::uuid`;
    const ran: string[] = [];
    const summary = await drainJobs(db, {
      concurrency: 1,
      handlers: {
        [TYPE]: async (job) => {
          ran.push(job.id);
          if (job.id !== a!.id) return;
          await sleep(300);
          // Another worker's recovery (ghost's lease expired) hands b back.
          await db.prisma.$executeRaw`UPDATE "BackgroundJob" SET "status" = 'PENDING', "lockedBy" = NULL WHERE "id" = ${b!.id}::uuid`;
        },
      },
    });
    expect(summary.stoppedBy).toBe("drained");
    expect(ran).toEqual([a!.id, b!.id]);
    expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([
      { status: "SUCCEEDED", attempts: 1, n: 1 },
      { status: "SUCCEEDED", attempts: 2, n: 1 },
    ]);
  });
});

describe("6b. --once and outcomes written after a start's confirmation", () => {
  // A handler runs once its start write is sent; its outcome is written once
  // the start is confirmed. A trigger holds every start write 300 ms, so the
  // failing handler's outcome is still unwritten when the slots run dry: the
  // re-check must wait for it, or --once ends with the retry never run.
  it("a failure whose start is confirmed late is still retried within the same run", async () => {
    // Three attempts: the re-check has to wait for a late confirmation twice.
    await seed(1, 3);
    await db.prisma.$executeRawUnsafe(`
      CREATE FUNCTION slow_start_6b() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$`);
    await db.prisma.$executeRawUnsafe(`
      CREATE TRIGGER slow_start_6b BEFORE UPDATE ON "BackgroundJob" FOR EACH ROW
      WHEN (OLD."startedAt" IS NULL AND NEW."startedAt" IS NOT NULL) EXECUTE FUNCTION slow_start_6b()`);
    try {
      const summary = await drainJobs(db, {
        backoff: { baseMs: 0, maxMs: 0 },
        handlers: {
          [TYPE]: () => {
            throw new Error("fails every time");
          },
        },
      });
      expect(summary.totals).toMatchObject({ claimed: 3, retried: 2, failed: 1 });
      expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([{ status: "FAILED", attempts: 3, n: 1 }]);
    } finally {
      await db.prisma.$executeRawUnsafe(`DROP TRIGGER IF EXISTS slow_start_6b ON "BackgroundJob"`);
      await db.prisma.$executeRawUnsafe(`DROP FUNCTION IF EXISTS slow_start_6b()`);
    }
  });
});

describe("8. --job-timeout", () => {
  it("a handler that never settles fails its attempt after the timeout, its signal aborted; the run ends", async () => {
    await seed(2, 2);
    const aborted: string[] = [];
    // A retry due at once: --once drains what is due, and a 1 ms backoff
    // raced the re-check (a retry due 1 ms after the count was left for the next run).
    const summary = await drainJobs(db, {
      jobTimeoutMs: 200,
      backoff: { baseMs: 0, maxMs: 0 },
      handlers: {
        [TYPE]: (job, ctx) => {
          ctx.signal.addEventListener("abort", () => aborted.push(job.id));
          return new Promise<void>(() => undefined);
        },
      },
    });
    expect(summary.totals).toMatchObject({ claimed: 4, retried: 2, failed: 2 });
    expect(aborted).toHaveLength(4);
    const jobs = await db.prisma.backgroundJob.findMany({});
    for (const job of jobs) {
      expect(job).toMatchObject({ status: "FAILED", attempts: 2 });
      expect(job.lastError).toMatch(/did not settle within the job timeout \(200 ms\)/);
    }
  });

  it("positive control: a handler that settles in time succeeds under the same timeout", async () => {
    await seed(2, 2);
    const summary = await drainJobs(db, { jobTimeoutMs: 2_000, handlers: { [TYPE]: () => sleep(20) } });
    expect(summary.totals).toMatchObject({ claimed: 2, succeeded: 2, failed: 0 });
  });
});

describe("9. the database shutting down or starting up", () => {
  // A statement trigger that raises the SQLSTATE a restarting server sends,
  // the first few times the runner writes: the runner must retry, not stop.
  async function injectErrors(code: string, times: number) {
    // A sequence, not a table: nextval survives the rollback the raised error causes.
    await db.prisma.$executeRawUnsafe(`DROP SEQUENCE IF EXISTS "inject_seq"`);
    await db.prisma.$executeRawUnsafe(`CREATE SEQUENCE "inject_seq"`);
    await db.prisma.$executeRawUnsafe(`
      CREATE OR REPLACE FUNCTION "inject_error"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('inject_seq') <= ${times} THEN
          RAISE EXCEPTION 'injected' USING ERRCODE = '${code}';
        END IF;
        RETURN NULL;
      END $$`);
    await db.prisma.$executeRawUnsafe(`DROP TRIGGER IF EXISTS "inject_error" ON "BackgroundJob"`);
    await db.prisma.$executeRawUnsafe(`CREATE TRIGGER "inject_error" BEFORE UPDATE ON "BackgroundJob" FOR EACH STATEMENT EXECUTE FUNCTION "inject_error"()`);
  }

  const injectedSoFar = async () => Number((await db.prisma.$queryRawUnsafe<{ n: bigint }[]>(`SELECT last_value AS n FROM "inject_seq"`))[0]!.n);

  afterAll(async () => {
    await db.prisma.$executeRawUnsafe(`DROP TRIGGER IF EXISTS "inject_error" ON "BackgroundJob"`);
  });

  for (const code of ["57P01", "57P03"]) {
    it(`${code} on claims and outcome writes is retried; every job succeeds once`, async () => {
      await seed(30);
      await injectErrors(code, 3);
      const summary = await drainJobs(db, { batch: 10, handlers: { [TYPE]: () => undefined } });
      expect(summary.totals).toMatchObject({ claimed: 30, succeeded: 30 });
      expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([{ status: "SUCCEEDED", attempts: 1, n: 30 }]);
      // The errors really happened (and were retried past).
      expect(await injectedSoFar()).toBeGreaterThan(3);
    });
  }

  it("negative control: a non-transient error (22P02) is not retried and stops the run", async () => {
    await seed(5);
    await injectErrors("22P02", 1_000_000);
    await expect(drainJobs(db, { handlers: { [TYPE]: () => undefined } })).rejects.toThrow(/injected/);
    await db.prisma.$executeRawUnsafe(`DROP TRIGGER IF EXISTS "inject_error" ON "BackgroundJob"`);
  });

  it("a real restart of the runner's connections (pg_terminate_backend mid-drain) is survived", async () => {
    await seed(200);
    const runnerDb = openDb({ url: db.url, poolSize: 8, applicationName: "guarantees-runner" });
    try {
      let killed = false;
      const summary = await drainJobs(runnerDb, {
        batch: 20,
        concurrency: 4,
        handlers: {
          [TYPE]: async () => {
            if (killed) return;
            killed = true;
            await db.prisma.$queryRaw`SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE application_name = 'guarantees-runner'`;
          },
        },
      });
      expect(summary.totals.succeeded).toBe(200);
      expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([{ status: "SUCCEEDED", attempts: 1, n: 200 }]);
    } finally {
      await runnerDb.close();
    }
  });
});
