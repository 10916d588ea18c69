// ClientRef → Client row, with a short-TTL cache and in-flight coalescing:
// fifty concurrent deliveries for one workspace cost one query, not fifty.
// Misses are not cached, so a client added a moment ago is found at once.
import type { Db } from "../db/client.js";
import type { ResolvedClient } from "./adapter.js";
import { sha256Hex } from "./common.js";
import type { ClientRef } from "./types.js";

const CLIENT_SELECT = {
  id: true,
  slug: true,
  emailBisonInstanceUrl: true,
  emailBisonWebhookToken: true,
  smartleadWebhookSecret: true,
  unipileWebhookSecret: true,
  instantlyWebhookSecret: true,
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const DEFAULT_CLIENT_CACHE_TTL_MS = 5_000;

export interface ClientResolver {
  resolve(ref: ClientRef): Promise<ResolvedClient | null>;
  clear(): void;
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

function cacheKey(ref: ClientRef): string {
  switch (ref.by) {
    case "emailBisonWorkspace":
      return `eb:${normaliseInstanceUrl(ref.instanceUrl)}:${ref.workspaceId}`;
    case "smartleadSecret":
      // Keep secrets out of the key space (heap dumps, debug prints).
      return `sl:${sha256Hex(ref.value)}`;
    default:
      return `${ref.by}:${ref.value}`;
  }
}

export function createClientResolver(db: Db, ttlMs = DEFAULT_CLIENT_CACHE_TTL_MS): ClientResolver {
  const cache = new Map<string, { client: ResolvedClient; expires: number }>();
  const inFlight = new Map<string, Promise<ResolvedClient | null>>();
  return {
    async resolve(ref) {
      const key = cacheKey(ref);
      const hit = cache.get(key);
      if (hit && hit.expires > Date.now()) return hit.client;
      let pending = inFlight.get(key);
      if (!pending) {
        pending = findClient(db, ref).finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      const client = await pending;
      if (client && ttlMs > 0) cache.set(key, { client, expires: Date.now() + ttlMs });
      return client;
    },
    clear() {
      cache.clear();
    },
  };
}

async function findClient(db: Db, ref: ClientRef): Promise<ResolvedClient | null> {
  switch (ref.by) {
    case "slug":
      return pick(await db.client.findFirst({ where: UUID.test(ref.value) ? { OR: [{ id: ref.value }, { slug: ref.value }] } : { slug: ref.value }, select: CLIENT_SELECT }));
    case "ghlLocationId":
      return pick(await db.client.findUnique({ where: { ghlLocationId: ref.value }, select: CLIENT_SELECT }));
    case "unipileAccountId":
      return pick(await db.client.findUnique({ where: { unipileAccountId: ref.value }, select: CLIENT_SELECT }));
    case "instantlyWorkspaceId":
      return pick(await db.client.findUnique({ where: { instantlyWorkspaceId: ref.value }, select: CLIENT_SELECT }));
    case "smartleadSecret":
      return pick(await db.client.findUnique({ where: { smartleadWebhookSecret: ref.value }, select: CLIENT_SELECT }));
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
  if (instanceUrl) return pick(rows.find((r) => r.emailBisonInstanceUrl === instanceUrl) ?? rows.find((r) => r.emailBisonInstanceUrl === ""));
  return rows.length === 1 ? pick(rows[0]) : null;
}

function pick(row: (ResolvedClient & { emailBisonInstanceUrl?: string }) | null | undefined): ResolvedClient | null {
  if (!row) return null;
  return {
    id: row.id,
    slug: row.slug,
    emailBisonWebhookToken: row.emailBisonWebhookToken,
    smartleadWebhookSecret: row.smartleadWebhookSecret,
    unipileWebhookSecret: row.unipileWebhookSecret,
    instantlyWebhookSecret: row.instantlyWebhookSecret,
  };
}
