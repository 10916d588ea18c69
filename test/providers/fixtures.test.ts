// Every fixture through the in-process Fetch handler: the first delivery
// writes exactly what its plan says (one Message, its jobs; nothing for an
// ignored event), the second is a dedupe that writes nothing.
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { countRows, countJobsForMessage } from "../../src/db/sql.js";
import { planDeliveryFor } from "../../src/providers/registry.js";
import { createProviderHandler, createWebhookHandler } from "../../src/providers/router.js";
import { PROVIDER_ENUM } from "../../src/providers/types.js";
import { useTestDb } from "../helpers/db.js";
import { BASE_URL, buildRequest, clearMessages, loadAllFixtures, loadFixture, readJson, seedFixtureClients, TEST_KEYS } from "./support.js";

const db = await useTestDb(20);
const handler = createWebhookHandler({ db: db.prisma, ghlEd25519PublicKey: TEST_KEYS.ed25519PublicKey, ghlRsaPublicKey: TEST_KEYS.rsaPublicKey });
const fixtures = loadAllFixtures();
const rel = (path: string) => path.split("/fixtures/")[1]!;

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
});
beforeEach(async () => {
  await clearMessages(db.prisma);
});

describe("fixtures through the in-process handler", () => {
  it("covers every event the issue lists", () => {
    const names = fixtures.map((f) => rel(f.path));
    for (const expected of [
      "emailbison/lead_replied.json",
      "emailbison/lead_interested.json",
      "emailbison/untracked_reply_received.json",
      "emailbison/untracked_reply_bounce.json",
      "emailbison/email_bounced.json",
      "emailbison/email_sent.json",
      "emailbison/email_opened.json",
      "ghl/inbound_message.json",
      "ghl/outbound_message.json",
      "ghl/inbound_message_no_id.json",
      "unipile/message_received_inbound.json",
      "unipile/message_received_outbound.json",
      "smartlead/email_reply.json",
      "smartlead/email_sent.json",
      "instantly/reply_received.json",
      "instantly/email_sent.json",
    ]) {
      expect(names).toContain(expected);
    }
  });

  it.each(fixtures.map((f) => [rel(f.path), f] as const))("%s: first delivery writes its plan, second is a dedupe", async (_name, fixture) => {
    const plan = planDeliveryFor(fixture.provider, fixture.body, new URL(BASE_URL));
    expect(plan.kind).toBe(fixture.meta.expect?.outcome === "ignored" ? "ignored" : "message");
    const before = await countRows(db.prisma);

    const first = await handler(buildRequest(fixture));
    const firstBody = await readJson(first);
    expect(first.status, JSON.stringify(firstBody)).toBe(fixture.meta.expect?.status ?? 200);
    expect(firstBody).toMatchObject({ success: true, deduped: false, eventType: plan.eventType });
    const afterFirst = await countRows(db.prisma);

    if (plan.kind === "ignored") {
      expect(firstBody).toMatchObject({ ignored: true, messageId: null });
      expect(afterFirst).toEqual(before);
    } else {
      expect(afterFirst.messages).toBe(before.messages + 1);
      expect(afterFirst.jobs).toBe(before.jobs + plan.jobTypes.length);
      const messageId = firstBody.messageId as string;
      const row = await db.prisma.message.findUniqueOrThrow({ where: { id: messageId }, include: { lead: true } });
      expect(row[plan.unique.key]).toBe(plan.unique.value);
      expect(row).toMatchObject({ provider: PROVIDER_ENUM[fixture.provider], direction: plan.direction, channel: plan.channel, body: plan.body });
      expect(row.lead[plan.lead.key]).toBe(plan.lead.value);
      const jobs = await countJobsForMessage(db.prisma, messageId);
      expect(jobs.map((j) => j.type).sort()).toEqual([...(fixture.meta.expect?.jobs ?? [])].sort());
      expect(jobs.every((j) => j.n === 1)).toBe(true);
    }

    const second = await handler(buildRequest(fixture));
    const secondBody = await readJson(second);
    expect(second.status).toBe(200);
    expect(secondBody).toMatchObject({ success: true, deduped: plan.kind === "message", messageId: firstBody.messageId });
    expect(await countRows(db.prisma)).toEqual(afterFirst);
  });
});

describe("provider semantics", () => {
  it("LEAD_INTERESTED after LEAD_REPLIED for the same reply is the same message", async () => {
    const replied = await readJson(await handler(buildRequest(loadFixture("emailbison/lead_replied.json"))));
    const interested = await readJson(await handler(buildRequest(loadFixture("emailbison/lead_interested.json"))));
    expect(replied.deduped).toBe(false);
    expect(interested).toMatchObject({ deduped: true, messageId: replied.messageId, eventType: "LEAD_INTERESTED" });
    expect((await countRows(db.prisma)).messages).toBe(1);
  });

  it("the same provider id from two providers lands in two rows (namespacing)", async () => {
    const instantly = loadFixture("instantly/reply_received.json");
    const smartlead = loadFixture("smartlead/email_reply.json");
    const sharedId = "<same-id@example.com>";
    const a = await readJson(await handler(buildRequest(instantly, { rawBody: JSON.stringify({ ...(instantly.body as object), email_id: sharedId }) })));
    const b = await readJson(await handler(buildRequest(smartlead, { rawBody: JSON.stringify({ ...(smartlead.body as object), message_id: sharedId }) })));
    expect(a.deduped).toBe(false);
    expect(b.deduped).toBe(false);
    expect(a.messageId).not.toBe(b.messageId);
  });

  it("GHL outbound retries with originalMessageId dedupe onto the original", async () => {
    const outbound = loadFixture("ghl/outbound_message.json");
    const original = outbound.body as Record<string, unknown>;
    const first = await readJson(await handler(buildRequest(outbound)));
    const retryBody = JSON.stringify({ ...original, messageId: "ghl-msg-outbound-retry", originalMessageId: original.messageId });
    const retry = await readJson(await handler(buildRequest(outbound, { rawBody: retryBody })));
    expect(retry).toMatchObject({ deduped: true, messageId: first.messageId });
  });

  it("createProviderHandler (one Next.js route) ingests its provider's delivery and dedupes the retry", async () => {
    const route = createProviderHandler("instantly", { db: db.prisma });
    const fixture = loadFixture("instantly/reply_received.json");
    const plan = planDeliveryFor("instantly", fixture.body, new URL(BASE_URL));
    const first = await route(buildRequest(fixture));
    const firstBody = await readJson(first);
    expect(first.status, JSON.stringify(firstBody)).toBe(200);
    expect(firstBody).toMatchObject({ success: true, deduped: false, eventType: "reply_received" });
    const second = await readJson(await route(buildRequest(fixture)));
    expect(second).toMatchObject({ success: true, deduped: true, messageId: firstBody.messageId });
    expect(plan.kind).toBe("message");
    if (plan.kind === "message") expect(await db.prisma.message.count({ where: { [plan.unique.key]: plan.unique.value } })).toBe(1);
  });

  it("?clientId= picks the client for any provider (slug or uuid)", async () => {
    const fixture = loadFixture("instantly/email_sent.json");
    const body = { ...(fixture.body as Record<string, unknown>) };
    delete body.workspace;
    const globex = await db.prisma.client.findUniqueOrThrow({ where: { slug: "globex" } });
    const bySlug = await handler(buildRequest(fixture, { rawBody: JSON.stringify(body), query: { clientId: "globex" } }));
    expect(bySlug.status).toBe(200);
    const byId = await readJson(await handler(buildRequest(fixture, { rawBody: JSON.stringify(body), query: { clientId: globex.id } })));
    // The scope falls back to the ?clientId= value, so slug and uuid URLs are different webhooks.
    expect(byId).toMatchObject({ success: true });
    const row = await db.prisma.message.findUniqueOrThrow({ where: { id: byId.messageId as string } });
    expect(row.clientId).toBe(globex.id);
  });
});
