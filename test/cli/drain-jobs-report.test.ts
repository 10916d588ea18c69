// What drain-jobs tells its user: each distinct handler error once (stderr
// and --json), the README's handler example running as written, a syntax
// error in --handlers located by line, `drain-jobs stats`, and polling
// instead of LISTEN through a transaction-mode pooler (pgbouncer=true).
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { countJobsByStatusAndAttempts, seedMessagesWithJobs } from "../../src/db/job-fixtures-sql.js";
import type { DrainSummary } from "../../src/jobs/summary.js";
import { ROOT, spawnBin, type BinRun } from "../helpers/cli.js";
import { useTestDb } from "../helpers/db.js";
import { createClient } from "../helpers/seed.js";

const db = await useTestDb(10);
// Worker processes on a loaded shared machine start slowly; time limits only, never assertions.
vi.setConfig({ testTimeout: 180_000 });
const dir = mkdtempSync(path.join(os.tmpdir(), "drain-report-"));
let clientId: string;

beforeAll(async () => {
  clientId = (await createClient(db.prisma)).id;
});

function runCli(args: string[], env: Record<string, string> = {}, url = db.url): BinRun {
  // A subcommand ("stats") comes first, then its options.
  const sub = args[0] === "stats" ? ["stats"] : [];
  return spawnBin(["drain-jobs", ...sub, "--database-url", url, ...args.slice(sub.length)], { env: { DATABASE_URL: "", CI: "true", ...env } });
}

async function seed(messages: number, maxAttempts = 5) {
  await db.prisma.backgroundJob.deleteMany({});
  await seedMessagesWithJobs(db.prisma, { clientId, prefix: `r-${randomUUID().slice(0, 8)}`, messages, leads: 1, types: ["EMAIL_INBOUND_POST_PROCESS"], maxAttempts });
}

/** The README's "Writing handlers" example, byte for byte, as a module file. */
function writeReadmeExample(): string {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("#### Writing handlers"));
  const code = /```js\n([\s\S]*?)```/.exec(section)![1]!;
  expect(code).toContain("notifySlack");
  const file = path.join(dir, "handlers.mjs");
  writeFileSync(file, code);
  return file;
}

/** A stand-in for Slack's webhook: answers `status`, counts posts. */
async function startSlack(status: number) {
  const posts: string[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      posts.push(body);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hook`, posts, close: () => new Promise((r) => server.close(r)) };
}


describe("handler errors", () => {
  it("the README's handler example runs as written: every job SUCCEEDED, one Slack post each", async () => {
    await seed(3);
    const slack = await startSlack(200);
    try {
      const result = await runCli(["--handlers", writeReadmeExample()], { SLACK_WEBHOOK_URL: slack.url }).done;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).not.toMatch(/handler errors/);
      expect(slack.posts).toHaveLength(3);
      expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([{ status: "SUCCEEDED", attempts: 1, n: 3 }]);
    } finally {
      await slack.close();
    }
  });

  it("a failing handler's error is printed once with its count (stderr) and listed in --json", async () => {
    await seed(3);
    const slack = await startSlack(500);
    try {
      const result = await runCli(["--handlers", writeReadmeExample()], { SLACK_WEBHOOK_URL: slack.url }).done;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/handler errors \(3 failed attempts\):\n {2}EMAIL_INBOUND_POST_PROCESS x3: Slack answered 500\n/);
      expect(result.stderr.match(/Slack answered 500/g)).toHaveLength(1);

      await db.prisma.backgroundJob.updateMany({ data: { runAt: new Date(Date.now() - 1_000) } });
      const json = await runCli(["--handlers", writeReadmeExample(), "--json"], { SLACK_WEBHOOK_URL: slack.url }).done;
      const summary = JSON.parse(json.stdout) as DrainSummary;
      expect(summary.errors).toEqual([{ type: "EMAIL_INBOUND_POST_PROCESS", message: "Slack answered 500", count: 3 }]);
      expect(summary.totals.retried).toBe(3);
    } finally {
      await slack.close();
    }
  });

  it("a syntax error in --handlers names the file and line, exit 2, nothing claimed", async () => {
    await seed(1);
    const file = path.join(dir, "broken.mjs");
    writeFileSync(file, "export default {\n  EMAIL_INBOUND_POST_PROCESS: async (job) => {\n    await foo(;\n  },\n};\n");
    const result = await runCli(["--handlers", file]).done;
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${file}:3\n    await foo(;`);
    expect(await countJobsByStatusAndAttempts(db.prisma)).toEqual([{ status: "PENDING", attempts: 0, n: 1 }]);
  });
});

describe("drain-jobs stats", () => {
  it("shows jobs per type and status, the oldest due job, failures by last error and expired leases (read-only)", async () => {
    await seed(6);
    const jobs = await db.prisma.backgroundJob.findMany({ orderBy: { id: "asc" } });
    const hour = 3_600_000;
    await db.prisma.backgroundJob.update({ where: { id: jobs[0]!.id }, data: { status: "FAILED", attempts: 5, lastError: "Slack answered 500", finishedAt: new Date() } });
    await db.prisma.backgroundJob.update({ where: { id: jobs[1]!.id }, data: { status: "FAILED", attempts: 5, lastError: "Slack answered 500", finishedAt: new Date() } });
    await db.prisma.backgroundJob.update({ where: { id: jobs[2]!.id }, data: { status: "RUNNING", attempts: 1, lockedBy: "dead-host:1:aa", startedAt: new Date(), leaseExpiresAt: new Date(Date.now() - 60_000) } });
    await db.prisma.backgroundJob.update({ where: { id: jobs[3]!.id }, data: { status: "RUNNING", attempts: 1, lockedBy: "live-host:2:bb", startedAt: new Date(), leaseExpiresAt: new Date(Date.now() + hour) } });
    await db.prisma.backgroundJob.update({ where: { id: jobs[4]!.id }, data: { runAt: new Date(Date.now() - 2 * hour) } });
    await db.prisma.backgroundJob.update({ where: { id: jobs[5]!.id }, data: { runAt: new Date(Date.now() + hour) } });
    const before = await db.prisma.backgroundJob.findMany({ orderBy: { id: "asc" } });

    const json = await runCli(["stats", "--json"]).done;
    expect(json.code, json.stderr).toBe(0);
    const stats = JSON.parse(json.stdout);
    expect(stats.byType).toEqual([expect.objectContaining({ type: "EMAIL_INBOUND_POST_PROCESS", pending: 2, due: 1, running: 2, succeeded: 0, failed: 2 })]);
    expect(stats.totals.oldestDueMs).toBeGreaterThan(2 * hour - 60_000);
    expect(stats.failures).toEqual([expect.objectContaining({ type: "EMAIL_INBOUND_POST_PROCESS", lastError: "Slack answered 500", count: 2 })]);
    expect(stats.holders).toEqual([
      expect.objectContaining({ worker: "dead-host:1:aa", held: 1, expired: 1 }),
      expect.objectContaining({ worker: "live-host:2:bb", held: 1, expired: 0 }),
    ]);
    expect(stats.expiredLeases).toBe(1);

    const text = await runCli(["stats"]).done;
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/EMAIL_INBOUND_POST_PROCESS\s+│ 2\s+│ 1\s+│ 2\s+│ 0\s+│ 2\s+│ 2\.0 h/);
    expect(text.stdout).toMatch(/dead-host:1:aa: 1 held, 1 expired \(for [\d.]+ (s|min)\)\n {2}live-host:2:bb: 1 held\n/);
    expect(text.stdout).toMatch(/EMAIL_INBOUND_POST_PROCESS x2:\n {4}Slack answered 500\n/);
    for (const line of text.stdout.split("\n")) expect(line.length).toBeLessThanOrEqual(80);
    // Read-only: nothing changed, the expired lease included.
    expect(await db.prisma.backgroundJob.findMany({ orderBy: { id: "asc" } })).toEqual(before);
  });
});

describe("through a transaction-mode pooler", () => {
  const listeners = async () =>
    (await db.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'dedupe-cli drain-jobs listen' AND datname = current_database()`)[0]!.n;

  const enqueue = (n: number) => seedMessagesWithJobs(db.prisma, { clientId, prefix: `q-${randomUUID().slice(0, 8)}`, messages: n, leads: 1, types: ["EMAIL_INBOUND_POST_PROCESS"] });
  async function waitForSucceeded(n: number) {
    for (let i = 0; i < 1_200 && (await db.prisma.backgroundJob.count({ where: { status: "SUCCEEDED" } })) < n; i++) await new Promise((r) => setTimeout(r, 25));
  }

  async function watchAndEnqueue(url: string) {
    await seed(2);
    const run = runCli(["--watch", "--poll-interval", "200ms", "--json"], {}, url);
    // Jobs done means the worker is up (and listening, if it listens at all).
    await waitForSucceeded(2);
    const listening = await listeners();
    // Enqueued while it watches: found by NOTIFY, or else by polling.
    await enqueue(2);
    await waitForSucceeded(4);
    run.child.kill("SIGTERM");
    const result = await run.done;
    return { listening, summary: JSON.parse(result.stdout) as DrainSummary };
  }

  it("pgbouncer=true in the URL: no LISTEN connection; new jobs are found by polling", async () => {
    const url = new URL(db.url);
    url.searchParams.set("pgbouncer", "true");
    const { listening, summary } = await watchAndEnqueue(url.toString());
    expect(listening).toBe(0);
    expect(summary.totals.succeeded).toBe(4);
  });

  it("control: a plain URL LISTENs", async () => {
    const { listening, summary } = await watchAndEnqueue(db.url);
    expect(listening).toBe(1);
    expect(summary.totals.succeeded).toBe(4);
  });
});
