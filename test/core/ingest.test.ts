// The ingestion core under real concurrency: 50 identical deliveries released
// together must leave one Message, 49 dedupes, no errors and one job per
// dedupeKey, for every unique key. The negative control proves the same
// harness catches check-then-create.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildJobDedupeKey,
  ingestMessage,
  MESSAGE_UNIQUE_KEYS,
  sendAIDraft,
  type ConflictStrategy,
  type IngestInput,
  type MessageUniqueKey,
} from "../../src/core/index.js";
import { countJobsForMessage, countMessagesByKey } from "../../src/db/sql.js";
import { useTestDb } from "../helpers/db.js";
import { releaseTogether, warmPool } from "../helpers/race.js";
import { buildIngestInput, createClient, createLead, insertMessageWithoutJobs } from "../helpers/seed.js";

const N = 50;
const db = await useTestDb(N + 10);
let clientId: string;

beforeAll(async () => {
  clientId = (await createClient(db.prisma)).id;
  await warmPool(db, N);
});

/** A delivery keyed on `key` (aiDraftId needs a real draft: the column is a FK). */
async function buildInput(key: MessageUniqueKey): Promise<IngestInput> {
  let value = `${key}:${randomUUID()}`;
  if (key === "aiDraftId") {
    const lead = await createLead(db.prisma, clientId);
    const draft = await db.prisma.aIDraft.create({ data: { clientId, leadId: lead.id, channel: "EMAIL", body: "hi" } });
    value = draft.id;
  }
  return buildIngestInput(clientId, { unique: { key, value } });
}

describe.each<ConflictStrategy>(["on-conflict", "catch-p2002"])("strategy %s", (strategy) => {
  it.each(MESSAGE_UNIQUE_KEYS)("50 concurrent deliveries keyed on %s create one message and one job per dedupeKey", async (key) => {
    const input = await buildInput(key);
    const results = await releaseTogether(N, () => ingestMessage(db.prisma, input, { strategy }));

    const rejected = results.filter((r) => r.status === "rejected");
    expect(rejected.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    const values = results.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof ingestMessage>>>).value);
    expect(values.filter((v) => !v.deduped)).toHaveLength(1);
    expect(values.filter((v) => v.deduped)).toHaveLength(N - 1);
    expect(new Set(values.map((v) => v.messageId)).size).toBe(1);
    expect(await countMessagesByKey(db.prisma, key, input.unique.value)).toBe(1);

    const messageId = values[0]!.messageId;
    const jobs = await countJobsForMessage(db.prisma, messageId);
    expect(jobs.map((j) => [j.dedupeKey, j.n])).toEqual(
      ["EMAIL_INBOUND_POST_PROCESS", "LEAD_SCORING_POST_PROCESS"].map((type) => [buildJobDedupeKey(clientId, messageId, type as never), 1]),
    );
    expect(values.reduce((sum, v) => sum + v.jobsEnqueued, 0)).toBe(2);
  });
});

describe("lead resolution", () => {
  it("50 concurrent deliveries about one new lead create one Lead", async () => {
    const email = `new-${randomUUID().slice(0, 8)}@example.com`;
    const results = await releaseTogether(N, async () => {
      const input = await buildInput("emailBisonReplyId");
      return ingestMessage(db.prisma, { ...input, lead: { key: "email", value: email } });
    });
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(await db.prisma.lead.count({ where: { clientId, email } })).toBe(1);
    const leadIds = new Set(results.map((r) => (r as PromiseFulfilledResult<{ leadId: string }>).value.leadId));
    expect(leadIds.size).toBe(1);
  });
});

describe("AI drafts", () => {
  it.each<ConflictStrategy>(["on-conflict", "catch-p2002"])("50 concurrent sends of one draft create one outbound message (%s)", async (strategy) => {
    const lead = await createLead(db.prisma, clientId);
    const draft = await db.prisma.aIDraft.create({ data: { clientId, leadId: lead.id, channel: "EMAIL", body: "Thanks!" } });
    const results = await releaseTogether(N, () => sendAIDraft(db.prisma, draft.id, { strategy }));
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    const values = results.map((r) => (r as PromiseFulfilledResult<{ deduped: boolean }>).value);
    expect(values.filter((v) => !v.deduped)).toHaveLength(1);
    expect(await db.prisma.message.count({ where: { aiDraftId: draft.id } })).toBe(1);
    expect((await db.prisma.aIDraft.findUniqueOrThrow({ where: { id: draft.id } })).status).toBe("SENT");
  });

  it("negative control: the same checks catch check-then-create sends", async () => {
    let caught = 0;
    for (let round = 0; round < 5 && caught === 0; round++) {
      const lead = await createLead(db.prisma, clientId);
      const draft = await db.prisma.aIDraft.create({ data: { clientId, leadId: lead.id, channel: "EMAIL", body: "Thanks!" } });
      const results = await releaseTogether(N, () => sendAIDraft(db.prisma, draft.id, { strategy: "check-then-create" }));
      const rejected = results.filter((r) => r.status === "rejected").length;
      const fresh = results.filter((r) => r.status === "fulfilled" && !r.value.deduped).length;
      if (rejected > 0 || fresh > 1) caught++;
    }
    expect(caught).toBeGreaterThan(0);
  });
});

describe("crash between insert and enqueue", () => {
  it("a duplicate delivery enqueues the jobs the first delivery never wrote", async () => {
    const input = await buildInput("emailBisonReplyId");
    // Simulate the crash: the message row exists, its jobs do not.
    const first = await insertMessageWithoutJobs(db.prisma, input);
    expect(await countJobsForMessage(db.prisma, first.messageId)).toEqual([]);

    const retry = await ingestMessage(db.prisma, input);
    expect(retry).toMatchObject({ messageId: first.messageId, deduped: true, jobsEnqueued: 2 });
    expect((await countJobsForMessage(db.prisma, first.messageId)).map((j) => j.n)).toEqual([1, 1]);
    const again = await ingestMessage(db.prisma, input);
    expect(again).toMatchObject({ deduped: true, jobsEnqueued: 0 });
  });
});

describe("negative control: check-then-create", () => {
  it("the same race catches the racy pattern (a P2002 or a duplicate)", async () => {
    // A race that cannot fail is not testing a race: the racy strategy must
    // be caught within a few rounds of the exact test above.
    let caught = 0;
    for (let round = 0; round < 5 && caught === 0; round++) {
      const input = await buildInput("emailBisonReplyId");
      const results = await releaseTogether(N, () => ingestMessage(db.prisma, input, { strategy: "check-then-create" }));
      const p2002 = results.filter((r) => r.status === "rejected" && (r.reason as { code?: string }).code === "P2002").length;
      const fresh = results.filter((r) => r.status === "fulfilled" && !r.value.deduped).length;
      if (p2002 > 0 || fresh > 1) caught++;
    }
    expect(caught).toBeGreaterThan(0);
  });
});

describe("timestamps", () => {
  it("sentAt round-trips exactly whatever the process time zone (the hot path sends ISO UTC strings)", async () => {
    const previous = process.env.TZ;
    try {
      for (const tz of ["Asia/Tokyo", "America/New_York"]) {
        process.env.TZ = tz;
        const input = await buildInput("emailBisonReplyId");
        const sentAt = new Date("2026-04-01T10:00:00.123Z");
        const result = await ingestMessage(db.prisma, { ...input, sentAt });
        const stored = await db.prisma.message.findUniqueOrThrow({ where: { id: result.messageId } });
        expect(stored.sentAt.toISOString(), tz).toBe(sentAt.toISOString());
      }
    } finally {
      if (previous === undefined) delete process.env.TZ;
      else process.env.TZ = previous;
    }
  });
});
