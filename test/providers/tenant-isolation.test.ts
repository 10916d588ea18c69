// Issue 12 item 1: a tenant with its own valid secret must not be able to
// store another tenant's message ids ("squatting"). Mallory posts Acme's
// (or Globex's) payload with ?clientId=mallory and Mallory's own secret; the
// genuine delivery must then still be stored as new, under its own client.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { countRows } from "../../src/db/sql.js";
import type { ClientConfig } from "../../src/providers/client-config.js";
import { upsertClients } from "../../src/providers/client-store.js";
import { createWebhookHandler, type HandlerEvent } from "../../src/providers/router.js";
import type { ProviderName } from "../../src/providers/types.js";
import { useTestDb } from "../helpers/db.js";
import { buildRequest, clientFor, loadFixture, readJson, seedFixtureClients, TEST_KEYS } from "./support.js";

const db = await useTestDb(10);
const events: HandlerEvent[] = [];
const handler = createWebhookHandler({
  db: db.prisma,
  ghlEd25519PublicKey: TEST_KEYS.ed25519PublicKey,
  ghlRsaPublicKey: TEST_KEYS.rsaPublicKey,
  clientCacheTtlMs: 0,
  onEvent: (event) => events.push(event),
});

/** Mallory: a real tenant with her own workspaces and secrets for every provider. */
const MALLORY: ClientConfig = {
  slug: "mallory",
  name: "Mallory",
  emailBisonInstanceUrl: "https://dedi.emailbison.com",
  emailBisonWorkspaceId: "666",
  emailBisonWebhookToken: "mallory-eb-token",
  ghlLocationId: "mallory-location",
  unipileAccountId: "mallory-account",
  unipileWebhookSecret: "mallory-unipile-secret",
  instantlyWorkspaceId: "66666666-6666-4666-8666-666666666666",
  instantlyWebhookSecret: "mallory-instantly-secret",
  smartleadWebhookSecret: "mallory-smartlead-secret",
};

type Json = Record<string, unknown>;

interface SquatSpec {
  fixture: string;
  /** Gives the payload a fresh message id, so each test starts from nothing stored. */
  freshId: (body: Json, id: string) => void;
  /** Makes the payload name Mallory's own workspace (the positive control). */
  ownWorkspace?: (body: Json) => void;
}

const SPECS: Record<ProviderName, SquatSpec> = {
  emailbison: {
    fixture: "emailbison/lead_replied.json",
    freshId: (b, id) => void (((b.data as Json).reply as Json).id = id),
    ownWorkspace: (b) => void ((b.event as Json).workspace_id = 666),
  },
  unipile: {
    fixture: "unipile/message_received_inbound.json",
    freshId: (b, id) => void (b.message_id = id),
    ownWorkspace: (b) => void (b.account_id = "mallory-account"),
  },
  instantly: {
    fixture: "instantly/reply_received.json",
    freshId: (b, id) => void (b.email_id = id),
    ownWorkspace: (b) => void (b.workspace = MALLORY.instantlyWorkspaceId),
  },
  ghl: {
    fixture: "ghl/inbound_message.json",
    freshId: (b, id) => void (b.messageId = id),
    ownWorkspace: (b) => void (b.locationId = "mallory-location"),
  },
  // SmartLead payloads name no workspace: with ?clientId= the scope is the
  // authenticated client itself, so Mallory's copy can only land in her own scope.
  smartlead: {
    fixture: "smartlead/email_reply.json",
    freshId: (b, id) => void (b.message_id = id),
  },
};

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
  await upsertClients(db.prisma, [MALLORY]);
});

function payload(spec: SquatSpec, id: string, mutate?: (body: Json) => void): string {
  const body = structuredClone(loadFixture(spec.fixture).body) as Json;
  spec.freshId(body, id);
  mutate?.(body);
  // Mallory has no business knowing the victim's SmartLead secret.
  if ("secret_key" in body) delete body.secret_key;
  return JSON.stringify(body);
}

async function clientIdOf(messageId: unknown): Promise<string> {
  const row = await db.prisma.message.findUniqueOrThrow({ where: { id: String(messageId) }, select: { clientId: true } });
  return row.clientId;
}

async function idOfSlug(slug: string): Promise<string> {
  return (await db.prisma.client.findUniqueOrThrow({ where: { slug }, select: { id: true } })).id;
}

describe.each(Object.entries(SPECS) as [ProviderName, SquatSpec][])("%s: squatting another tenant's ids", (provider, spec) => {
  const fixture = loadFixture(spec.fixture);
  const victim = clientFor(provider);

  it("Mallory's copy of the victim's payload under ?clientId=mallory cannot take the victim's id", async () => {
    const id = `squat-${randomUUID()}`;
    const before = await countRows(db.prisma);
    const squat = await handler(buildRequest(fixture, { rawBody: payload(spec, id), client: MALLORY, query: { clientId: "mallory" } }));
    const squatBody = await readJson(squat);
    if (provider === "smartlead") {
      // Accepted, but scoped to Mallory: her row cannot collide with Globex's.
      expect(squat.status, JSON.stringify(squatBody)).toBe(200);
      expect(await clientIdOf(squatBody.messageId)).toBe(await idOfSlug("mallory"));
    } else {
      expect(squat.status, JSON.stringify(squatBody)).toBe(401);
      expect(await countRows(db.prisma)).toEqual(before);
      // The caller learns what to fix, not whose workspace it is.
      expect(String(squatBody.error)).not.toContain(victim.slug);
    }

    // The victim's genuine delivery is new, and stored under the victim.
    const genuineRaw = payload(spec, id);
    const genuineBody = provider === "smartlead" ? JSON.stringify({ ...JSON.parse(genuineRaw), secret_key: victim.smartleadWebhookSecret }) : genuineRaw;
    const genuine = await handler(buildRequest(fixture, { rawBody: genuineBody }));
    const body = await readJson(genuine);
    expect(genuine.status, JSON.stringify(body)).toBe(200);
    expect(body.deduped).toBe(false);
    expect(await clientIdOf(body.messageId)).toBe(await idOfSlug(victim.slug));
  });

  it.runIf(spec.ownWorkspace)("positive control: Mallory's own workspace under ?clientId=mallory is accepted", async () => {
    const response = await handler(buildRequest(fixture, { rawBody: payload(spec, `own-${randomUUID()}`, spec.ownWorkspace), client: MALLORY, query: { clientId: "mallory" } }));
    const body = await readJson(response);
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(await clientIdOf(body.messageId)).toBe(await idOfSlug("mallory"));
  });
});

describe("401 and 404 answers say what the caller must fix, not who exists", () => {
  const unipile = loadFixture("unipile/message_received_inbound.json");

  it("a client without a secret configured is answered like a wrong secret; the log names the client", async () => {
    await upsertClients(db.prisma, [{ slug: "nosecret", name: "No secret", unipileAccountId: "nosecret-account" }]);
    events.length = 0;
    const body = JSON.stringify({ ...(unipile.body as Json), account_id: "nosecret-account", message_id: `x-${randomUUID()}` });
    const unconfigured = await handler(buildRequest(unipile, { rawBody: body, headers: { "unipile-auth": "guess" } }));
    const wrong = await handler(buildRequest(unipile, { headers: { "unipile-auth": "guess" } }));
    expect(unconfigured.status).toBe(401);
    expect(wrong.status).toBe(401);
    const [a, b] = [await readJson(unconfigured), await readJson(wrong)];
    expect(a.error).toBe(b.error);
    expect(String(a.error)).not.toMatch(/nosecret|acme|configured|clients add/);
    expect(events.map((e) => e.reason).join("\n")).toMatch(/client nosecret has no Unipile webhook secret configured/);
  });

  it("an unknown workspace's 404 does not teach registration flags or name clients; the log does", async () => {
    events.length = 0;
    const body = JSON.stringify({ ...(unipile.body as Json), account_id: "nobody-account" });
    const response = await handler(buildRequest(unipile, { rawBody: body }));
    expect(response.status).toBe(404);
    const answer = String((await readJson(response)).error);
    expect(answer).not.toMatch(/clients add|--unipile/);
    expect(events.map((e) => e.reason).join("\n")).toMatch(/clients add --slug <slug> --unipile-account-id/);
  });
});
