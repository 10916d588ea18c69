// The bad-input matrix, per route: each rejected delivery gets its documented
// status and leaves every table exactly as it was.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client.js";
import { countRows } from "../../src/db/sql.js";
import { createWebhookHandler } from "../../src/providers/router.js";
import type { ProviderName } from "../../src/providers/types.js";
import { useTestDb } from "../helpers/db.js";
import { buildRequest, loadFixture, readJson, seedFixtureClients, TEST_KEYS, type DeliveryOverrides } from "./support.js";

const db = await useTestDb(10);
const keys = { ghlEd25519PublicKey: TEST_KEYS.ed25519PublicKey, ghlRsaPublicKey: TEST_KEYS.rsaPublicKey };
const BODY_LIMIT = 4096;
const logged: string[] = [];
const handler = createWebhookHandler({ db: db.prisma, ...keys, bodyLimit: BODY_LIMIT, onEvent: (e) => logged.push(e.reason) });

type Json = Record<string, unknown>;
type Mutation = (body: Json) => void;

interface RouteSpec {
  fixture: string;
  wrongType: { mutate: Mutation; field: string };
  missingId: { mutate: Mutation; field: string };
  unknownEvent: Mutation;
  missingEvent: { mutate: Mutation; field: string };
  unknownClient: Mutation;
  wrongSecret: { mutate?: Mutation; overrides: DeliveryOverrides };
  missingSecret: { mutate?: Mutation; overrides: DeliveryOverrides };
}

const get = (o: Json, path: string): Json => path.split(".").reduce((acc, k) => acc[k] as Json, o);

const SPECS: Record<ProviderName, RouteSpec> = {
  emailbison: {
    fixture: "emailbison/lead_replied.json",
    wrongType: { mutate: (b) => void (get(b, "data.reply").id = { nested: true }), field: "data.reply.id" },
    missingId: { mutate: (b) => void delete get(b, "data.reply").id, field: "data.reply.id" },
    unknownEvent: (b) => void (get(b, "event").type = "LEAD_CATEGORY_UPDATED"),
    missingEvent: { mutate: (b) => void delete get(b, "event").type, field: "event.type" },
    unknownClient: (b) => void (get(b, "event").workspace_id = 999),
    wrongSecret: { overrides: { query: { token: "not-the-token" } } },
    missingSecret: { overrides: { client: null } },
  },
  ghl: {
    fixture: "ghl/inbound_message.json",
    wrongType: { mutate: (b) => void (b.messageId = { nested: true }), field: "messageId" },
    missingId: { mutate: (b) => void (delete b.messageId, delete b.dateAdded), field: "messageId" },
    unknownEvent: (b) => void (b.type = "ContactCreate"),
    missingEvent: { mutate: (b) => void delete b.type, field: "type" },
    unknownClient: (b) => void (b.locationId = "no-such-location"),
    // "Wrong secret" for GHL is a signature by someone else's key.
    wrongSecret: { overrides: { headers: { "x-ghl-signature": Buffer.alloc(64, 7).toString("base64") } } },
    missingSecret: { overrides: { sign: false } },
  },
  unipile: {
    fixture: "unipile/message_received_inbound.json",
    wrongType: { mutate: (b) => void (b.message_id = 12.5), field: "message_id" },
    missingId: { mutate: (b) => void delete b.message_id, field: "message_id" },
    unknownEvent: (b) => void (b.event = "message_reaction"),
    missingEvent: { mutate: (b) => void delete b.event, field: "event" },
    unknownClient: (b) => void (b.account_id = "no-such-account"),
    wrongSecret: { overrides: { headers: { "unipile-auth": "not-the-secret" } } },
    missingSecret: { overrides: { sign: false } },
  },
  smartlead: {
    fixture: "smartlead/email_reply.json",
    wrongType: { mutate: (b) => void (b.reply_message = "not an object"), field: "reply_message" },
    missingId: { mutate: (b) => void delete b.message_id, field: "message_id" },
    unknownEvent: (b) => void (b.event_type = "EMAIL_LINK_CLICK"),
    missingEvent: { mutate: (b) => void delete b.event_type, field: "event_type" },
    unknownClient: (b) => void (b.secret_key = "a-secret-no-client-has"),
    wrongSecret: { mutate: (b) => void (b.secret_key = "wrong"), overrides: { client: null, query: { clientId: "globex" } } },
    missingSecret: { mutate: (b) => void delete b.secret_key, overrides: { client: null, query: { clientId: "globex" } } },
  },
  instantly: {
    fixture: "instantly/reply_received.json",
    wrongType: { mutate: (b) => void (b.email_id = true), field: "email_id" },
    // Without email_id the key is derived from timestamp and the rest (src/providers/instantly); without both it is a 400.
    missingId: { mutate: (b) => void (delete b.email_id, delete b.timestamp), field: "email_id" },
    unknownEvent: (b) => void (b.event_type = "lead_meeting_booked"),
    missingEvent: { mutate: (b) => void delete b.event_type, field: "event_type" },
    unknownClient: (b) => void (b.workspace = "00000000-0000-4000-8000-000000000000"),
    wrongSecret: { overrides: { headers: { "x-instantly-secret": "not-the-secret" } } },
    missingSecret: { overrides: { sign: false } },
  },
};

let deadDb: ReturnType<typeof openDb>;
let deadHandler: ReturnType<typeof createWebhookHandler>;

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
  // A port nothing listens on: the pool's connects are refused at once.
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  deadDb = openDb({ url: `postgresql://postgres:x@127.0.0.1:${port}/nothing`, poolSize: 2 });
  deadHandler = createWebhookHandler({ db: deadDb.prisma, ...keys, onEvent: () => undefined });
});
afterAll(async () => {
  await deadDb?.close();
});

function mutated(fixtureName: string, mutate?: Mutation): string {
  const body = structuredClone(loadFixture(fixtureName).body) as Json;
  mutate?.(body);
  return JSON.stringify(body);
}

async function expectRejected(request: Request, status: number, field?: string, h = handler) {
  const before = await countRows(db.prisma);
  const response = await h(request);
  const body = await readJson(response);
  expect(response.status, JSON.stringify(body)).toBe(status);
  expect(body.success).toBe(false);
  if (field) expect(body.field).toBe(field);
  expect(await countRows(db.prisma)).toEqual(before);
  return { response, body };
}

describe.each(Object.entries(SPECS) as [ProviderName, RouteSpec][])("%s route", (_provider, spec) => {
  const fixture = () => loadFixture(spec.fixture);

  it("malformed JSON → 400", async () => {
    await expectRejected(buildRequest(fixture(), { rawBody: '{"type": "InboundMessage", ' }), 400, "body");
  });
  it("a JSON array instead of an object → 400", async () => {
    await expectRejected(buildRequest(fixture(), { rawBody: "[1,2]" }), 400, "body");
  });
  it("wrong type → 400 naming the field", async () => {
    const { body } = await expectRejected(buildRequest(fixture(), { rawBody: mutated(spec.fixture, spec.wrongType.mutate) }), 400, spec.wrongType.field);
    expect(String(body.error)).toContain(spec.wrongType.field);
  });
  it("missing unique id → 400 naming the field", async () => {
    await expectRejected(buildRequest(fixture(), { rawBody: mutated(spec.fixture, spec.missingId.mutate) }), 400, spec.missingId.field);
  });
  it("missing event type → 400", async () => {
    await expectRejected(buildRequest(fixture(), { rawBody: mutated(spec.fixture, spec.missingEvent.mutate) }), 400, spec.missingEvent.field);
  });
  it("unknown event type → 200 ignored, nothing written", async () => {
    const before = await countRows(db.prisma);
    const response = await handler(buildRequest(fixture(), { rawBody: mutated(spec.fixture, spec.unknownEvent) }));
    expect(response.status).toBe(200);
    expect(await readJson(response)).toMatchObject({ success: true, ignored: true, deduped: false, messageId: null });
    expect(await countRows(db.prisma)).toEqual(before);
  });
  it("wrong secret / bad signature → 401", async () => {
    await expectRejected(buildRequest(fixture(), { rawBody: mutated(spec.fixture, spec.wrongSecret.mutate), ...spec.wrongSecret.overrides }), 401);
  });
  it("missing secret / signature → 401", async () => {
    const { body } = await expectRejected(buildRequest(fixture(), { rawBody: mutated(spec.fixture, spec.missingSecret.mutate), ...spec.missingSecret.overrides }), 401);
    // Says what to send, not just "unauthorized".
    expect(String(body.error)).toMatch(/missing/i);
  });
  it("unknown client → 404", async () => {
    const { body } = await expectRejected(buildRequest(fixture(), { rawBody: mutated(spec.fixture, spec.unknownClient) }), 404);
    // How to register it is for the operator's log, not the caller.
    expect(String(body.error)).not.toMatch(/clients add/);
    expect(logged.at(-1)).toMatch(/dedupe-cli clients add --slug <slug> --[a-z-]+ <value>, or put \?clientId=/);
  });
  it("unknown ?clientId= → 404", async () => {
    const { body } = await expectRejected(buildRequest(fixture(), { query: { clientId: "no-such-client" } }), 404);
    expect(String(body.error)).toContain('"no-such-client"');
  });
  it("wrong content type → 415", async () => {
    await expectRejected(buildRequest(fixture(), { headers: { "content-type": "text/plain" } }), 415);
  });
  it("oversized body (declared) → 413", async () => {
    const big = JSON.stringify({ ...(fixture().body as Json), padding: "x".repeat(BODY_LIMIT) });
    await expectRejected(buildRequest(fixture(), { rawBody: big }), 413);
  });
  it("oversized body (streamed, no Content-Length) → 413", async () => {
    const big = Buffer.from(JSON.stringify({ ...(fixture().body as Json), padding: "x".repeat(BODY_LIMIT) }));
    const template = buildRequest(fixture(), { rawBody: big });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < big.length; i += 1000) controller.enqueue(big.subarray(i, i + 1000));
        controller.close();
      },
    });
    const request = new Request(template.url, { method: "POST", headers: template.headers, body: stream, duplex: "half" } as RequestInit);
    expect(request.headers.get("content-length")).toBeNull();
    await expectRejected(request, 413);
  });
  it("database down → 503 with Retry-After, nothing written", async () => {
    const { response } = await expectRejected(buildRequest(fixture()), 503, undefined, deadHandler);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
  });
  it("GET → 405", async () => {
    const template = buildRequest(fixture());
    const response = await handler(new Request(template.url, { method: "GET" }));
    expect(response.status).toBe(405);
  });
});

describe("routing", () => {
  it("an unknown path → 404", async () => {
    const response = await handler(new Request("http://receiver.test/api/webhooks/nope", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }));
    expect(response.status).toBe(404);
  });

  it("a non-GET /healthz → 405 with Allow: GET", async () => {
    const response = await handler(new Request("http://receiver.test/healthz", { method: "POST", body: "{}" }));
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET");
    expect((await handler(new Request("http://receiver.test/healthz"))).status).toBe(200);
  });

  it("a malformed percent escape in the draft id → 400 naming it, not a 500", async () => {
    const draftHandler = createWebhookHandler({ db: db.prisma, draftsSecret: "s", onEvent: () => undefined });
    const headers = { "content-type": "application/json", authorization: "Bearer s" };
    const { body } = await expectRejected(new Request("http://receiver.test/api/drafts/%E0%A4%A/send", { method: "POST", headers, body: "{}" }), 400, "id", draftHandler);
    expect(String(body.error)).toContain("%E0%A4%A");
  });

  it("malformed JSON → 400 saying why, without quoting the body back", async () => {
    const fixture = loadFixture("smartlead/email_reply.json");
    const { body } = await expectRejected(buildRequest(fixture, { rawBody: "secret_key=4f7c8d23-a619-58c2" }), 400, "body");
    expect(String(body.error)).toMatch(/^body is not valid JSON: Unexpected token/);
    expect(String(body.error)).not.toContain("secret_key");
    const { body: truncated } = await expectRejected(buildRequest(fixture, { rawBody: '{"event_type": ' }), 400, "body");
    expect(String(truncated.error)).toBe("body is not valid JSON: Unexpected end of JSON input");
  });

  it("an EmailBison workspace id two clients share, with no instance_url → 404, the log saying it is ambiguous", async () => {
    await db.prisma.client.createMany({
      data: [
        { slug: "eb-shared-a", name: "a", emailBisonWorkspaceId: "77", emailBisonInstanceUrl: "https://a.emailbison.test" },
        { slug: "eb-shared-b", name: "b", emailBisonWorkspaceId: "77", emailBisonInstanceUrl: "https://b.emailbison.test" },
      ],
    });
    const shared = (b: Json) => void ((get(b, "event").workspace_id = 77), delete get(b, "event").instance_url);
    const { body } = await expectRejected(buildRequest(loadFixture("emailbison/lead_replied.json"), { rawBody: mutated("emailbison/lead_replied.json", shared) }), 404);
    expect(logged.at(-1)).toMatch(/EmailBison workspace 77 is ambiguous.*event\.instance_url.*\?clientId=/);
    expect(String(body.error)).not.toContain("ambiguous");
    // Other clients' slugs are not an unauthenticated caller's business.
    expect(String(body.error)).not.toContain("eb-shared");
  });
});

describe("NUL characters (PostgreSQL text cannot store U+0000)", () => {
  const instantly = "instantly/reply_received.json";

  it("a NUL in an id → 400 naming the field, nothing written", async () => {
    const { body } = await expectRejected(buildRequest(loadFixture(instantly), { rawBody: mutated(instantly, (b) => void (b.email_id = "id-with-\u0000-nul")) }), 400, "email_id");
    expect(String(body.error)).toMatch(/NUL/);
  });

  it("a NUL in the lead's email → 400 naming the field", async () => {
    await expectRejected(buildRequest(loadFixture(instantly), { rawBody: mutated(instantly, (b) => void (b.lead_email = "lead\u0000@example.com")) }), 400, "lead_email");
  });

  it("a NUL in SmartLead's secret_key → 400 before the secret is looked up", async () => {
    const smartlead = "smartlead/email_reply.json";
    await expectRejected(buildRequest(loadFixture(smartlead), { client: null, rawBody: mutated(smartlead, (b) => void (b.secret_key = "4f7c\u0000")) }), 400, "secret_key");
  });

  it("a NUL in ?clientId= → 400", async () => {
    await expectRejected(buildRequest(loadFixture(instantly), { query: { clientId: "globex\u0000" } }), 400, "clientId");
  });

  it("a NUL in free text is dropped: the message is stored without it", async () => {
    const id = `nul-body-${Date.now()}`;
    const response = await handler(buildRequest(loadFixture(instantly), { rawBody: mutated(instantly, (b) => void Object.assign(b, { email_id: id, reply_text: "hello\u0000 world", reply_subject: "Re\u0000: hi" })) }));
    const body = await readJson(response);
    expect(response.status, JSON.stringify(body)).toBe(200);
    const row = await db.prisma.message.findUniqueOrThrow({ where: { id: body.messageId as string } });
    expect(row).toMatchObject({ body: "hello world", subject: "Re: hi" });
  });
});
