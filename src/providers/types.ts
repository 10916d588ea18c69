// The contract between provider adapters (src/providers/<name>/), the HTTP
// layer (serve) and the harness (replay/race/verify). A provider turns a raw
// delivery into a DeliveryPlan without touching the database, so the harness
// can compute what a correct receiver must have written for any fixture.
import type { BackgroundJobType, Channel, Direction, Provider } from "../generated/prisma/enums.js";
import type { Db } from "../db/client.js";
import type { ConflictStrategy } from "../core/messages.js";
import type { DedupeLogger } from "../core/log.js";
import type { MessageUniqueKey } from "../core/unique-keys.js";
import type { LeadRef } from "../db/sql.js";

/** Folder names under src/providers/ and fixtures/. */
export const PROVIDER_NAMES = ["emailbison", "ghl", "unipile", "smartlead", "instantly"] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** Route per provider, as in the seed application's Next.js app. */
export const PROVIDER_ROUTES: Record<ProviderName, string> = {
  emailbison: "/api/webhooks/email",
  ghl: "/api/webhooks/ghl/sms",
  unipile: "/api/webhooks/linkedin",
  smartlead: "/api/webhooks/smartlead",
  instantly: "/api/webhooks/instantly",
};

export const PROVIDER_ENUM = {
  emailbison: "EMAILBISON",
  ghl: "GHL",
  unipile: "UNIPILE",
  smartlead: "SMARTLEAD",
  instantly: "INSTANTLY",
} as const satisfies Record<ProviderName, Provider>;

/** A provider workspace (account, location) a payload names. */
export type WorkspaceRef =
  | { by: "ghlLocationId"; value: string }
  | { by: "emailBisonWorkspace"; instanceUrl: string; workspaceId: string }
  | { by: "unipileAccountId"; value: string }
  | { by: "instantlyWorkspaceId"; value: string };

/** How a delivery names its client (workspace); resolved against Client rows. */
export type ClientRef =
  // ?clientId=<slug or uuid> on the URL. `claims`: the workspace the payload
  // names, which the stored id is scoped by, so the client must own it.
  | { by: "slug"; value: string; claims?: WorkspaceRef }
  | WorkspaceRef
  | { by: "smartleadSecret"; value: string; /** sha256 hex of value (the client cache keys on it, never on the secret). */ digest: string };

/** What one delivery means. Pure function of (body, url); no I/O. */
export type DeliveryPlan =
  | {
      kind: "ignored";
      provider: ProviderName;
      eventType: string;
      reason: string;
    }
  | {
      kind: "message";
      provider: ProviderName;
      eventType: string;
      client: ClientRef;
      /**
       * Provider id, raw (as in the payload), and the namespaced value stored in `key`.
       * `derivedFrom`: set when the payload carries no message id and rawId is a
       * hash of these payload fields (reports say so).
       */
      unique: { key: MessageUniqueKey; rawId: string; scope: string; value: string; derivedFrom?: readonly string[] };
      lead: LeadRef;
      channel: Channel;
      direction: Direction;
      subject: string | null;
      body: string;
      sentAt: Date;
      jobTypes: BackgroundJobType[];
    };

export interface WebhookDeps {
  db: Db;
  strategy?: ConflictStrategy;
  logger?: DedupeLogger;
  /** Accept deliveries without provider authentication (serve --allow-unsigned). */
  allowUnsigned?: boolean;
  /** Bytes; larger bodies get 413 (default 1 MiB). */
  bodyLimit?: number;
  /**
   * Bearer secret POST /api/drafts/<id>/send requires (serve --drafts-secret,
   * DEDUPE_DRAFTS_SECRET). Unset: the route refuses every request (401)
   * unless allowUnsigned.
   */
  draftsSecret?: string;
  /** GHL public keys (PEM); default: GHL's published keys. */
  ghlEd25519PublicKey?: string;
  ghlRsaPublicKey?: string;
}

/** The shape of a Next.js route handler. */
export type FetchHandler = (request: Request) => Promise<Response>;

/** Body of every 2xx answer to an accepted delivery (duplicates included). */
export interface AcceptedResponse {
  success: true;
  deduped: boolean;
  eventType: string;
  messageId: string | null;
  ignored?: boolean;
}
