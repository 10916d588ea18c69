// Issue 12 items 4 and 5: deliveries PostgreSQL would reject (a 500 that a
// provider retries forever) or silently merge are refused with a 400 naming
// the field, and write nothing.
import { randomBytes, randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { countRows } from "../../src/db/sql.js";
import { createWebhookHandler, type HandlerEvent } from "../../src/providers/router.js";
import { useTestDb } from "../helpers/db.js";
import { buildRequest, loadFixture, readJson, seedFixtureClients, TEST_KEYS } from "./support.js";

const db = await useTestDb(6);
const failures: HandlerEvent[] = [];
const handler = createWebhookHandler({
  db: db.prisma,
  ghlEd25519PublicKey: TEST_KEYS.ed25519PublicKey,
  ghlRsaPublicKey: TEST_KEYS.rsaPublicKey,
  onEvent: (event) => event.level === "error" && failures.push(event),
});

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
});

type Json = Record<string, unknown>;

/** Incompressible text: PostgreSQL cannot squeeze it under the btree entry limit. */
function incompressible(bytes: number): string {
  return randomBytes(bytes).toString("base64").slice(0, bytes);
}

interface Case {
  fixture: string;
  field: string;
  set: (body: Json, value: unknown) => void;
}

const ID_CASES: Case[] = [
  { fixture: "instantly/reply_received.json", field: "email_id", set: (b, v) => void (b.email_id = v) },
  { fixture: "emailbison/lead_replied.json", field: "data.reply.id", set: (b, v) => void (((b.data as Json).reply as Json).id = v) },
  { fixture: "unipile/message_received_inbound.json", field: "message_id", set: (b, v) => void (b.message_id = v) },
  { fixture: "ghl/inbound_message.json", field: "messageId", set: (b, v) => void (b.messageId = v) },
  { fixture: "smartlead/email_reply.json", field: "message_id", set: (b, v) => void (b.message_id = v) },
];

const LEAD_CASES: Case[] = [
  { fixture: "instantly/reply_received.json", field: "lead_email", set: (b, v) => void (b.lead_email = `${v}@example.com`) },
  { fixture: "ghl/inbound_message.json", field: "contactId", set: (b, v) => void (b.contactId = v) },
  { fixture: "unipile/message_received_inbound.json", field: "sender.attendee_provider_id", set: (b, v) => void ((b.sender as Json).attendee_provider_id = v) },
];

const DATE_CASES: Case[] = [
  { fixture: "instantly/reply_received.json", field: "timestamp", set: (b, v) => void (b.timestamp = v) },
  { fixture: "ghl/inbound_message.json", field: "dateAdded", set: (b, v) => void (b.dateAdded = v) },
  { fixture: "emailbison/lead_replied.json", field: "data.reply.date_received", set: (b, v) => void (((b.data as Json).reply as Json).date_received = v) },
  { fixture: "unipile/message_received_inbound.json", field: "timestamp", set: (b, v) => void (b.timestamp = v) },
];

function deliver(c: Case, value: unknown, id = `poison-${randomUUID()}`) {
  const body = structuredClone(loadFixture(c.fixture).body) as Json;
  // A fresh id, so the case is judged on a new message rather than a duplicate.
  ID_CASES.find((i) => i.fixture === c.fixture)!.set(body, id);
  c.set(body, value);
  return handler(buildRequest(loadFixture(c.fixture), { rawBody: JSON.stringify(body) }));
}

async function expect400(c: Case, value: unknown) {
  const before = await countRows(db.prisma);
  const response = await deliver(c, value);
  const body = await readJson(response);
  expect(response.status, JSON.stringify(body).slice(0, 300)).toBe(400);
  expect(body.field).toBe(c.field);
  expect(await countRows(db.prisma)).toEqual(before);
}

describe("identifiers longer than a btree index entry", () => {
  it.each(ID_CASES.map((c) => [c.fixture, c] as const))("%s: a 3000-byte id → 400 naming the field", async (_name, c) => {
    await expect400(c, incompressible(3000));
  });
  it.each(LEAD_CASES.map((c) => [c.fixture, c] as const))("%s: a 3000-byte lead key → 400 naming the field", async (_name, c) => {
    await expect400(c, incompressible(3000));
  });
  it("positive control: a 1000-byte id is stored", async () => {
    const response = await deliver(ID_CASES[0]!, incompressible(1000), incompressible(1000));
    expect(response.status, JSON.stringify(await readJson(response))).toBe(200);
  });
});

describe("dates Date.parse accepts but timestamp(3) rejects", () => {
  const dates = ["+010000-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "-000001-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00"];
  it.each(DATE_CASES.flatMap((c) => dates.map((d) => [c.fixture, d, c] as const)))("%s: %s → 400 naming the field", async (_name, date, c) => {
    await expect400(c, date);
  });
  it("positive control: years 1 and 9999 are stored", async () => {
    for (const date of ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]) {
      const response = await deliver(DATE_CASES[0]!, date);
      expect(response.status, JSON.stringify(await readJson(response))).toBe(200);
    }
  });
});

describe("ids with lone UTF-16 surrogates", () => {
  it.each(ID_CASES.map((c) => [c.fixture, c] as const))("%s: refused with 400, never merged with another id", async (_name, c) => {
    const base = `surrogate-${randomUUID()}`;
    await expect400(c, `${base}\ud800`);
    await expect400(c, `${base}\udfff`);
  });
  it("positive control: a well-formed astral character (a surrogate pair) is an ordinary id", async () => {
    const response = await deliver(ID_CASES[0]!, `pair-${randomUUID()}-\u{1F600}`);
    expect(response.status, JSON.stringify(await readJson(response))).toBe(200);
  });
});

describe("no poison reaches the database", () => {
  it("not one delivery above was answered 500", () => {
    expect(failures).toEqual([]);
  });
});
