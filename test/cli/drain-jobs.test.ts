// drain-jobs as users run it: the real CLI in child processes against a real
// PostgreSQL. Several workers at once, a worker SIGKILLed mid-job, SIGTERM
// mid-drain, and the exit codes.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { countJobsByStatusAndAttempts, seedMessagesWithJobs } from "../../src/db/job-fixtures-sql.js";
import type { DrainSummary } from "../../src/jobs/summary.js";
import { ROOT, spawnBin, type BinRun } from "../helpers/cli.js";
import { useTestDb } from "../helpers/db.js";
import { createClient } from "../helpers/seed.js";

const HANDLERS = path.join(ROOT, "test/cli/fixtures/drain-handlers.mjs");
const db = await useTestDb(10);
// Worker processes on a loaded shared machine start slowly; time limits only, never assertions.
vi.setConfig({ testTimeout: 180_000 });
let clientId: string;

beforeAll(async () => {
  clientId = (await createClient(db.prisma)).id;
});

function runCli(args: string[], env: Record<string, string> = {}): BinRun {
  return spawnBin(["drain-jobs", "--database-url", db.url, ...args], { env: { DATABASE_URL: "", CI: "true", ...env } });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 90_000) {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function seed(messages: number, leads: number, maxAttempts = 5) {
  await db.prisma.backgroundJob.deleteMany({});
  const prefix = `c-${randomUUID().slice(0, 8)}`;
  await seedMessagesWithJobs(db.prisma, { clientId, prefix, messages, leads, types: ["EMAIL_INBOUND_POST_PROCESS"], maxAttempts });
  return prefix;
}

const leadsOf = (prefix: string) => db.prisma.lead.findMany({ where: { clientId, email: { startsWith: `${prefix}-` } } });
const draftsOf = (prefix: string) => db.prisma.aIDraft.count({ where: { lead: { email: { startsWith: `${prefix}-` } } } });

describe("drain-jobs CLI", () => {
  it("three processes drain 5,000 jobs: each SUCCEEDED on its first attempt, each effect exactly once", async () => {
    const prefix = await seed(5_000, 50);
    const runs = [1, 2, 3].map((i) => runCli(["--concurrency", "8", "--batch", "50", "--json", "--worker-id", `w${i}`]));
    const results = await Promise.all(runs.map((r) => r.done));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const summaries = results.map((r) => JSON.parse(r.stdout) as DrainSummary);
    expect(summaries.reduce((sum, s) => sum + s.totals.succeeded, 0)).toBe(5_000);
    expect(summaries.reduce((sum, s) => sum + s.totals.claimed, 0)).toBe(5_000);
    expect(summaries.filter((s) => s.totals.claimed > 0).length).toBeGreaterThanOrEqual(2);

    expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([{ status: "SUCCEEDED", attempts: 1, n: 5_000 }]);
    const leads = await leadsOf(prefix);
    expect(leads.map((l) => l.inboundCount)).toEqual(Array(50).fill(100));
    expect(await draftsOf(prefix)).toBe(5_000);
    expect(await db.prisma.message.count({ where: { emailBisonReplyId: { startsWith: `${prefix}:` }, processedAt: null } })).toBe(0);
  });

  it("a worker SIGKILLed mid-job: after the lease another worker recovers and completes it, with no double effect", async () => {
    const prefix = await seed(20, 1);
    const slow = await db.prisma.message.findFirstOrThrow({ where: { emailBisonReplyId: `${prefix}:7` } });
    const a = runCli(["--handlers", HANDLERS, "--lease", "1s", "--concurrency", "4", "--json"], { DRAIN_TEST_SLOW_MESSAGE: slow.id });
    // The slow job's effect is done and every other job succeeded: only the slow one is still RUNNING.
    await waitFor(async () => (await db.prisma.backgroundJob.count({ where: { status: "SUCCEEDED" } })) === 19);
    await waitFor(async () => (await db.prisma.message.findUniqueOrThrow({ where: { id: slow.id } })).processedAt !== null);
    a.child.kill("SIGKILL");
    expect((await a.done).signal).toBe("SIGKILL");
    expect(await db.prisma.backgroundJob.findFirstOrThrow({ where: { messageId: slow.id } })).toMatchObject({ status: "RUNNING", attempts: 1 });

    await new Promise((r) => setTimeout(r, 1_300));
    const b = await runCli(["--handlers", HANDLERS, "--lease", "1s", "--json"], { DRAIN_TEST_SLOW_MESSAGE: slow.id }).done;
    expect(b.code, b.stderr).toBe(0);
    const summary = JSON.parse(b.stdout) as DrainSummary;
    expect(summary.totals).toMatchObject({ recovered: 1, claimed: 1, succeeded: 1, failed: 0 });

    expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([
      { status: "SUCCEEDED", attempts: 1, n: 19 },
      { status: "SUCCEEDED", attempts: 2, n: 1 },
    ]);
    const [lead] = await leadsOf(prefix);
    expect(lead!.inboundCount).toBe(20);
    expect(await draftsOf(prefix)).toBe(20);
  });

  it("SIGTERM mid-drain: started jobs finish, the rest return to PENDING with attempts unchanged, exit 0", async () => {
    const prefix = await seed(30, 3);
    const mine = { emailBisonReplyId: { startsWith: `${prefix}:` }, processedAt: { not: null } };
    const run = runCli(["--handlers", HANDLERS, "--concurrency", "2", "--batch", "10", "--json"], { DRAIN_TEST_SLEEP_MS: "400" });
    await waitFor(async () => (await db.prisma.message.count({ where: mine })) >= 1);
    const processedBefore = await db.prisma.message.count({ where: mine });
    run.child.kill("SIGTERM");
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as DrainSummary;
    expect(summary.stoppedBy).toBe("signal");
    expect(summary.totals.released).toBeGreaterThan(0);

    const jobs = await db.prisma.backgroundJob.findMany({});
    const messages = new Map((await db.prisma.message.findMany({ where: { id: { in: jobs.map((j) => j.messageId!) } } })).map((m) => [m.id, m]));
    const started = jobs.filter((j) => messages.get(j.messageId!)!.processedAt !== null);
    expect(started.length).toBeGreaterThanOrEqual(processedBefore);
    // Every job this worker claimed either finished or was handed back: none left RUNNING, none lost.
    expect(summary.totals.claimed).toBe(summary.totals.succeeded + summary.totals.released);
    // Every job whose handler started has finished; no other job was touched.
    expect(started.every((j) => j.status === "SUCCEEDED" && j.attempts === 1)).toBe(true);
    const rest = jobs.filter((j) => messages.get(j.messageId!)!.processedAt === null);
    expect(rest.length).toBeGreaterThan(0);
    expect(rest.every((j) => j.status === "PENDING" && j.attempts === 0 && j.lockedBy === null)).toBe(true);
    expect(summary.totals.succeeded).toBe(started.length);
  });

  it("exits 1 after printing the summary when a job reaches FAILED", async () => {
    await seed(2, 1, 1);
    const result = await runCli(["--handlers", HANDLERS], { DRAIN_TEST_THROW: "1" }).done;
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/EMAIL_INBOUND_POST_PROCESS/);
    expect(result.stderr).toMatch(/2 job\(s\) reached FAILED/);
    expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([{ status: "FAILED", attempts: 1, n: 2 }]);
  });

  it.each([
    [["--once", "--watch"], /--watch: --once and --watch cannot be combined/],
    [["--lease", "soon"], /--lease: must be a duration/],
    [["--type", "NOPE"], /--type: must be one of/],
    [["--start-connections", "17"], /--start-connections: must be/],
    [["--handlers", "does-not-exist.mjs"], /Could not load --handlers/],
  ])("rejects %j with exit 2 before claiming anything", async (args, message) => {
    await seed(1, 1);
    const result = await runCli(args).done;
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([{ status: "PENDING", attempts: 0, n: 1 }]);
  });
});
