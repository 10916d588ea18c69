// ClientRef → Client row, with a short-TTL cache and in-flight coalescing:
// fifty concurrent deliveries for one workspace cost one query, not fifty.
// Misses are not cached, so a client added a moment ago is found at once.
// Keys come from requests (any ?clientId=, any EmailBison instance_url), so
// the cache is bounded: past CLIENT_CACHE_MAX_ENTRIES it sheds expired
// entries, and if that is not enough, everything (a refill costs one query
// per key).
import type { Db } from "../db/client.js";
import type { ResolvedClient } from "./adapter.js";
import { isUuid } from "./common.js";
import type { ClientRef, WorkspaceRef } from "./types.js";

const CLIENT_SELECT = {
  id: true,
  slug: true,
  ghlLocationId: true,
  emailBisonInstanceUrl: true,
  emailBisonWorkspaceId: true,
  unipileAccountId: true,
  instantlyWorkspaceId: true,
  emailBisonWebhookToken: true,
  smartleadWebhookSecret: true,
  unipileWebhookSecret: true,
  instantlyWebhookSecret: true,
  ghlWorkflowSecret: true,
} as const;

const DEFAULT_CLIENT_CACHE_TTL_MS = 5_000;
const CLIENT_CACHE_MAX_ENTRIES = 10_000;

export interface ClientResolver {
  resolve(ref: ClientRef): Promise<ResolvedClient | null>;
}

/** `?clientId=` and the CLI take a slug or the client's uuid; only a well-formed uuid is compared with the uuid column. */
export function whereSlugOrId(value: string): { slug: string } | { OR: [{ id: string }, { slug: string }] } {
  return isUuid(value) ? { OR: [{ id: value }, { slug: value }] } : { slug: value };
}

/** Trailing slashes are noise in an instance URL; both stored and incoming values are compared without them. */
export function normaliseInstanceUrl(url: string | null | undefined): string {
  return (url ?? "").trim().replace(/\/+$/, "");
}

export function describeClientRef(ref: ClientRef): string {
  switch (ref.by) {
    case "slug":
      return `clientId ${JSON.stringify(ref.value)}`;
    case "emailBisonWorkspace":
      return `EmailBison workspace ${ref.workspaceId}${ref.instanceUrl ? ` on ${ref.instanceUrl}` : ""}`;
    case "smartleadSecret":
      return "this SmartLead secret_key";
    default:
      return `${ref.by} ${JSON.stringify(ref.value)}`;
  }
}

const REGISTER_FLAGS: Record<Exclude<ClientRef["by"], "slug">, string> = {
  ghlLocationId: "--ghl-location-id",
  emailBisonWorkspace: "--emailbison-workspace-id",
  unipileAccountId: "--unipile-account-id",
  instantlyWorkspaceId: "--instantly-workspace-id",
  smartleadSecret: "--smartlead-secret",
};

/**
 * Why `ref` matched no client, for 404 answers (called on misses only, so
 * its extra query is off the hot path). Never echoes a secret, and never
 * names other clients.
 */
export async function describeClientMiss(db: Db, ref: ClientRef): Promise<string> {
  if (ref.by === "emailBisonWorkspace" && !normaliseInstanceUrl(ref.instanceUrl)) {
    const sharing = await db.client.count({ where: { emailBisonWorkspaceId: ref.workspaceId } });
    if (sharing > 1) {
      return `${describeClientRef(ref)} is ambiguous: more than one client has that workspace id on different instances; send event.instance_url in the payload or put ?clientId=<slug> on the webhook URL`;
    }
  }
  return `no client matches ${describeClientRef(ref)}; ${describeClientRegistration(ref)}`;
}

/** The 404 answer: only what the caller sent, nothing about which clients exist (the log gets describeClientMiss). */
export function describeClientUnmatched(ref: ClientRef): string {
  const fix = ref.by === "slug" ? "check ?clientId= on the webhook URL" : "check the webhook URL (?clientId=) or ask the receiver's operator to register it";
  return `no client matches ${describeClientRef(ref)}; ${fix}`;
}

/** What to run so that `ref` resolves (for 404 answers); never echoes a secret. */
function describeClientRegistration(ref: ClientRef): string {
  if (ref.by === "slug") return "dedupe-cli clients list shows the slugs and ids";
  const flag = REGISTER_FLAGS[ref.by];
  return `register it with dedupe-cli clients add --slug <slug> ${flag} <value>, or put ?clientId=<slug> on the webhook URL`;
}

/**
 * Why `client` may not store ids scoped by `workspace` (a payload's workspace
 * that ?clientId= overrode), or null when it owns it. For the operator's log:
 * it names the client and the flag that registers the workspace.
 */
export function describeWorkspaceMismatch(client: ResolvedClient, workspace: WorkspaceRef): string | null {
  const [owned, flag] = ownsWorkspace(client, workspace);
  if (owned) return null;
  return `${describeClientRef(workspace)} is not client ${client.slug}'s; if it is theirs, run dedupe-cli clients add --slug ${client.slug} ${flag} <value>`;
}

function ownsWorkspace(client: ResolvedClient, workspace: WorkspaceRef): [boolean, string] {
  switch (workspace.by) {
    case "ghlLocationId":
      return [client.ghlLocationId === workspace.value, REGISTER_FLAGS.ghlLocationId];
    case "unipileAccountId":
      return [client.unipileAccountId === workspace.value, REGISTER_FLAGS.unipileAccountId];
    case "instantlyWorkspaceId":
      return [client.instantlyWorkspaceId === workspace.value, REGISTER_FLAGS.instantlyWorkspaceId];
    case "emailBisonWorkspace": {
      // Same rule as resolving by workspace: a client registered without an
      // instance URL owns its workspace id on any instance.
      const own = normaliseInstanceUrl(client.emailBisonInstanceUrl);
      const named = normaliseInstanceUrl(workspace.instanceUrl);
      const instanceOk = own === "" || named === "" || own === named;
      return [client.emailBisonWorkspaceId === workspace.workspaceId && instanceOk, REGISTER_FLAGS.emailBisonWorkspace];
    }
  }
}

function cacheKey(ref: ClientRef): string {
  switch (ref.by) {
    case "emailBisonWorkspace":
      return `eb:${normaliseInstanceUrl(ref.instanceUrl)}:${ref.workspaceId}`;
    case "smartleadSecret":
      // Keep secrets out of the key space (heap dumps, debug prints).
      return `sl:${ref.digest}`;
    case "slug":
      // PostgreSQL compares uuids case-insensitively: one client, one key.
      return `slug:${isUuid(ref.value) ? ref.value.toLowerCase() : ref.value}`;
    default:
      return `${ref.by}:${ref.value}`;
  }
}

type ClientCache = Map<string, { client: ResolvedClient; expires: number }>;

/** Keeps `cache` at or under `maxEntries` before one more entry goes in. */
function makeRoomInCache(cache: ClientCache, maxEntries: number, now: number): void {
  if (cache.size < maxEntries) return;
  for (const [key, entry] of cache) if (entry.expires <= now) cache.delete(key);
  if (cache.size >= maxEntries) cache.clear();
}

export function createClientResolver(db: Db, ttlMs = DEFAULT_CLIENT_CACHE_TTL_MS, maxEntries = CLIENT_CACHE_MAX_ENTRIES): ClientResolver {
  const cache: ClientCache = new Map();
  const inFlight = new Map<string, Promise<ResolvedClient | null>>();
  return {
    async resolve(ref) {
      const key = cacheKey(ref);
      const hit = cache.get(key);
      if (hit) {
        if (hit.expires > Date.now()) return hit.client;
        cache.delete(key);
      }
      let pending = inFlight.get(key);
      if (!pending) {
        pending = findClient(db, ref).finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      const client = await pending;
      if (client && ttlMs > 0) {
        const now = Date.now();
        if (!cache.has(key)) makeRoomInCache(cache, maxEntries, now);
        cache.set(key, { client, expires: now + ttlMs });
      }
      return client;
    },
  };
}

function findClient(db: Db, ref: ClientRef): Promise<ResolvedClient | null> {
  switch (ref.by) {
    case "slug":
      return db.client.findFirst({ where: whereSlugOrId(ref.value), select: CLIENT_SELECT });
    case "ghlLocationId":
      return db.client.findUnique({ where: { ghlLocationId: ref.value }, select: CLIENT_SELECT });
    case "unipileAccountId":
      return db.client.findUnique({ where: { unipileAccountId: ref.value }, select: CLIENT_SELECT });
    case "instantlyWorkspaceId":
      return db.client.findUnique({ where: { instantlyWorkspaceId: ref.value }, select: CLIENT_SELECT });
    case "smartleadSecret":
      return db.client.findUnique({ where: { smartleadWebhookSecret: ref.value }, select: CLIENT_SELECT });
    case "emailBisonWorkspace":
      return findEmailBisonClient(db, ref.workspaceId, normaliseInstanceUrl(ref.instanceUrl));
  }
}

/**
 * Workspace ids repeat across EmailBison instances. A client registered with
 * an instance URL matches only that instance; one registered without (empty)
 * matches any. A payload that names no instance matches only when exactly one
 * client has that workspace id.
 */
async function findEmailBisonClient(db: Db, workspaceId: string, instanceUrl: string): Promise<ResolvedClient | null> {
  const rows = await db.client.findMany({
    where: { emailBisonWorkspaceId: workspaceId, ...(instanceUrl ? { emailBisonInstanceUrl: { in: [instanceUrl, ""] } } : {}) },
    select: CLIENT_SELECT,
    take: 3,
  });
  if (instanceUrl) return rows.find((r) => r.emailBisonInstanceUrl === instanceUrl) ?? rows.find((r) => r.emailBisonInstanceUrl === "") ?? null;
  return rows.length === 1 ? rows[0]! : null;
}
