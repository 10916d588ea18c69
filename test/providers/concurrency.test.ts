// Concurrency through the handler: 50 identical deliveries at once leave one
// Message; 50 clicks on "send" leave one outbound message; two history
// imports at once leave one row per GHL message. The negative control proves
// the same checks catch a handler built on check-then-create.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { countRows } from "../../src/db/sql.js";
import { importGhlHistory } from "../../src/providers/ghl/history.js";
import { planDeliveryFor } from "../../src/providers/registry.js";
import { createWebhookHandler } from "../../src/providers/router.js";
import { useTestDb } from "../helpers/db.js";
import { releaseTogether, warmPool } from "../helpers/race.js";
import { createLead } from "../helpers/seed.js";
import { BASE_URL, buildRequest, loadAllFixtures, loadFixture, readJson, seedFixtureClients, TEST_KEYS } from "./support.js";

const N = 50;
const db = await useTestDb(N + 10);
const DRAFTS_SECRET = "test-drafts-secret";
const handler = createWebhookHandler({ db: db.prisma, ghlEd25519PublicKey: TEST_KEYS.ed25519PublicKey, ghlRsaPublicKey: TEST_KEYS.rsaPublicKey, draftsSecret: DRAFTS_SECRET });
/** A draft send as the app's own backend makes it: JSON, with the drafts secret. */
function draftSend(id: string, headers: Record<string, string> = { "content-type": "application/json", authorization: `Bearer ${DRAFTS_SECRET}` }) {
  return new Request(`http://receiver.test/api/drafts/${id}/send`, { method: "POST", headers, body: "{}" });
}

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
  await warmPool(db, N);
});

describe("50 concurrent deliveries", () => {
  const messageFixtures = loadAllFixtures().filter((f) => f.meta.expect?.outcome !== "ignored" && !f.path.endsWith("lead_interested.json"));

  it.each(messageFixtures.map((f) => [f.path.split("/fixtures/")[1]!, f] as const))("%s: one message, 49 dedupes, no 5xx", async (_name, fixture) => {
    const before = await countRows(db.prisma);
    const results = await releaseTogether(N, async () => {
      const response = await handler(buildRequest(fixture));
      return { status: response.status, body: await readJson(response) };
    });
    const values = results.map((r) => (r.status === "fulfilled" ? r.value : { status: 0, body: { error: String(r.reason) } }));
    expect(values.filter((v) => v.status !== 200)).toEqual([]);
    expect(values.filter((v) => v.body.deduped === false)).toHaveLength(1);
    expect(new Set(values.map((v) => v.body.messageId)).size).toBe(1);
    const after = await countRows(db.prisma);
    expect(after.messages).toBe(before.messages + 1);
    expect(after.jobs - before.jobs).toBe((fixture.meta.expect?.jobs ?? []).length);
  });
});

describe("negative control: a check-then-create handler", () => {
  it("the same checks catch it (a 5xx, or more than one fresh delivery or row) within a few rounds", async () => {
    // A race that cannot fail is not testing a race: mirror test/core/ingest.test.ts through the handler.
    const racy = createWebhookHandler({ db: db.prisma, strategy: "check-then-create", onEvent: () => undefined });
    const fixture = loadFixture("instantly/reply_received.json");
    let caught = 0;
    for (let round = 0; round < 5 && caught === 0; round++) {
      const rawBody = JSON.stringify({ ...(fixture.body as Record<string, unknown>), email_id: `racy-${randomUUID()}` });
      const plan = planDeliveryFor("instantly", JSON.parse(rawBody), new URL(BASE_URL));
      if (plan.kind !== "message") throw new Error("the fixture must plan a message");
      const results = await releaseTogether(N, async () => {
        const response = await racy(buildRequest(fixture, { rawBody }));
        return { status: response.status, body: await readJson(response) };
      });
      const values = results.map((r) => (r.status === "fulfilled" ? r.value : { status: 0, body: {} }));
      // Only the race may fail it: a 401 or 400 here would be a broken control, not a caught race.
      expect(values.filter((v) => v.status !== 200 && v.status !== 500)).toEqual([]);
      const failed = values.filter((v) => v.status === 500).length;
      const fresh = values.filter((v) => v.body.deduped === false).length;
      const rows = await db.prisma.message.count({ where: { [plan.unique.key]: plan.unique.value } });
      if (failed > 0 || fresh > 1 || rows > 1) caught++;
    }
    expect(caught).toBeGreaterThan(0);
  });
});

describe("POST /api/drafts/:id/send", () => {
  it("50 concurrent sends of one draft create one outbound message", async () => {
    const client = await db.prisma.client.findUniqueOrThrow({ where: { slug: "acme" } });
    const lead = await createLead(db.prisma, client.id);
    const draft = await db.prisma.aIDraft.create({ data: { clientId: client.id, leadId: lead.id, channel: "EMAIL", body: "Thanks!" } });
    const results = await releaseTogether(N, async () => {
      const response = await handler(draftSend(draft.id));
      return { status: response.status, body: await readJson(response) };
    });
    const values = results.map((r) => (r as PromiseFulfilledResult<{ status: number; body: Record<string, unknown> }>).value);
    expect(values.every((v) => v.status === 200)).toBe(true);
    expect(values.filter((v) => v.body.deduped === false)).toHaveLength(1);
    expect(await db.prisma.message.count({ where: { aiDraftId: draft.id } })).toBe(1);
  });

  it("unknown draft → 404, malformed id → 400, both write nothing", async () => {
    const before = await countRows(db.prisma);
    expect((await handler(draftSend(randomUUID()))).status).toBe(404);
    expect((await handler(draftSend("not-a-uuid"))).status).toBe(400);
    expect(await countRows(db.prisma)).toEqual(before);
  });

  it("needs the drafts secret and a JSON content type: a cross-site form post sends nothing", async () => {
    const client = await db.prisma.client.findUniqueOrThrow({ where: { slug: "acme" } });
    const lead = await createLead(db.prisma, client.id);
    const draft = await db.prisma.aIDraft.create({ data: { clientId: client.id, leadId: lead.id, channel: "EMAIL", body: "Not yet" } });
    const json = { "content-type": "application/json" };
    const attempts = [
      // What a browser form on another site can send: no credential, a form content type.
      new Request(`http://receiver.test/api/drafts/${draft.id}/send`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "a=b" }),
      draftSend(draft.id, { "content-type": "text/plain", authorization: `Bearer ${DRAFTS_SECRET}` }),
      draftSend(draft.id, json),
      draftSend(draft.id, { ...json, authorization: "Bearer wrong" }),
    ];
    const statuses = [];
    for (const request of attempts) statuses.push((await handler(request)).status);
    expect(statuses).toEqual([415, 415, 401, 401]);
    // A server without a drafts secret refuses every send.
    const unconfigured = createWebhookHandler({ db: db.prisma, onEvent: () => undefined });
    expect((await unconfigured(draftSend(draft.id))).status).toBe(401);
    expect(await db.prisma.message.count({ where: { aiDraftId: draft.id } })).toBe(0);
    // Positive control: the right secret sends it.
    expect((await handler(draftSend(draft.id))).status).toBe(200);
    expect(await db.prisma.message.count({ where: { aiDraftId: draft.id } })).toBe(1);
  });
});

describe("GHL history import", () => {
  const history = (location: string) => [
    { id: "hist-1", direction: "inbound", messageType: "TYPE_SMS", body: "old hello", contactId: "hist-contact", dateAdded: "2024-01-01T10:00:00Z", locationId: location },
    { id: "hist-2", direction: "outbound", messageType: "TYPE_SMS", body: "old reply", contactId: "hist-contact", dateAdded: "2024-01-01T10:05:00Z" },
    { id: "hist-3", direction: "outbound", messageType: "TYPE_EMAIL", body: "not sms", contactId: "hist-contact", dateAdded: "2024-01-01T10:06:00Z" },
  ];

  it("two imports of the same batch at once leave one row per message", async () => {
    const client = await db.prisma.client.findUniqueOrThrow({ where: { slug: "acme" } });
    const messages = history(client.ghlLocationId!);
    const [a, b] = await Promise.all([importGhlHistory(db.prisma, client.id, messages), importGhlHistory(db.prisma, client.id, messages)]);
    expect(a.created + b.created).toBe(2);
    expect(a.deduped + b.deduped).toBe(2);
    expect(a.skipped).toBe(1);
    expect(await db.prisma.message.count({ where: { ghlId: { startsWith: `ghl:${client.ghlLocationId}:hist-` } } })).toBe(2);
  });

  it("a later webhook delivery of an imported message is a dedupe", async () => {
    const client = await db.prisma.client.findUniqueOrThrow({ where: { slug: "acme" } });
    const fixture = loadFixture("ghl/inbound_message.json");
    const body = { ...(fixture.body as Record<string, unknown>), messageId: "hist-webhook-1" };
    await importGhlHistory(db.prisma, client.id, [{ ...body, id: "hist-webhook-1" }]);
    const response = await readJson(await handler(buildRequest(fixture, { rawBody: JSON.stringify(body) })));
    expect(response.deduped).toBe(true);
  });

  it("one malformed message rejects the batch before anything is written", async () => {
    const client = await db.prisma.client.findUniqueOrThrow({ where: { slug: "acme" } });
    const before = await countRows(db.prisma);
    await expect(importGhlHistory(db.prisma, client.id, [{ id: "ok-1", direction: "inbound", contactId: "c", dateAdded: "2024-01-01T00:00:00Z" }, { id: "bad" }])).rejects.toThrow(
      /\[1\]\.direction/,
    );
    expect(await countRows(db.prisma)).toEqual(before);
  });
});
