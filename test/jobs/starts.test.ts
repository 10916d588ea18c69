// StartBatcher with a send channel: a start write sent there lets the
// handler run before the commit (runOnSend), while one not allowed to waits
// for the commit; the answer confirms or refuses the run afterwards.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { claimJobs } from "../../src/db/jobs-sql.js";
import { seedMessagesWithJobs } from "../../src/db/job-fixtures-sql.js";
import { SendChannel } from "../../src/db/send-channel.js";
import { StartBatcher, type StartAnswer } from "../../src/jobs/starts.js";
import { useTestDb } from "../helpers/db.js";
import { createClient } from "../helpers/seed.js";

const db = await useTestDb(6);
let channel: SendChannel;
let locker: pg.Client;

beforeAll(async () => {
  channel = (await SendChannel.open(db.pool, 2, "starts test"))!;
  locker = new pg.Client({ connectionString: db.url });
  await locker.connect();
});

afterAll(async () => {
  await channel?.close();
  await locker?.end();
});

const settledWithin = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

describe("StartBatcher with a send channel", () => {
  it("runOnSend: the handler may run while the start write is still blocked; the answer then confirms it", async () => {
    const clientId = (await createClient(db.prisma)).id;
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: "sc", messages: 2, leads: 1, types: ["EMAIL_INBOUND_POST_PROCESS"] });
    const [fast, slow] = await claimJobs(db.prisma, "w-sc", 2, ["EMAIL_INBOUND_POST_PROCESS"]);
    const starts = new StartBatcher({ db, workerId: "w-sc", leaseMs: 60_000, channel, onError: (error) => { throw error; } });
    // Hold both rows: the start write cannot commit until the lock goes.
    await locker.query("BEGIN");
    await locker.query(`SELECT 1 FROM "BackgroundJob" WHERE "id" = ANY($1::uuid[]) FOR UPDATE`, [[fast!.id, slow!.id]]);
    const runNow = starts.start({ id: fast!.id, attempts: fast!.attempts }, () => true);
    const waitForCommit = starts.start({ id: slow!.id, attempts: slow!.attempts }, () => false);
    expect(await settledWithin(runNow, 2_000)).toBe(true);
    const answer: StartAnswer = await runNow;
    expect(answer.run).toBe(true);
    // The negative control: the job not allowed to run on send is still waiting for the blocked commit.
    expect(await settledWithin(waitForCommit, 300)).toBe(false);
    const started = await db.prisma.backgroundJob.count({ where: { id: { in: [fast!.id, slow!.id] }, startedAt: { not: null } } });
    expect(started).toBe(0);
    await locker.query("COMMIT");
    expect(await answer.confirmed).toBe(true);
    expect(await waitForCommit).toEqual({ run: true });
    expect(await db.prisma.backgroundJob.count({ where: { id: { in: [fast!.id, slow!.id] }, startedAt: { not: null } } })).toBe(2);
  });

  it("a start the database does not confirm (the job is no longer this worker's) resolves confirmed false", async () => {
    const clientId = (await createClient(db.prisma)).id;
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: "sc2", messages: 1, leads: 1, types: ["EMAIL_INBOUND_POST_PROCESS"] });
    const [job] = await claimJobs(db.prisma, "w-sc2", 1, ["EMAIL_INBOUND_POST_PROCESS"]);
    await db.prisma.backgroundJob.update({ where: { id: job!.id }, data: { lockedBy: "someone-else" } });
    const starts = new StartBatcher({ db, workerId: "w-sc2", leaseMs: 60_000, channel, onError: (error) => { throw error; } });
    const answer = await starts.start({ id: job!.id, attempts: job!.attempts }, () => true);
    expect(answer.run).toBe(true);
    expect(await answer.confirmed).toBe(false);
  });
});
