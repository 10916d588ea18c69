// What each provider folder exports to the router: a pure planner and its
// authentication checks. The router owns everything else (body limits,
// content types, client lookup, the single ingest statement).
import type { ClientSecretColumn } from "../db/clients.js";
import type { GhlKeys } from "./auth.js";
import type { DeliveryPlan, ProviderName } from "./types.js";

/** The Client columns authentication needs (selected once, cached by the router). */
export type ResolvedClient = {
  id: string;
  slug: string;
  ghlLocationId: string | null;
  emailBisonInstanceUrl: string;
  emailBisonWorkspaceId: string | null;
  unipileAccountId: string | null;
  instantlyWorkspaceId: string | null;
} & Record<ClientSecretColumn, string | null>;

export interface SignatureContext {
  rawBody: Uint8Array;
  headers: Headers;
  ghlKeys: GhlKeys;
}

export interface SecretContext {
  headers: Headers;
  url: URL;
  body: unknown;
  client: ResolvedClient;
}

export interface ProviderAdapter {
  name: ProviderName;
  /** Pure: (body, url) → what a correct receiver writes. Throws PayloadValidationError naming the field. */
  planDelivery(body: unknown, url: URL): DeliveryPlan;
  /** Signature checks over the raw bytes, before the body is even parsed. Throws WebhookAuthError. */
  verifySignature?(ctx: SignatureContext): void;
  /** Checks against the resolved client: its shared secret, or (GHL) that the signed body names its location. Throws WebhookAuthError. */
  verifySecret?(ctx: SecretContext): void;
}
