// drain-jobs guarantees that need real processes: a shutdown timeout that
// must not hand back running jobs, SIGKILLed workers that must not burn
// attempts of jobs they never started, and a handler calling process.exit().
// Each execution is logged in "probe_runs" (test/cli/fixtures/
// drain-probe-handlers.mjs), so "never twice at once" and "an attempt is
// counted when a handler starts" are read from the database.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { seedMessagesWithJobs } from "../../src/db/job-fixtures-sql.js";
import { ROOT, spawnBin, type BinRun } from "../helpers/cli.js";
import { useTestDb } from "../helpers/db.js";
import { createClient } from "../helpers/seed.js";

const HANDLERS = path.join(ROOT, "test/cli/fixtures/drain-probe-handlers.mjs");
const db = await useTestDb(10);
// Worker processes on a loaded shared machine start slowly; time limits only, never assertions.
vi.setConfig({ testTimeout: 180_000 });
let clientId: string;

beforeAll(async () => {
  clientId = (await createClient(db.prisma)).id;
  await db.prisma.$executeRawUnsafe(`
    CREATE TABLE "probe_runs" ("run" serial PRIMARY KEY, "jobId" uuid NOT NULL, "attempt" int NOT NULL, "worker" text NOT NULL,
                               "startedAt" timestamptz NOT NULL, "endedAt" timestamptz)`);
});

function runCli(args: string[], env: Record<string, string> = {}): BinRun {
  return spawnBin(["drain-jobs", "--database-url", db.url, "--handlers", HANDLERS, ...args], { env: { DATABASE_URL: "", CI: "true", ...env } });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 90_000) {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function seed(messages: number, maxAttempts = 5) {
  await db.prisma.backgroundJob.deleteMany({});
  await db.prisma.$executeRawUnsafe(`TRUNCATE "probe_runs"`);
  await seedMessagesWithJobs(db.prisma, { clientId, prefix: `p-${randomUUID().slice(0, 8)}`, messages, leads: 1, types: ["EMAIL_INBOUND_POST_PROCESS"], maxAttempts });
}

const countRuns = async (where = "TRUE") => (await db.prisma.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM "probe_runs" WHERE ${where}`))[0]!.n;
const countUnfinished = async () =>
  (await db.prisma.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM "BackgroundJob" WHERE "status" IN ('PENDING', 'RUNNING')`))[0]!.n;
const countJobs = async (status: string) => db.prisma.backgroundJob.count({ where: { status: status as "PENDING" } });

/** A killed worker's executions end when it died: stamp them after it exited. */
async function closeRunsOf(worker: string) {
  await db.prisma.$executeRawUnsafe(`UPDATE "probe_runs" SET "endedAt" = clock_timestamp() WHERE "worker" = $1 AND "endedAt" IS NULL`, worker);
}

/** Pairs of executions of one job that overlapped in time. */
async function findOverlaps() {
  return db.prisma.$queryRawUnsafe<unknown[]>(`
    SELECT a."jobId", a."worker", b."worker" FROM "probe_runs" a JOIN "probe_runs" b ON a."jobId" = b."jobId" AND a."run" < b."run"
    WHERE tstzrange(a."startedAt", a."endedAt") && tstzrange(b."startedAt", b."endedAt")`);
}

describe("2. --shutdown-timeout", () => {
  it("past the timeout the worker exits without handing back running jobs; nobody runs them while they run", async () => {
    await seed(5);
    const w1 = runCli(["--watch", "--concurrency", "5", "--lease", "2s", "--shutdown-timeout", "500ms", "--worker-id", "w1"], { PROBE_SLEEP_MS: "4000" });
    await waitFor(async () => (await countRuns()) === 5);
    w1.child.kill("SIGTERM");
    const w2 = runCli(["--watch", "--poll-interval", "100ms", "--lease", "2s", "--worker-id", "w2"]);
    const r1 = await w1.done;
    // The process did not linger until its handlers finished (they sleep 4 s).
    expect(await countRuns(`"worker" = 'w1' AND "endedAt" IS NOT NULL`)).toBe(0);
    expect(r1.stderr).toMatch(/5 job\(s\) still running after the 500 ms shutdown timeout/);
    await closeRunsOf("w1");
    await waitFor(async () => (await countJobs("SUCCEEDED")) === 5);
    w2.child.kill("SIGTERM");
    expect((await w2.done).code).toBe(0);
    expect(await findOverlaps()).toEqual([]);
    // Each job ran in w1 (cut short) and then once in w2.
    expect(await countRuns(`"worker" = 'w2'`)).toBe(5);
  });
});

describe("3. crashes and attempts", () => {
  it("two SIGKILLs with maxAttempts=2 fail only jobs that started twice; attempts equal executions", async () => {
    await seed(100, 2);
    for (const worker of ["k1", "k2"]) {
      const before = await countRuns();
      const w = runCli(["--watch", "--poll-interval", "100ms", "--batch", "100", "--concurrency", "10", "--lease", "1s", "--worker-id", worker], { PROBE_SLEEP_MS: "60000" });
      await waitFor(async () => (await countRuns()) === before + 10);
      w.child.kill("SIGKILL");
      await w.done;
      await closeRunsOf(worker);
    }
    const finisher = runCli(["--watch", "--poll-interval", "100ms", "--lease", "1s", "--worker-id", "k3"]);
    // One statement: two separate counts can both read 0 while the finisher's
    // lease recovery moves the dead worker's RUNNING jobs back to PENDING
    // between them (seen once on a loaded CI machine: 0 SUCCEEDED).
    await waitFor(async () => (await countUnfinished()) === 0);
    finisher.child.kill("SIGTERM");
    const finished = await finisher.done;
    const rows = await db.prisma.$queryRawUnsafe<{ status: string; attempts: number; runs: number }[]>(`
      SELECT j."status"::text AS "status", j."attempts", (SELECT count(*)::int FROM "probe_runs" r WHERE r."jobId" = j."id") AS "runs"
      FROM "BackgroundJob" j`);
    expect(rows).toHaveLength(100);
    const mismatched = rows.filter((r) => r.attempts !== r.runs);
    expect(mismatched).toEqual([]);
    const failedUnrun = rows.filter((r) => r.status === "FAILED" && r.runs < 2);
    expect(failedUnrun).toEqual([]);
    expect(rows.filter((r) => r.status === "SUCCEEDED").length, finished.stderr).toBeGreaterThanOrEqual(80);
    expect(await findOverlaps()).toEqual([]);
  });
});

describe("3b. --start-ahead", () => {
  // A lease long enough not to lapse on a loaded machine: a lapsed lease is re-claimed, and that is another story (G 5).
  it("a crash charges at most n started-ahead jobs an attempt they did not use; the rest get theirs back", async () => {
    await seed(50);
    const w = runCli(["--watch", "--batch", "50", "--concurrency", "2", "--start-ahead", "5", "--lease", "10s", "--worker-id", "a1"], { PROBE_SLEEP_MS: "60000" });
    await waitFor(async () => (await countRuns()) === 2);
    // Let the start-ahead writes land, then crash.
    await new Promise((r) => setTimeout(r, 300));
    w.child.kill("SIGKILL");
    await w.done;
    await closeRunsOf("a1");
    const finisher = runCli(["--watch", "--poll-interval", "100ms", "--lease", "1s", "--worker-id", "a2"]);
    await waitFor(async () => (await countJobs("SUCCEEDED")) === 50);
    finisher.child.kill("SIGTERM");
    await finisher.done;
    const extra = await db.prisma.$queryRawUnsafe<{ id: string; extra: number }[]>(`
      SELECT j."id", j."attempts" - (SELECT count(*)::int FROM "probe_runs" r WHERE r."jobId" = j."id") AS "extra" FROM "BackgroundJob" j`);
    expect(extra.filter((e) => e.extra < 0 || e.extra > 1)).toEqual([]);
    expect(extra.reduce((n, e) => n + e.extra, 0)).toBeLessThanOrEqual(5);
    expect(await findOverlaps()).toEqual([]);
  });
});

describe("7. a handler calling process.exit()", () => {
  it("the claimed-but-unstarted jobs come back after --claim-lease; the started one keeps its full lease", async () => {
    await seed(50);
    const w1 = runCli(["--batch", "50", "--concurrency", "1", "--lease", "10m", "--claim-lease", "1s", "--worker-id", "x1"], { PROBE_EXIT: "1" });
    const r1 = await w1.done;
    expect(r1.stderr).toMatch(/process is exiting with 50 job\(s\) held/);
    const w2 = runCli(["--watch", "--poll-interval", "100ms", "--lease", "10m", "--claim-lease", "1s", "--worker-id", "x2"]);
    await waitFor(async () => (await countJobs("SUCCEEDED")) === 49);
    w2.child.kill("SIGTERM");
    expect((await w2.done).code).toBe(0);
    const running = await db.prisma.backgroundJob.findMany({ where: { status: "RUNNING" } });
    expect(running).toHaveLength(1);
    expect(running[0]).toMatchObject({ lockedBy: "x1", attempts: 1 });
    // Still leased for (about) the full 10 minutes: it started.
    const left = running[0]!.leaseExpiresAt!.getTime() - Date.now();
    expect(left).toBeGreaterThan(5 * 60_000);
    expect(await db.prisma.backgroundJob.count({ where: { status: "SUCCEEDED", attempts: 1 } })).toBe(49);
  });
});

describe("3c. a handler runs once its start write has left the process, not after its commit", () => {
  // A trigger holds every start write 800 ms before it commits; the handler
  // exits the process the moment it runs. The start must still be committed
  // (PostgreSQL ran what was sent), and it must have been committed after
  // the handler ran: the slot did not wait for it. A runner that ran the
  // handler before sending the start would leave the job unstarted, its
  // attempt given back (the mutation check of this test).
  it.each([
    ["2 (the default)", [] as string[], true],
    ["0: the handler waits for the commit", ["--start-connections", "0"], false],
  ])("process.exit() as the handler's first act, --start-connections %s: the job is still charged its attempt and holds the full lease", async (_label, flags, runsBeforeCommit) => {
    await seed(20);
    await db.prisma.$executeRawUnsafe(`CREATE TABLE "start_commits" ("jobId" uuid NOT NULL, "at" timestamptz NOT NULL)`);
    await db.prisma.$executeRawUnsafe(`
      CREATE FUNCTION slow_start() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_sleep(0.8);
        INSERT INTO "start_commits" VALUES (NEW."id", clock_timestamp());
        RETURN NEW;
      END $$`);
    await db.prisma.$executeRawUnsafe(`
      CREATE TRIGGER slow_start BEFORE UPDATE ON "BackgroundJob" FOR EACH ROW
      WHEN (OLD."startedAt" IS NULL AND NEW."startedAt" IS NOT NULL) EXECUTE FUNCTION slow_start()`);
    const marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-exit-")), "ran");
    try {
      const w = runCli(["--batch", "20", "--concurrency", "1", "--lease", "10m", "--claim-lease", "5s", "--worker-id", "e1", ...flags], { PROBE_EXIT_AT_ONCE: marker });
      await w.done;
      const [jobId, ranAt] = fs.readFileSync(marker, "utf8").split(" ");
      await waitFor(async () => (await db.prisma.$queryRawUnsafe<unknown[]>(`SELECT 1 FROM "start_commits" WHERE "jobId" = $1::uuid`, jobId)).length === 1, 10_000);
      const job = await db.prisma.backgroundJob.findUniqueOrThrow({ where: { id: jobId! } });
      expect(job).toMatchObject({ status: "RUNNING", lockedBy: "e1", attempts: 1 });
      expect(job.startedAt).not.toBeNull();
      expect(job.leaseExpiresAt!.getTime() - Date.now()).toBeGreaterThan(5 * 60_000);
      const committed = (await db.prisma.$queryRawUnsafe<{ at: Date }[]>(`SELECT "at" FROM "start_commits" WHERE "jobId" = $1::uuid`, jobId))[0]!.at;
      // Default: the handler ran (and the process died) while the start write
      // was still held by the trigger. With 0 start connections it ran only
      // after the commit (the control: the check can tell the two apart).
      if (runsBeforeCommit) expect(Number(ranAt)).toBeLessThan(committed.getTime());
      else expect(Number(ranAt)).toBeGreaterThanOrEqual(committed.getTime());
      // Nothing else started: the other 19 were only claimed, and come back with their attempts.
      expect(await db.prisma.backgroundJob.count({ where: { startedAt: { not: null } } })).toBe(1);
    } finally {
      await db.prisma.$executeRawUnsafe(`DROP TRIGGER IF EXISTS slow_start ON "BackgroundJob"`);
      await db.prisma.$executeRawUnsafe(`DROP FUNCTION IF EXISTS slow_start()`);
      await db.prisma.$executeRawUnsafe(`DROP TABLE IF EXISTS "start_commits"`);
    }
  });
});
