// From fixture to prepared delivery: where it goes, what the receiver must
// write for it (planDeliveryFor), how it authenticates, and the clients it
// needs in the database.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { DbHandle } from "../db/client.js";
import { ConfigError } from "../errors.js";
import { loadClientsConfig, type ClientConfig } from "../providers/client-config.js";
import { createClientResolver, describeClientRef, normaliseInstanceUrl } from "../providers/clients.js";
import { upsertClient } from "../providers/client-store.js";
import { planDeliveryFor } from "../providers/registry.js";
import type { ClientRef, DeliveryPlan, ProviderName } from "../providers/types.js";
import { resolveDeliveryUrl } from "./engine.js";
import type { Fixture } from "./fixtures.js";
import type { ExpectedJobs, ReceiverMapping, StoredIdLookup } from "./mapping.js";
import { rekeyLeadIdentity } from "./identity.js";
import { mutateUniqueId } from "./mutate.js";
import { DERIVED_KEY_NOTE_PREFIX } from "./report.js";
import { authenticateDelivery, type TestSigningKeys } from "./signing.js";
import type { EngineTarget, IdForm, PreparedDelivery } from "./types.js";
import type { StoredMessage } from "../db/verify-sql.js";

export const BUILTIN_FIXTURES_DIR = fileURLToPath(new URL("../../fixtures/", import.meta.url));
export const DEFAULT_RACE_FIXTURE = path.join(BUILTIN_FIXTURES_DIR, "emailbison", "lead_replied.json");
const DEFAULT_CLIENTS_FILE = path.join(BUILTIN_FIXTURES_DIR, "clients.json");

export interface PreparedCase {
  name: string;
  fixturePath: string;
  provider: ProviderName;
  plan: DeliveryPlan;
  delivery: Omit<PreparedDelivery, "slot">;
  /** A request the receiver answers without writing (the mapping's warm-up), to warm it before a race; none when the config says none. */
  warmup: Omit<PreparedDelivery, "slot"> | undefined;
  expectedStatus: number;
  client: ClientConfig | undefined;
  notes: string[];
  /** Where the receiver should have stored the message (computed now: a throwing derivation stops the run before any delivery). */
  lookups: StoredIdLookup[];
  /** The jobs a stored message must have, or undefined when not judged. */
  expectJobs?: (message: StoredMessage, storedId: string) => ExpectedJobs | undefined;
}

const clientsCache = new Map<string, ClientConfig[]>();

/** clients.json entries; an absent default file means "none" (an explicit --clients file must exist). */
function readClients(explicit?: string): ClientConfig[] {
  const file = explicit ?? DEFAULT_CLIENTS_FILE;
  let clients = clientsCache.get(file);
  if (!clients) {
    clients = !explicit && !fs.existsSync(file) ? [] : loadClientsConfig(file).clients;
    clientsCache.set(file, clients);
  }
  return clients;
}

/** The clients.json entry a ClientRef names, if any. */
function findClientConfig(clients: readonly ClientConfig[], ref: ClientRef): ClientConfig | undefined {
  switch (ref.by) {
    case "slug":
      return clients.find((c) => c.slug === ref.value);
    case "ghlLocationId":
      return clients.find((c) => c.ghlLocationId === ref.value);
    case "unipileAccountId":
      return clients.find((c) => c.unipileAccountId === ref.value);
    case "instantlyWorkspaceId":
      return clients.find((c) => c.instantlyWorkspaceId === ref.value);
    case "smartleadSecret":
      return clients.find((c) => c.smartleadWebhookSecret === ref.value);
    case "emailBisonWorkspace": {
      const url = normaliseInstanceUrl(ref.instanceUrl);
      const matches = clients.filter((c) => c.emailBisonWorkspaceId === ref.workspaceId);
      // As the router resolves: an instance-less payload matches only an unambiguous workspace id.
      if (!url) return matches.length === 1 ? matches[0] : undefined;
      return matches.find((c) => normaliseInstanceUrl(c.emailBisonInstanceUrl) === url) ?? matches.find((c) => !c.emailBisonInstanceUrl);
    }
  }
}

const SIGNATURE_HEADERS = new Set(["x-ghl-signature", "x-wh-signature"]);

export function prepareCase(
  fixture: Fixture,
  options: { round: number; freshId: boolean; target: EngineTarget; signer: TestSigningKeys; mapping: ReceiverMapping; idForm: IdForm; clientsFile?: string; showRound?: boolean },
): PreparedCase {
  const notes: string[] = [];
  const { mapping } = options;
  const target = mapping.config.target;
  const url = resolveDeliveryUrl(options.target, mapping.routeFor(fixture.provider));
  for (const [k, v] of Object.entries({ ...target?.query, ...fixture.meta.query })) url.searchParams.set(k, v);
  const headers: Record<string, string> = { "content-type": "application/json", ...target?.headers };
  for (const [k, v] of Object.entries(fixture.meta.headers ?? {})) {
    // A captured signature covers the captured bytes only; a re-keyed body is re-signed.
    if (options.freshId && SIGNATURE_HEADERS.has(k.toLowerCase())) continue;
    headers[k] = v;
  }
  const original = planFixture(fixture, fixture.body, url);
  let plan = original;
  let body = fixture.body;
  let rawBody = fixture.rawBody;
  if (options.freshId && original.kind === "message") {
    body = mutateUniqueId(fixture.provider, fixture.body);
    rawBody = Buffer.from(JSON.stringify(body));
    plan = planFixture(fixture, body, url);
    if (plan.kind !== "message" || plan.unique.rawId === original.unique.rawId) {
      throw new ConfigError(`${fixture.path}: could not give the ${fixture.provider} payload a fresh unique id (the plan still keys on ${original.unique.rawId}).`, {
        hint: "Race it with --as-is, or teach src/harness/mutate.ts where this provider keeps its id.",
      });
    }
    // The lead too: a round on a known lead never races lead creation.
    const rekeyed = rekeyLeadIdentity(body, original.lead);
    const rekeyedPlan = rekeyed ? planFixture(fixture, rekeyed.body, url) : undefined;
    if (rekeyed && rekeyedPlan?.kind === "message" && rekeyedPlan.lead.value !== original.lead.value) {
      body = rekeyed.body;
      rawBody = Buffer.from(JSON.stringify(body));
      plan = rekeyedPlan;
    } else {
      notes.push(`lead identity ${original.lead.key} not re-keyed (no payload field carries it): this round may reuse an existing lead`);
    }
  }
  const derivedNote = describeDerivedKey(plan);
  if (derivedNote) notes.push(derivedNote);
  const fixtureClient = plan.kind === "message" ? findClientConfig(readClients(options.clientsFile), plan.client) : undefined;
  // A configured app's own secrets (target.secrets) sign its deliveries.
  const client = target?.secrets ? ({ slug: "configured-app", ...fixtureClient, ...target.secrets } as ClientConfig) : fixtureClient;
  // meta.sign === false: a fixture that must arrive exactly as captured (say, unauthenticated).
  if (fixture.meta.sign !== false) authenticateDelivery(fixture.provider, { url, headers, rawBody }, client, options.signer);
  const warmup = mapping.config.warmup === "none" ? undefined : buildWarmup(fixture, url, headers, client, options.signer, mapping.config.warmup);
  const lookups = plan.kind === "message" ? mapping.storedIdLookups(plan, body, url, options.idForm) : [];
  const expectJobs =
    plan.kind === "message" && (mapping.conventions || hasJobsConfig(mapping, plan))
      ? (message: StoredMessage, storedId: string) => mapping.expectedJobs(plan, body, url, message, storedId)
      : undefined;
  const relative = path.relative(BUILTIN_FIXTURES_DIR, fixture.path);
  const shown = relative.startsWith("..") ? path.relative(process.cwd(), fixture.path) : relative;
  return {
    name: options.showRound === false ? shown : `${shown}#${options.round}`,
    fixturePath: fixture.path,
    provider: fixture.provider,
    plan,
    delivery: { url, headers, body: rawBody },
    warmup,
    expectedStatus: fixture.meta.expect?.status ?? 200,
    client,
    notes,
    lookups,
    expectJobs,
  };
}

/** Reports must say when the key is not the provider's id but a hash of payload fields (collisions and escapes are possible; README). */
export function describeDerivedKey(plan: DeliveryPlan): string | null {
  if (plan.kind !== "message" || !plan.unique.derivedFrom) return null;
  return `${DERIVED_KEY_NOTE_PREFIX} (the payload has no message id): sha256 of ${plan.unique.derivedFrom.join(", ")}`;
}

function hasJobsConfig(mapping: ReceiverMapping, plan: Extract<DeliveryPlan, { kind: "message" }>): boolean {
  const p = mapping.config.providers[plan.provider];
  return Boolean(p?.events?.[plan.eventType]?.jobs ?? p?.jobs);
}

function buildWarmup(
  fixture: Fixture,
  url: URL,
  headers: Record<string, string>,
  client: ClientConfig | undefined,
  signer: TestSigningKeys,
  warmup: { query?: Record<string, string>; headers?: Record<string, string> },
) {
  // Its own fresh id too: should a receiver ignore the warm-up's marker,
  // the warm-up still cannot touch the message being raced.
  const body = Buffer.from(JSON.stringify(mutateUniqueId(fixture.provider, fixture.body)));
  const warmUrl = new URL(url);
  const marker = randomUUID();
  for (const [k, v] of Object.entries(warmup.query ?? {})) warmUrl.searchParams.set(k, v.replaceAll("{uuid}", marker));
  const warmHeaders = Object.fromEntries(Object.entries(headers).filter(([k]) => !SIGNATURE_HEADERS.has(k.toLowerCase())));
  for (const [k, v] of Object.entries(warmup.headers ?? {})) warmHeaders[k] = v.replaceAll("{uuid}", marker);
  authenticateDelivery(fixture.provider, { url: warmUrl, headers: warmHeaders, rawBody: body }, client, signer);
  return { url: warmUrl, headers: warmHeaders, body };
}

function planFixture(fixture: Fixture, body: unknown, url: URL): DeliveryPlan {
  try {
    return planDeliveryFor(fixture.provider, body, url);
  } catch (error) {
    const status = fixture.meta.expect?.status;
    if (status !== undefined && status >= 400) {
      // A fixture documented as rejected has no plan; nothing may be written.
      return { kind: "ignored", provider: fixture.provider, eventType: "(rejected)", reason: (error as Error).message };
    }
    throw new ConfigError(`${fixture.path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Every client the cases name must exist before the first delivery. On the
 * embedded database missing ones are created from clients.json (idempotent:
 * ON CONFLICT DO NOTHING, so two harness processes can do it at once);
 * against --database-url they must already be there.
 */
export async function ensureClientsFor(
  cases: readonly PreparedCase[],
  db: DbHandle,
  mapping: ReceiverMapping,
  options: { clientsFile?: string; create: boolean },
): Promise<void> {
  if (!mapping.conventions) return checkConfiguredClients(cases, db, mapping);
  // The router's own resolver (uncached), so "exists" means what it means to the receiver.
  const resolver = createClientResolver(db.prisma, 0);
  const seen = new Set<string>();
  for (const c of cases) {
    if (c.plan.kind !== "message") continue;
    const key = JSON.stringify(c.plan.client);
    if (seen.has(key)) continue;
    seen.add(key);
    if (await resolver.resolve(c.plan.client)) continue;
    const file = options.clientsFile ?? DEFAULT_CLIENTS_FILE;
    if (!options.create) {
      throw new ConfigError(`No client in the database matches ${describeClientRef(c.plan.client)} (needed by ${c.fixturePath}).`, {
        hint: `Create it first: dedupe-cli clients load ${path.relative(process.cwd(), file) || file} --database-url <url>`,
      });
    }
    if (!c.client) {
      throw new ConfigError(`${file} has no client matching ${describeClientRef(c.plan.client)} (needed by ${c.fixturePath}).`, {
        hint: "Add that client to the file, or pass --clients <file> naming one that has it.",
      });
    }
    // Upsert by slug, safe against a concurrent harness or `clients load`.
    await upsertClient(db.prisma, c.client);
    if (!(await resolver.resolve(c.plan.client))) {
      throw new ConfigError(`Created client ${c.client.slug}, yet nothing matches ${describeClientRef(c.plan.client)}: another client holds one of its ids.`, {
        hint: "See which with `dedupe-cli clients list`; give each client its own ids, or start empty with --fresh.",
      });
    }
  }
}

/**
 * A configured app's clients are its own: nothing is provisioned. Where the
 * config says how a fixture finds its client (providers.<p>.client), that
 * client must exist, exactly once, before anything is delivered.
 */
async function checkConfiguredClients(cases: readonly PreparedCase[], db: DbHandle, mapping: ReceiverMapping): Promise<void> {
  const seen = new Set<string>();
  for (const c of cases) {
    if (c.plan.kind !== "message") continue;
    const key = `${c.plan.provider}:${JSON.stringify(c.plan.client)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const ids = await mapping.findClientIds(db, c.plan);
    if (ids === undefined || ids.length === 1) continue;
    const at = `providers.${c.plan.provider}.client`;
    throw new ConfigError(
      `${ids.length === 0 ? "No" : `${ids.length}`} rows in ${mapping.schema.clients.table} match ${describeClientRef(c.plan.client)} through config key ${at} (needed by ${c.fixturePath}).`,
      { hint: `Create that client in your app (dedupe-cli never writes an app's clients), or fix ${at} in ${mapping.file ?? "your dedupe.config file"}.` },
    );
  }
}
