// Batched ingestion (src/db/ingest-batch.ts): the deliveries of one event-loop
// turn share a statement, and must come out exactly as one statement each
// would have: one Message per unique value with one non-deduped delivery,
// one Lead per identifier, one job per dedupeKey, even with several batches
// (several receivers) racing over the same keys.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client.js";
import { buildJobDedupeKey, ingestMessage, isPrismaConnectionError, type IngestInput, type IngestResult } from "../../src/core/index.js";
import { createDeliveryBatcher } from "../../src/db/ingest-batch.js";
import { countJobsForMessage, countMessagesByKey } from "../../src/db/sql.js";
import { useTestDb } from "../helpers/db.js";
import { releaseTogether, warmPool } from "../helpers/race.js";
import { buildIngestInput, createClient, insertMessageWithoutJobs } from "../helpers/seed.js";

const db = await useTestDb(40);
let clientId: string;
const JOB_TYPES = ["EMAIL_INBOUND_POST_PROCESS", "LEAD_SCORING_POST_PROCESS"] as const;

beforeAll(async () => {
  clientId = (await createClient(db.prisma)).id;
  await warmPool(db, 30);
});

function buildInput(value: string, leadEmail: string, overrides: Partial<IngestInput> = {}): IngestInput {
  return buildIngestInput(clientId, {
    body: `reply ${value}`,
    sentAt: new Date("2026-04-01T10:00:00.123Z"),
    unique: { key: "emailBisonReplyId", value },
    lead: { key: "email", value: leadEmail, firstName: "Ada" },
    ...overrides,
  });
}

/** `values` distinct replies, each delivered `copies` times, spread over `leads` leads; in a shuffled order. */
function buildDeliveries(values: number, copies: number, leads: number): IngestInput[] {
  const run = randomUUID().slice(0, 8);
  const inputs: IngestInput[] = [];
  for (let v = 0; v < values; v++) {
    for (let c = 0; c < copies; c++) inputs.push(buildInput(`emailbison:test:${run}-${v}`, `lead-${run}-${v % leads}@example.com`));
  }
  return inputs.sort(() => Math.random() - 0.5);
}

function fulfilled<T>(results: PromiseSettledResult<T>[]): T[] {
  const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  expect(rejected.map((r) => String(r.reason))).toEqual([]);
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** The invariants a set of deliveries must leave, whatever the batching. */
async function expectExactlyOnce(inputs: IngestInput[], results: IngestResult[]) {
  const byValue = new Map<string, IngestResult[]>();
  inputs.forEach((input, i) => byValue.set(input.unique.value, [...(byValue.get(input.unique.value) ?? []), results[i]!]));
  for (const [value, group] of byValue) {
    expect(group.filter((r) => !r.deduped), value).toHaveLength(1);
    expect(new Set(group.map((r) => r.messageId)).size, value).toBe(1);
    expect(await countMessagesByKey(db.prisma, "emailBisonReplyId", value)).toBe(1);
    const messageId = group[0]!.messageId;
    const jobs = await countJobsForMessage(db.prisma, messageId);
    expect(jobs.map((j) => [j.dedupeKey, j.n])).toEqual(JOB_TYPES.map((type) => [buildJobDedupeKey(clientId, messageId, type), 1]));
    expect(group.reduce((sum, r) => sum + r.jobsEnqueued, 0)).toBe(JOB_TYPES.length);
  }
  for (const email of new Set(inputs.map((i) => i.lead.value))) {
    expect(await db.prisma.lead.count({ where: { clientId, email } }), email).toBe(1);
  }
  // Every delivery about one lead points at that lead.
  inputs.forEach((input, i) => inputs.forEach((other, j) => input.lead.value === other.lead.value && expect(results[i]!.leadId).toBe(results[j]!.leadId)));
}

describe("createDeliveryBatcher", () => {
  it("sends one turn's deliveries as one statement, deduping within it", async () => {
    const batcher = createDeliveryBatcher(db.prisma);
    const inputs = buildDeliveries(10, 5, 3);
    const results = fulfilled(await Promise.allSettled(inputs.map((input) => ingestMessage(db.prisma, input, { batcher }))));
    expect(batcher.stats()).toMatchObject({ batches: 1, batchedDeliveries: 50, fallbacks: 0, singles: 0 });
    await expectExactlyOnce(inputs, results);

    // The stored rows carry what the deliveries said.
    const stored = await db.prisma.message.findFirstOrThrow({ where: { id: results[0]!.messageId }, include: { lead: true } });
    expect(stored).toMatchObject({ body: `reply ${inputs[0]!.unique.value}`, subject: "Re: hello", provider: "EMAILBISON", direction: "INBOUND" });
    expect(stored.sentAt.toISOString()).toBe("2026-04-01T10:00:00.123Z");
    expect(stored.lead).toMatchObject({ email: inputs[0]!.lead.value, firstName: "Ada" });

    // Again, in a later turn: all duplicates, nothing new.
    const again = fulfilled(await Promise.allSettled(inputs.map((input) => ingestMessage(db.prisma, input, { batcher }))));
    expect(again.every((r) => r.deduped && r.jobsEnqueued === 0)).toBe(true);
    expect(again.map((r) => r.messageId)).toEqual(results.map((r) => r.messageId));
    expect(batcher.stats().batches).toBe(2);
  });

  it("answers a stored message as a duplicate and writes the jobs a crash left out", async () => {
    const batcher = createDeliveryBatcher(db.prisma);
    const input = buildInput(`emailbison:test:${randomUUID()}`, `healed-${randomUUID().slice(0, 8)}@example.com`);
    const stored = await insertMessageWithoutJobs(db.prisma, input);
    const others = buildDeliveries(3, 1, 3);
    const results = await Promise.all([input, input, ...others].map((i) => ingestMessage(db.prisma, i, { batcher })));
    expect(batcher.stats().batches).toBe(1);
    expect(results.slice(0, 2).map((r) => [r.messageId, r.deduped])).toEqual([
      [stored.messageId, true],
      [stored.messageId, true],
    ]);
    expect(results[0]!.jobsEnqueued + results[1]!.jobsEnqueued).toBe(JOB_TYPES.length);
    expect((await countJobsForMessage(db.prisma, stored.messageId)).map((j) => j.n)).toEqual([1, 1]);
    expect(results.slice(2).every((r) => !r.deduped)).toBe(true);
  });

  it("keeps exactly-once when batches from several receivers race over the same keys", async () => {
    // Eight batchers stand for eight receivers; each gets every delivery, in its own order.
    for (let round = 0; round < 5; round++) {
      const inputs = buildDeliveries(12, 2, 4);
      const batchers = Array.from({ length: 8 }, () => createDeliveryBatcher(db.prisma));
      const orders = batchers.map(() => [...inputs.keys()].sort(() => Math.random() - 0.5));
      const settled = await releaseTogether(batchers.length, async (b) =>
        Promise.all(orders[b]!.map(async (i) => [i, await ingestMessage(db.prisma, inputs[i]!, { batcher: batchers[b] })] as const)),
      );
      const pairs = fulfilled(settled).flat();
      expect(batchers.every((b) => b.stats().fallbacks === 0)).toBe(true);
      await expectExactlyOnce(
        pairs.map(([i]) => inputs[i]!),
        pairs.map(([, r]) => r),
      );
    }
  });

  it("splits a turn's deliveries by count and by body bytes", async () => {
    const byCount = createDeliveryBatcher(db.prisma, { maxBatch: 4 });
    const inputs = buildDeliveries(10, 1, 10);
    await Promise.all(inputs.map((input) => ingestMessage(db.prisma, input, { batcher: byCount })));
    expect(byCount.stats()).toMatchObject({ batches: 3, batchedDeliveries: 10, singles: 0 });

    const byBytes = createDeliveryBatcher(db.prisma, { maxBatchBytes: 3000 });
    const large = buildDeliveries(6, 1, 6).map((input) => ({ ...input, body: "x".repeat(1000) }));
    const results = await Promise.all(large.map((input) => ingestMessage(db.prisma, input, { batcher: byBytes })));
    expect(byBytes.stats()).toMatchObject({ batches: 2, batchedDeliveries: 6 });
    expect(results.every((r) => !r.deduped)).toBe(true);
  });

  it("fails only the delivery the database rejects", async () => {
    const batcher = createDeliveryBatcher(db.prisma);
    const good = buildDeliveries(4, 1, 4);
    // PostgreSQL text cannot hold NUL: this one delivery is refused, the batch is re-run one by one.
    const bad = buildInput(`emailbison:test:${randomUUID()}`, `nul-${randomUUID().slice(0, 8)}@example.com`, { body: "a\u0000b" });
    const results = await Promise.allSettled([...good, bad].map((input) => ingestMessage(db.prisma, input, { batcher })));
    expect(results.slice(0, 4).every((r) => r.status === "fulfilled" && !r.value.deduped)).toBe(true);
    expect(results[4]!.status).toBe("rejected");
    expect(batcher.stats()).toMatchObject({ batches: 1, fallbacks: 1, singles: 5 });
    expect(await countMessagesByKey(db.prisma, "emailBisonReplyId", bad.unique.value)).toBe(0);
  });

  it("fails a whole batch at once when the database is not there, without re-running it one by one", async () => {
    const url = new URL(db.database.url);
    url.pathname = `/dedupe_missing_${randomUUID().slice(0, 8)}`;
    const missing = openDb({ url: url.toString(), poolSize: 2 });
    try {
      const batcher = createDeliveryBatcher(missing.prisma);
      const results = await Promise.allSettled(buildDeliveries(5, 1, 5).map((input) => ingestMessage(missing.prisma, input, { batcher })));
      expect(results.map((r) => r.status === "rejected" && isPrismaConnectionError(r.reason))).toEqual(Array(5).fill(true));
      expect(batcher.stats()).toMatchObject({ batches: 1, fallbacks: 0, singles: 0 });
    } finally {
      await missing.close();
    }
  });

  it("leaves AI-draft sends to the single statement", async () => {
    const batcher = createDeliveryBatcher(db.prisma);
    const lead = await db.prisma.lead.create({ data: { clientId, email: `draft-${randomUUID().slice(0, 8)}@example.com` } });
    const draft = await db.prisma.aIDraft.create({ data: { clientId, leadId: lead.id, channel: "EMAIL", body: "Thanks!" } });
    const input = buildInput(draft.id, lead.email!, { unique: { key: "aiDraftId", value: draft.id }, direction: "OUTBOUND" });
    const results = fulfilled(await releaseTogether(10, () => ingestMessage(db.prisma, input, { batcher })));
    expect(results.filter((r) => !r.deduped)).toHaveLength(1);
    // At least one statement per send (a send that lost the snapshot race runs again).
    expect(batcher.stats().batches).toBe(0);
    expect(batcher.stats().singles).toBeGreaterThanOrEqual(10);
  });
});
