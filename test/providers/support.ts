// Shared setup for provider tests: the fixture clients seeded into the test
// database, TEST GHL keys, and signed Requests built the way a replay builds them.
import { fileURLToPath } from "node:url";
import type { Db } from "../../src/db/client.js";
import { loadFixtures, type Fixture } from "../../src/harness/fixtures.js";
import { loadClientsConfig, type ClientConfig } from "../../src/providers/client-config.js";
import { upsertClients } from "../../src/providers/client-store.js";
import { buildDeliveryRequest, loadTestGhlKeys, type GhlScheme } from "../../src/providers/sign.js";
import type { ProviderName } from "../../src/providers/types.js";

export const FIXTURES_DIR = fileURLToPath(new URL("../../fixtures/", import.meta.url));
export const CLIENTS = loadClientsConfig(`${FIXTURES_DIR}clients.json`).clients;
export const TEST_KEYS = loadTestGhlKeys();
export const BASE_URL = "http://receiver.test";

export function loadAllFixtures(): Fixture[] {
  return loadFixtures([FIXTURES_DIR]);
}

export function loadFixture(relative: string): Fixture {
  return loadFixtures([`${FIXTURES_DIR}${relative}`])[0]!;
}

/** The fixture client that holds this provider's configuration. */
export function clientFor(provider: ProviderName): ClientConfig {
  const field: Record<ProviderName, keyof ClientConfig> = {
    emailbison: "emailBisonWorkspaceId",
    ghl: "ghlLocationId",
    unipile: "unipileAccountId",
    smartlead: "smartleadWebhookSecret",
    instantly: "instantlyWorkspaceId",
  };
  return CLIENTS.find((c) => c[field[provider]] !== undefined)!;
}

export async function seedFixtureClients(db: Db) {
  return upsertClients(db, CLIENTS);
}

export interface DeliveryOverrides {
  rawBody?: Buffer | string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** false: no authentication at all. */
  sign?: boolean;
  ghlScheme?: GhlScheme;
  client?: Partial<ClientConfig> | null;
}

/** A signed delivery of `fixture` as a Fetch Request (fresh each call: a Request body can be read once). */
export function buildRequest(fixture: Pick<Fixture, "provider" | "rawBody" | "meta">, overrides: DeliveryOverrides = {}, baseUrl = BASE_URL): Request {
  const { url, headers, body } = buildParts(fixture, overrides, baseUrl);
  return new Request(url, { method: "POST", headers, body });
}

export function buildParts(fixture: Pick<Fixture, "provider" | "rawBody" | "meta">, overrides: DeliveryOverrides = {}, baseUrl = BASE_URL) {
  const sign = overrides.sign ?? fixture.meta.sign ?? true;
  return buildDeliveryRequest({
    baseUrl,
    provider: fixture.provider,
    rawBody: overrides.rawBody ?? fixture.rawBody,
    client: sign ? (overrides.client === undefined ? clientFor(fixture.provider) : overrides.client) : null,
    ghlKeys: sign ? TEST_KEYS : null,
    ghlScheme: overrides.ghlScheme,
    query: { ...fixture.meta.query, ...overrides.query },
    headers: { ...fixture.meta.headers, ...overrides.headers },
  });
}

export async function readJson(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

export async function clearMessages(db: Db) {
  await db.backgroundJob.deleteMany({});
  await db.message.deleteMany({});
  await db.aIDraft.deleteMany({});
  await db.lead.deleteMany({});
}
