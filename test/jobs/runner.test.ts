// The job runner against a real PostgreSQL: built-in handler effects happen
// exactly once, failures retry with growing delays and end FAILED, unknown
// types fail at once, NOTIFY wakes a watching worker, and stopping hands
// unstarted jobs back without spending an attempt.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { countJobsByStatusAndAttempts, seedMessagesWithJobs } from "../../src/db/job-fixtures-sql.js";
import { openDb } from "../../src/db/client.js";
import { claimJobs, explainClaim, explainRecoveryAndCount, startJobs } from "../../src/db/jobs-sql.js";
import { drainJobs } from "../../src/jobs/runner.js";
import type { JobInfo } from "../../src/jobs/types.js";
import { useTestDb } from "../helpers/db.js";
import { createClient } from "../helpers/seed.js";

const db = await useTestDb(20);
let clientId: string;

beforeAll(async () => {
  clientId = (await createClient(db.prisma)).id;
});

/** Starts each test from an empty queue so counts belong to that test. */
async function resetJobs() {
  await db.prisma.backgroundJob.deleteMany({});
}

describe("built-in handlers", () => {
  it("drains inbound and scoring jobs once each: processedAt, one draft per message, lead counts and scores", async () => {
    await resetJobs();
    const prefix = `b-${randomUUID().slice(0, 8)}`;
    const seeded = await seedMessagesWithJobs(db.prisma, {
      clientId,
      prefix,
      messages: 300,
      leads: 10,
      types: ["EMAIL_INBOUND_POST_PROCESS", "LEAD_SCORING_POST_PROCESS"],
    });
    expect(seeded).toEqual({ messages: 300, jobs: 600 });

    const summary = await drainJobs(db, { concurrency: 8, batch: 50 });
    expect(summary.totals).toMatchObject({ claimed: 600, succeeded: 600, retried: 0, failed: 0, lost: 0 });
    expect(summary.stoppedBy).toBe("drained");
    expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([{ status: "SUCCEEDED", attempts: 1, n: 600 }]);

    const leads = await db.prisma.lead.findMany({ where: { clientId, email: { startsWith: `${prefix}-` } } });
    expect(leads).toHaveLength(10);
    // 300 messages round-robin over 10 leads: 30 each, counted once each.
    for (const lead of leads) {
      expect(lead.inboundCount).toBe(30);
      expect(lead.lastInboundAt).not.toBeNull();
    }
    expect(await db.prisma.message.count({ where: { clientId, emailBisonReplyId: { startsWith: `${prefix}:` }, processedAt: null } })).toBe(0);
    const drafts = await db.prisma.aIDraft.count({ where: { lead: { email: { startsWith: `${prefix}-` } } } });
    expect(drafts).toBe(300);

    // Running every job again (as after a crash between effect and success) changes nothing but the scores' timestamps.
    await db.prisma.backgroundJob.updateMany({ data: { status: "PENDING", attempts: 0 } });
    const before = leads.map((l) => [l.id, l.inboundCount]);
    await drainJobs(db, { concurrency: 8 });
    const after = await db.prisma.lead.findMany({ where: { id: { in: leads.map((l) => l.id) } } });
    expect(after.map((l) => [l.id, l.inboundCount]).sort()).toEqual(before.sort());
    // score = min(100, 10·30 inbound + 5·1 channel) = 100 for every lead; recomputed, never accumulated.
    expect(new Set(after.map((l) => l.score))).toEqual(new Set([100]));
    expect(await db.prisma.aIDraft.count({ where: { lead: { email: { startsWith: `${prefix}-` } } } })).toBe(300);
  });

  it("the claim scans the partial pending index", async () => {
    await resetJobs();
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: `i-${randomUUID().slice(0, 8)}`, messages: 3000, leads: 5, types: ["SMS_INBOUND_POST_PROCESS"] });
    // Mostly finished jobs, as in a long-lived queue.
    await db.prisma.$executeRaw`UPDATE "BackgroundJob" SET "status" = 'SUCCEEDED' WHERE "id" NOT IN (SELECT "id" FROM "BackgroundJob" ORDER BY "id" LIMIT 150)`;
    await db.prisma.$executeRaw`ANALYZE "BackgroundJob"`;
    const plan = await explainClaim(db.prisma, 100, ["SMS_INBOUND_POST_PROCESS"]);
    // The CTE that picks due jobs: an ordered scan of the partial index, no sort, no sequential scan.
    const lines = plan.split("\n");
    const from = lines.findIndex((l) => l.startsWith("  CTE due"));
    const to = lines.findIndex((l, i) => i > from && /^ {2}\S/.test(l));
    const pick = lines.slice(from, to).join("\n");
    expect(pick).toContain('Index Scan using "BackgroundJob_pending_runAt_id_idx"');
    expect(pick).not.toMatch(/Seq Scan|Sort/);
  });
});

describe("indexes (migration 20261129100000_job_hot_updates)", () => {
  it("recovery and the open-job count read the partial indexes, never the finished jobs", async () => {
    await resetJobs();
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: `r-${randomUUID().slice(0, 8)}`, messages: 3000, leads: 5, types: ["SMS_INBOUND_POST_PROCESS"] });
    await db.prisma.$executeRaw`UPDATE "BackgroundJob" SET "status" = 'SUCCEEDED' WHERE "id" NOT IN (SELECT "id" FROM "BackgroundJob" ORDER BY "id" LIMIT 150)`;
    await db.prisma.$executeRaw`UPDATE "BackgroundJob" SET "status" = 'RUNNING', "lockedBy" = 'w', "leaseExpiresAt" = now() WHERE "id" IN (SELECT "id" FROM "BackgroundJob" WHERE "status" = 'PENDING' LIMIT 50)`;
    await db.prisma.$executeRaw`ANALYZE "BackgroundJob"`;
    const { recovery, count } = await explainRecoveryAndCount(db.prisma, ["SMS_INBOUND_POST_PROCESS"]);
    expect(recovery).toMatch(/Index Scan using "BackgroundJob_running_lockedBy_idx"|Bitmap Index Scan on "BackgroundJob_running_lockedBy_idx"/);
    expect(recovery).not.toMatch(/Seq Scan on "BackgroundJob"/);
    expect(count).toMatch(/"BackgroundJob_running_lockedBy_idx"/);
    expect(count).toMatch(/"BackgroundJob_pending_runAt_id_idx"/);
    expect(count).not.toMatch(/Seq Scan on "BackgroundJob"/);
  });

  it("the start write is a HOT update (no index holds a column it changes)", async () => {
    // A fresh relation: the previous test's thousands of dead rows could fill
    // the pages while a concurrent (auto)analyze keeps them from being pruned,
    // and a full page cannot take a HOT update whatever the indexes.
    await db.prisma.$executeRaw`TRUNCATE "BackgroundJob"`;
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: `h-${randomUUID().slice(0, 8)}`, messages: 20, leads: 2, types: ["SMS_INBOUND_POST_PROCESS"] });
    const claimed = await claimJobs(db.prisma, "hot-worker", 5, ["SMS_INBOUND_POST_PROCESS"]);
    expect(claimed).toHaveLength(5);
    // One connection, so the transaction below holds every statement and its per-transaction counters.
    const one = openDb({ url: db.url, poolSize: 1 });
    try {
      await one.pool.query("BEGIN");
      const started = await startJobs(one.prisma, "hot-worker", claimed.map((c) => ({ id: c.id, attempts: c.attempts })), 60_000);
      expect(started.sort()).toEqual(claimed.map((c) => c.id).sort());
      const { rows } = await one.pool.query(`SELECT pg_stat_get_xact_tuples_updated('"BackgroundJob"'::regclass)::int AS "updated", pg_stat_get_xact_tuples_hot_updated('"BackgroundJob"'::regclass)::int AS "hot"`);
      expect(rows[0]).toEqual({ updated: 5, hot: 5 });
      await one.pool.query("ROLLBACK");
    } finally {
      await one.close();
    }
  });
});

describe("failures", () => {
  it("retries a throwing handler with growing delays, then FAILED with lastError at maxAttempts", async () => {
    await resetJobs();
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: `f-${randomUUID().slice(0, 8)}`, messages: 1, leads: 1, types: ["EMAIL_INBOUND_POST_PROCESS"], maxAttempts: 4 });
    const starts: number[] = [];
    const stop = new AbortController();
    const summary = await drainJobs(db, {
      mode: "watch",
      pollIntervalMs: 60_000,
      backoff: { baseMs: 100, maxMs: 10_000 },
      signal: stop.signal,
      handlers: {
        EMAIL_INBOUND_POST_PROCESS: async (job: JobInfo) => {
          starts.push(performance.now());
          // Stop the watcher once the last attempt's outcome has been written.
          if (job.attempts === job.maxAttempts) setTimeout(() => stop.abort(), 150);
          throw new Error(`boom on attempt ${job.attempts}`);
        },
      },
    });
    expect(starts).toHaveLength(4);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    // Nominal delays 100, 200, 400 ms (±25%): each at least its lower bound and longer than the previous.
    expect(gaps[0]).toBeGreaterThanOrEqual(75);
    expect(gaps[1]).toBeGreaterThan(gaps[0]!);
    expect(gaps[2]).toBeGreaterThan(gaps[1]!);
    expect(summary.totals).toMatchObject({ claimed: 4, retried: 3, failed: 1, succeeded: 0 });
    const job = await db.prisma.backgroundJob.findFirstOrThrow({});
    expect(job).toMatchObject({ status: "FAILED", attempts: 4, lastError: "boom on attempt 4" });
    expect(job.finishedAt).not.toBeNull();
  });

  it("a type without a handler fails at once with a clear lastError instead of looping", async () => {
    await resetJobs();
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: `u-${randomUUID().slice(0, 8)}`, messages: 3, leads: 1, types: ["INSTANTLY_INBOUND_POST_PROCESS"] });
    const summary = await drainJobs(db, { builtins: false, handlers: {} });
    expect(summary.totals).toMatchObject({ claimed: 3, failed: 3, retried: 0 });
    const jobs = await db.prisma.backgroundJob.findMany({});
    expect(jobs.map((j) => [j.status, j.attempts, j.lastError])).toEqual(
      Array(3).fill(["FAILED", 1, "no handler for type INSTANTLY_INBOUND_POST_PROCESS: export a handler named INSTANTLY_INBOUND_POST_PROCESS from the --handlers module, or leave the built-in handlers on"]),
    );
  });
});

describe("watch mode", () => {
  it("a job enqueued while watching starts within a fraction of the poll interval (LISTEN/NOTIFY)", async () => {
    await resetJobs();
    const stop = new AbortController();
    let startedAt = 0;
    const draining = drainJobs(db, {
      mode: "watch",
      pollIntervalMs: 60_000,
      signal: stop.signal,
      handlers: {
        LINKEDIN_INBOUND_POST_PROCESS: () => {
          startedAt = performance.now();
          stop.abort();
        },
      },
    });
    await new Promise((r) => setTimeout(r, 300));
    const enqueuedAt = performance.now();
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: `w-${randomUUID().slice(0, 8)}`, messages: 1, leads: 1, types: ["LINKEDIN_INBOUND_POST_PROCESS"] });
    const summary = await draining;
    expect(summary.totals.succeeded).toBe(1);
    expect(startedAt - enqueuedAt).toBeLessThan(2_000);
  });
});

describe("stopping", () => {
  it("on abort, in-flight jobs finish and unstarted claimed jobs return to PENDING with attempts unchanged", async () => {
    await resetJobs();
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: `s-${randomUUID().slice(0, 8)}`, messages: 40, leads: 4, types: ["SMARTLEAD_INBOUND_POST_PROCESS"] });
    const stop = new AbortController();
    const started = new Set<string>();
    const summary = await drainJobs(db, {
      concurrency: 3,
      batch: 20,
      signal: stop.signal,
      handlers: {
        SMARTLEAD_INBOUND_POST_PROCESS: async (job, ctx) => {
          started.add(job.id);
          if (started.size === 5) stop.abort();
          await new Promise((r) => setTimeout(r, 100));
          await ctx.runBuiltin();
        },
      },
    });
    expect(summary.stoppedBy).toBe("signal");
    const jobs = await db.prisma.backgroundJob.findMany({});
    const succeeded = jobs.filter((j) => j.status === "SUCCEEDED");
    const pending = jobs.filter((j) => j.status === "PENDING");
    expect(succeeded.map((j) => j.id).sort()).toEqual([...started].sort());
    expect(succeeded.length + pending.length).toBe(40);
    expect(pending.every((j) => j.attempts === 0 && j.lockedBy === null)).toBe(true);
    expect(summary.totals.released).toBeGreaterThan(0);
    expect(summary.totals.claimed).toBe(summary.totals.succeeded + summary.totals.released);
  });

  it("a time budget stops claiming early and hands the rest back", async () => {
    await resetJobs();
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: `t-${randomUUID().slice(0, 8)}`, messages: 200, leads: 4, types: ["SMS_INBOUND_POST_PROCESS"] });
    const began = performance.now();
    const summary = await drainJobs(db, {
      concurrency: 2,
      timeBudgetMs: 800,
      handlers: { SMS_INBOUND_POST_PROCESS: () => new Promise((r) => setTimeout(r, 50)) },
    });
    const elapsed = performance.now() - began;
    expect(summary.stoppedBy).toBe("time-budget");
    // Without the budget this drain takes ~5 s (200 jobs x 50 ms / 2); the
    // bound is loose so a busy machine cannot fail it, yet far below 5 s.
    expect(elapsed).toBeLessThan(2_500);
    expect(summary.totals.succeeded).toBeGreaterThan(5);
    const rows = await countJobsByStatusAndAttempts(db.prisma);
    expect(rows.filter((r) => r.status === "RUNNING")).toEqual([]);
    expect(rows.find((r) => r.status === "PENDING")).toMatchObject({ attempts: 0 });
  });
});
