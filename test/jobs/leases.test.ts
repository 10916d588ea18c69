// Lease guards at the SQL level: a worker whose lease expired and whose job
// another worker re-claimed can neither complete, fail, release nor renew it;
// recovery returns expired jobs to PENDING (or FAILED on the last attempt).
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { seedMessagesWithJobs } from "../../src/db/job-fixtures-sql.js";
import { claimJobs, completeJobs, failJobs, readOwnSettledJobs, recoverExpiredLeases, releaseJobs, renewLeases, startJobs } from "../../src/db/jobs-sql.js";
import { useTestDb } from "../helpers/db.js";
import { releaseTogether, warmPool } from "../helpers/race.js";
import { createClient } from "../helpers/seed.js";

const db = await useTestDb(10);
const ALL = ["EMAIL_INBOUND_POST_PROCESS"] as const;
let clientId: string;

beforeAll(async () => {
  clientId = (await createClient(db.prisma)).id;
});

async function seedOne(maxAttempts = 5) {
  await db.prisma.backgroundJob.deleteMany({});
  await seedMessagesWithJobs(db.prisma, { clientId, prefix: `l-${randomUUID().slice(0, 8)}`, messages: 1, leads: 1, types: ALL, maxAttempts });
}

/** Ages a job's lease as if its worker had stopped renewing it long ago. */
async function expireLease(id: string) {
  await db.prisma.backgroundJob.update({ where: { id }, data: { leaseExpiresAt: new Date(Date.now() - 3_600_000) } });
}

describe("a stale worker after its lease expired", () => {
  it("changes nothing: complete, fail, release and renew all miss; the new holder's outcome stands", async () => {
    await seedOne();
    const [stale] = await claimJobs(db.prisma, "worker-A", 10, ALL);
    expect(stale).toMatchObject({ attempts: 1 });
    await startJobs(db.prisma, "worker-A", [{ id: stale!.id, attempts: 1 }], 1_000);
    await expireLease(stale!.id);

    const recovered = await recoverExpiredLeases(db.prisma);
    expect(recovered).toEqual([expect.objectContaining({ id: stale!.id, status: "PENDING", lockedBy: "worker-A" })]);
    const [fresh] = await claimJobs(db.prisma, "worker-B", 10, ALL);
    expect(fresh).toMatchObject({ id: stale!.id, attempts: 2 });

    const a = { id: stale!.id, attempts: 1 };
    expect(await completeJobs(db.prisma, "worker-A", [a])).toEqual([]);
    expect(await failJobs(db.prisma, "worker-A", [{ ...a, error: "late", retryDelayMs: 0, permanent: true }])).toEqual([]);
    expect(await releaseJobs(db.prisma, "worker-A", [a])).toEqual([]);
    expect(await renewLeases(db.prisma, "worker-A", [a])).toEqual([]);
    // Same worker id but the old attempt number (a worker re-claiming its own job) is rejected too.
    expect(await completeJobs(db.prisma, "worker-B", [a])).toEqual([]);

    const during = await db.prisma.backgroundJob.findUniqueOrThrow({ where: { id: stale!.id } });
    expect(during).toMatchObject({ status: "RUNNING", lockedBy: "worker-B", attempts: 2, finishedAt: null });
    expect(await completeJobs(db.prisma, "worker-B", [{ id: stale!.id, attempts: 2 }])).toEqual([stale!.id]);
    expect(await db.prisma.backgroundJob.findUniqueOrThrow({ where: { id: stale!.id } })).toMatchObject({ status: "SUCCEEDED", attempts: 2 });
  });

  it("recovery leaves live leases alone and fails a job whose last attempt was lost", async () => {
    await seedOne(1);
    const [job] = await claimJobs(db.prisma, "worker-A", 10, ALL);
    expect(await startJobs(db.prisma, "worker-A", [{ id: job!.id, attempts: 1 }], 60_000)).toEqual([job!.id]);
    expect(await recoverExpiredLeases(db.prisma)).toEqual([]);
    await expireLease(job!.id);
    expect(await recoverExpiredLeases(db.prisma)).toEqual([expect.objectContaining({ id: job!.id, status: "FAILED" })]);
    const row = await db.prisma.backgroundJob.findUniqueOrThrow({ where: { id: job!.id } });
    expect(row).toMatchObject({ status: "FAILED", attempts: 1, lockedBy: null });
    expect(row.lastError).toMatch(/lease expired: worker worker-A/);
    expect(row.finishedAt).not.toBeNull();
  });

  /** 50 claimed jobs whose leases all expired; then `recover` run by 8 workers released together. Returns [claimed, recovered ids]. */
  async function raceRecovery(recover: () => Promise<{ id: string }[]>): Promise<[number, string[]]> {
    await db.prisma.backgroundJob.deleteMany({});
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: `r-${randomUUID().slice(0, 8)}`, messages: 50, leads: 2, types: ALL });
    const claimed = await claimJobs(db.prisma, "worker-A", 50, ALL);
    await db.prisma.backgroundJob.updateMany({ data: { leaseExpiresAt: new Date(Date.now() - 3_600_000) } });
    const results = await releaseTogether(8, recover);
    return [claimed.length, results.flatMap((r) => (r.status === "fulfilled" ? r.value.map((x) => x.id) : []))];
  }

  it("recovery run by many workers at once recovers each job exactly once", async () => {
    await warmPool(db, 8);
    const [claimed, ids] = await raceRecovery(() => recoverExpiredLeases(db.prisma));
    expect(ids).toHaveLength(claimed);
    expect(new Set(ids).size).toBe(claimed);
  });

  it("negative control: the same check catches a recovery that reads, then updates without re-checking", async () => {
    await warmPool(db, 8);
    // Read the expired ids, then update them by id alone: two workers can both read a job before either updates it.
    const naiveRecover = async () => {
      const expired = await db.prisma.$queryRaw<{ id: string }[]>`
        SELECT "id"::text AS "id" FROM "BackgroundJob" WHERE "status" = 'RUNNING' AND "leaseExpiresAt" < now()`;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return db.prisma.$queryRaw<{ id: string }[]>`
        UPDATE "BackgroundJob" SET "status" = 'PENDING', "lockedBy" = NULL, "lockedAt" = NULL
        WHERE "id" = ANY(${expired.map((e) => e.id)}::uuid[]) RETURNING "id"::text AS "id"`;
    };
    let caught = false;
    for (let round = 0; round < 5 && !caught; round++) {
      const [claimed, ids] = await raceRecovery(naiveRecover);
      caught = ids.length !== claimed || new Set(ids).size !== claimed;
    }
    expect(caught).toBe(true);
  });
});

describe("leases are the holder's, and an attempt counts from the start", () => {
  it("a claimed, unstarted job gets its attempt back on recovery; a started one does not", async () => {
    await seedOne(1);
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: `u-${randomUUID().slice(0, 8)}`, messages: 1, leads: 1, types: ALL, maxAttempts: 1 });
    const [a, b] = await claimJobs(db.prisma, "worker-A", 10, ALL);
    expect(await startJobs(db.prisma, "worker-A", [{ id: a!.id, attempts: 1 }], 60_000)).toEqual([a!.id]);
    await expireLease(a!.id);
    await expireLease(b!.id);
    const recovered = await recoverExpiredLeases(db.prisma);
    expect(recovered.map((r) => [r.id, r.status, r.started]).sort()).toEqual([[a!.id, "FAILED", true], [b!.id, "PENDING", false]].sort());
    expect(await db.prisma.backgroundJob.findUniqueOrThrow({ where: { id: b!.id } })).toMatchObject({ status: "PENDING", attempts: 0, lastError: null });
  });

  it("the claim lease holds an unstarted job only briefly; starting it gives the full lease; renewal keeps each kind's own", async () => {
    await seedOne();
    const [job] = await claimJobs(db.prisma, "worker-A", 10, ALL, 1_000);
    const leaseLeft = async () => (await db.prisma.backgroundJob.findUniqueOrThrow({ where: { id: job!.id } })).leaseExpiresAt!.getTime() - Date.now();
    expect(await leaseLeft()).toBeLessThanOrEqual(1_000);
    expect(await renewLeases(db.prisma, "worker-A", [{ id: job!.id, attempts: 1 }], { leaseMs: 600_000, claimLeaseMs: 1_000 })).toEqual([job!.id]);
    expect(await leaseLeft()).toBeLessThanOrEqual(1_000);
    await startJobs(db.prisma, "worker-A", [{ id: job!.id, attempts: 1 }], 600_000);
    expect(await leaseLeft()).toBeGreaterThan(500_000);
    await renewLeases(db.prisma, "worker-A", [{ id: job!.id, attempts: 1 }], { leaseMs: 600_000, claimLeaseMs: 1_000 });
    expect(await leaseLeft()).toBeGreaterThan(500_000);
    // Another worker's recovery judges it by this record alone.
    expect(await recoverExpiredLeases(db.prisma)).toEqual([]);
  });

  it("a stale worker cannot start a job another worker re-claimed", async () => {
    await seedOne();
    const [job] = await claimJobs(db.prisma, "worker-A", 10, ALL);
    await expireLease(job!.id);
    await recoverExpiredLeases(db.prisma);
    const [again] = await claimJobs(db.prisma, "worker-B", 10, ALL);
    expect(again).toMatchObject({ id: job!.id, attempts: 1 });
    expect(await startJobs(db.prisma, "worker-A", [{ id: job!.id, attempts: 1 }], 60_000)).toEqual([]);
    expect(await startJobs(db.prisma, "worker-B", [{ id: job!.id, attempts: 1 }], 60_000)).toEqual([job!.id]);
  });
});

describe("a guarded write retried after it had committed", () => {
  it("misses on the retry, and readOwnSettledJobs reads back the outcome as this worker's", async () => {
    await seedOne();
    const [job] = await claimJobs(db.prisma, "worker-A", 10, ALL);
    const attempt = { id: job!.id, attempts: 1 };
    expect(await completeJobs(db.prisma, "worker-A", [attempt])).toEqual([job!.id]);
    expect(await completeJobs(db.prisma, "worker-A", [attempt])).toEqual([]);
    expect(await readOwnSettledJobs(db.prisma, "worker-A", [attempt])).toEqual([expect.objectContaining({ id: job!.id, status: "SUCCEEDED" })]);
    // Not another worker's, not another attempt's.
    expect(await readOwnSettledJobs(db.prisma, "worker-B", [attempt])).toEqual([]);
    expect(await readOwnSettledJobs(db.prisma, "worker-A", [{ id: job!.id, attempts: 2 }])).toEqual([]);
  });
});

describe("release", () => {
  it("hands a claimed job back without spending an attempt", async () => {
    await seedOne();
    const [job] = await claimJobs(db.prisma, "worker-A", 10, ALL);
    expect(await releaseJobs(db.prisma, "worker-A", [{ id: job!.id, attempts: 1 }])).toEqual([job!.id]);
    expect(await db.prisma.backgroundJob.findUniqueOrThrow({ where: { id: job!.id } })).toMatchObject({ status: "PENDING", attempts: 0, lockedBy: null });
  });
});
