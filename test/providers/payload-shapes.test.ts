// The payload shapes beyond each provider's headline events: GHL workflow
// webhooks (derived key, per-client workflow secret), GHL conversation-
// provider deliveries, SmartLead untracked and threaded replies, EmailBison
// event-name casings, Instantly without email_id, and documented events the
// product ignores. Planning is pure; authentication runs through the real
// router on a real database.
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { countRows } from "../../src/db/sql.js";
import { planDeliveryFor } from "../../src/providers/registry.js";
import { createWebhookHandler } from "../../src/providers/router.js";
import { upsertClient } from "../../src/providers/client-store.js";
import { signGhlEd25519 } from "../../src/providers/sign.js";
import { PROVIDER_ROUTES, type DeliveryPlan, type ProviderName } from "../../src/providers/types.js";
import { useTestDb } from "../helpers/db.js";
import { BASE_URL, buildRequest, clearMessages, CLIENTS, loadFixture, readJson, seedFixtureClients, TEST_KEYS } from "./support.js";

const db = await useTestDb(10);
const logged: string[] = [];
const handler = createWebhookHandler({ db: db.prisma, ghlEd25519PublicKey: TEST_KEYS.ed25519PublicKey, ghlRsaPublicKey: TEST_KEYS.rsaPublicKey, onEvent: (e) => logged.push(e.reason) });
const workflow = loadFixture("ghl/workflow_inbound_sms.json");
const workflowBody = workflow.body as Record<string, unknown>;
const WORKFLOW_SECRET = CLIENTS.find((c) => c.slug === "acme")!.ghlWorkflowSecret!;
const ghlUrl = new URL(PROVIDER_ROUTES.ghl, BASE_URL);

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
});
beforeEach(async () => {
  await clearMessages(db.prisma);
});

function plan(provider: ProviderName, body: unknown, url = new URL(PROVIDER_ROUTES[provider], BASE_URL)): DeliveryPlan {
  return planDeliveryFor(provider, body, url);
}

function messagePlan(provider: ProviderName, body: unknown) {
  const p = plan(provider, body);
  if (p.kind !== "message") throw new Error(`expected a message plan, got ${p.kind}: ${p.reason}`);
  return p;
}

/** A JSON object whose top-level values are objects (enough to edit fixtures in place). */
type Nested = Record<string, Record<string, unknown> | undefined>;

/** The workflow fixture with some fields replaced (deep enough for message/customData/workflow). */
function workflowWith(changes: { body?: string; customData?: Record<string, unknown>; workflowId?: string; type?: unknown; locationId?: string }) {
  const copy = structuredClone(workflowBody) as Nested;
  if (changes.body !== undefined) copy.message!.body = changes.body;
  if (changes.customData !== undefined) copy.customData = changes.customData;
  if (changes.workflowId !== undefined) copy.workflow!.id = changes.workflowId;
  if (changes.type !== undefined) (copy as Record<string, unknown>).type = changes.type;
  if (changes.locationId !== undefined) copy.location!.id = changes.locationId;
  return copy;
}

function postWorkflow(body: unknown, headers: Record<string, string> = {}, query = "") {
  return handler(new Request(`${ghlUrl}${query}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) }));
}

describe("GHL workflow webhooks: the derived key", () => {
  it("keys a retry (the same body) identically and names the fields it is derived from", () => {
    const a = messagePlan("ghl", workflowBody);
    const b = messagePlan("ghl", structuredClone(workflowBody));
    expect(a.unique.value).toBe(b.unique.value);
    expect(a.unique.value).toMatch(/^ghl:l1C08ntBrFjLS0elLIYU:wf-[0-9a-f]{64}$/);
    expect(a.unique.derivedFrom).toEqual(["location.id", "contact_id", "workflow.id", "date_created", "customData.Date", "customData.Time", "message.body (whitespace collapsed)"]);
    expect(a).toMatchObject({ eventType: "WorkflowWebhook", channel: "SMS", direction: "INBOUND", lead: { key: "ghlContactId", value: "cI08i1Bls3iTB9bKgFJh", firstName: "Jordan" } });
  });

  it("tells two messages apart by the customData timestamp, the text or the workflow", () => {
    const base = messagePlan("ghl", workflowBody).unique.value;
    const laterMinute = messagePlan("ghl", workflowWith({ customData: { ...(workflowBody.customData as object), Time: "3:05 PM" } })).unique.value;
    const otherText = messagePlan("ghl", workflowWith({ body: "No, Friday please" })).unique.value;
    const otherWorkflow = messagePlan("ghl", workflowWith({ workflowId: "another-workflow" })).unique.value;
    expect(new Set([base, laterMinute, otherText, otherWorkflow]).size).toBe(4);
  });

  it("documented collision: without customData timestamps the same text from the same contact is one key", () => {
    const noDate = loadFixture("ghl/workflow_inbound_sms_no_date.json").body;
    expect(messagePlan("ghl", noDate).unique.derivedFrom).not.toContain("customData.Date");
    expect(messagePlan("ghl", noDate).unique.value).toBe(messagePlan("ghl", structuredClone(noDate)).unique.value);
  });

  it("whitespace-only differences in the body do not change the key", () => {
    const spaced = workflowWith({ body: "  Yes,  Thursday at 3\nworks for me " });
    expect(messagePlan("ghl", spaced).unique.value).toBe(messagePlan("ghl", workflowBody).unique.value);
  });

  it("non-SMS message types and empty bodies are ignored with a reason, never a 400", () => {
    const email = structuredClone(workflowBody) as Nested;
    email.message!.type = 3;
    expect(plan("ghl", email)).toMatchObject({ kind: "ignored", reason: expect.stringMatching(/type 3 is not SMS/) });
    const empty = workflowWith({ body: "   ", customData: {} });
    expect(plan("ghl", empty)).toMatchObject({ kind: "ignored", reason: expect.stringMatching(/no message body/) });
  });

  it("a workflow body without contact_id is a 400 naming the field", () => {
    const { contact_id: _dropped, ...rest } = workflowBody;
    expect(() => plan("ghl", rest)).toThrow(/contact_id/);
  });
});

describe("GHL workflow webhooks: authentication", () => {
  it.each([
    ["X-Webhook-Secret header", { "x-webhook-secret": WORKFLOW_SECRET }, ""],
    ["?secret= on the URL", {}, `?secret=${WORKFLOW_SECRET}`],
    ["Authorization: Bearer", { authorization: `Bearer ${WORKFLOW_SECRET}` }, ""],
  ])("accepts the client's workflow secret as %s (unsigned) and dedupes the retry", async (_how, headers, query) => {
    const first = await postWorkflow(workflowBody, headers, query);
    expect(first.status, JSON.stringify(await first.clone().json())).toBe(200);
    expect(await readJson(first)).toMatchObject({ deduped: false, eventType: "WorkflowWebhook" });
    expect(await readJson(await postWorkflow(workflowBody, headers, query))).toMatchObject({ deduped: true });
    expect((await countRows(db.prisma)).messages).toBe(1);
  });

  it.each([
    ["no secret", {}],
    ["a wrong secret", { "x-webhook-secret": "not-the-secret" }],
    ["a valid GHL signature but no secret", { "x-ghl-signature": signGhlEd25519(workflow.rawBody, TEST_KEYS.ed25519PrivateKey) }],
  ])("refuses a workflow delivery with %s (401) and writes nothing", async (_what, headers) => {
    const before = await countRows(db.prisma);
    const response = handler(new Request(ghlUrl, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: workflow.rawBody }));
    const answer = await response;
    expect(answer.status).toBe(401);
    expect(String((await readJson(answer)).error)).toMatch(/GHL workflow secret|X-Webhook-Secret/);
    expect(await countRows(db.prisma)).toEqual(before);
  });

  it("a client without a workflow secret configured is refused; the log (not the answer) names the flag that sets it", async () => {
    await upsertClient(db.prisma, { slug: "no-wf-secret", ghlLocationId: "loc-without-wf-secret" });
    const answer = await postWorkflow(workflowWith({ locationId: "loc-without-wf-secret" }), { "x-webhook-secret": WORKFLOW_SECRET });
    expect(answer.status).toBe(401);
    // The answer is the wrong-secret one, so callers cannot tell which clients have secrets.
    expect(String((await readJson(answer)).error)).not.toMatch(/--ghl-workflow-secret|no-wf-secret/);
    expect(logged.at(-1)).toMatch(/--ghl-workflow-secret/);
    expect((await countRows(db.prisma)).messages).toBe(0);
  });

  it("the secret of one client does not let a body naming another client's location in (?clientId= chooses acme)", async () => {
    await upsertClient(db.prisma, { slug: "other-location", ghlLocationId: "loc-other-client", ghlWorkflowSecret: "other-secret" });
    const answer = await postWorkflow(workflowWith({ locationId: "loc-other-client" }), { "x-webhook-secret": WORKFLOW_SECRET }, "?clientId=acme");
    expect(answer.status).toBe(401);
    expect((await countRows(db.prisma)).messages).toBe(0);
  });

  it("an unsigned body with a string `type` is a Marketplace event: looking like a workflow does not skip the signature", async () => {
    const disguised = workflowWith({ type: "InboundMessage" });
    const answer = await postWorkflow(disguised, { "x-webhook-secret": WORKFLOW_SECRET });
    expect(answer.status).toBe(401);
    expect(String((await readJson(answer)).error)).toMatch(/missing signature/);
    // Positive control: the Marketplace fixture, signed, is accepted on the same route.
    expect((await handler(buildRequest(loadFixture("ghl/inbound_message.json")))).status).toBe(200);
  });
});

describe("GHL ProviderOutboundMessage", () => {
  const fixture = loadFixture("ghl/provider_outbound_message.json");

  it("plans an outbound SMS keyed on messageId; Email is ignored", () => {
    expect(messagePlan("ghl", fixture.body)).toMatchObject({ eventType: "ProviderOutboundMessage", direction: "OUTBOUND", body: "The text message to be sent to the contact", jobTypes: [] });
    expect(plan("ghl", loadFixture("ghl/provider_outbound_email.json").body)).toMatchObject({ kind: "ignored" });
  });

  it("accepts the Ed25519 signature and refuses an RSA-only one (GHL signs these with Ed25519 only)", async () => {
    const rsa = handler(buildRequest(fixture, { ghlScheme: "rsa" }));
    expect((await rsa).status).toBe(401);
    expect((await countRows(db.prisma)).messages).toBe(0);
    expect((await handler(buildRequest(fixture))).status).toBe(200);
    expect((await countRows(db.prisma)).messages).toBe(1);
  });
});

describe("the rest of the catalogue", () => {
  it("SmartLead UNTRACKED_REPLIES: an inbound reply keyed on reply_message.message_id, lead from sender_detail", () => {
    const p = messagePlan("smartlead", loadFixture("smartlead/untracked_replies.json").body);
    expect(p).toMatchObject({ eventType: "UNTRACKED_REPLIES", direction: "INBOUND", lead: { key: "email", value: "sunita@example.com" }, body: "Hi, who is this?\n" });
    expect(p.unique.rawId).toMatch(/^<CAJZgRaRf/);
  });

  it("SmartLead threaded reply: new fields win and the deprecated ones sent as \"\" are absent, not a 400", () => {
    const p = messagePlan("smartlead", loadFixture("smartlead/email_reply_threaded.json").body);
    expect(p).toMatchObject({ unique: { rawId: "<CAOreply-olivia-0001@mail.example.com>" }, body: "Sure, send me the deck.", lead: { value: "olivia.reed@example.com" } });
  });

  it.each(["lead_replied", "Lead Replied", "LeadReplied", "lead-replied", "LEAD_REPLIED"])("EmailBison event type %j is LEAD_REPLIED", (type) => {
    const body = structuredClone(loadFixture("emailbison/lead_replied.json").body) as Nested;
    body.event!.type = type;
    expect(messagePlan("emailbison", body).eventType).toBe("LEAD_REPLIED");
  });

  it("Instantly without email_id: a derived key, stable for a retry, naming its fields", () => {
    const body = loadFixture("instantly/reply_received_no_email_id.json").body;
    const a = messagePlan("instantly", body);
    expect(a.unique.rawId).toMatch(/^ev-[0-9a-f]{64}$/);
    expect(a.unique.derivedFrom).toContain("timestamp");
    expect(messagePlan("instantly", structuredClone(body)).unique.value).toBe(a.unique.value);
    const later = { ...(body as object), timestamp: "2026-11-28T09:41:03.000Z" };
    expect(messagePlan("instantly", later).unique.value).not.toBe(a.unique.value);
  });

  it.each([
    ["smartlead", { event_type: "LEAD_CATEGORY_UPDATED", stats_id: "", secret_key: "" }],
    ["smartlead", { event_type: "EMAIL_BOUNCE", stats_id: "" }],
    ["emailbison", { event: { type: "lead_unsubscribed", workspace_id: "" }, data: null }],
    ["instantly", { event_type: "auto_reply_received", email_id: "" }],
    ["unipile", { event: "message_read", account_id: "" }],
    ["ghl", { type: "ContactCreate", locationId: "l1C08ntBrFjLS0elLIYU" }],
  ] as const)("%s: a documented event the product ignores is `ignored` with a reason even with odd fields (%j)", (provider, body) => {
    const p = plan(provider, body);
    expect(p.kind).toBe("ignored");
    expect(p.kind === "ignored" && p.reason).toMatch(/not/);
  });
});
