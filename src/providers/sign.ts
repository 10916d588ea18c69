// Making deliveries that pass authentication: what a replay must add to a
// captured body for each provider (headers, ?token=), and GHL signatures made
// with the TEST key pairs in fixtures/keys (never GHL's: we do not have them).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createPrivateKey, sign, type KeyObject } from "node:crypto";
import type { ClientConfig } from "./client-config.js";
import { PROVIDER_ROUTES, type ProviderName } from "./types.js";
import { isGhlWorkflowRawBody } from "./ghl/workflow.js";

/** fixtures/keys relative to this module (works from src/ under vitest and from dist/). */
const DEFAULT_TEST_KEYS_DIR = fileURLToPath(new URL("../../fixtures/keys/", import.meta.url));

export interface GhlTestKeys {
  ed25519PrivateKey: string;
  ed25519PublicKey: string;
  rsaPrivateKey: string;
  rsaPublicKey: string;
}

/** The committed TEST-ONLY key pairs (PEM). */
export function loadTestGhlKeys(dir: string = DEFAULT_TEST_KEYS_DIR): GhlTestKeys {
  const read = (name: string) => fs.readFileSync(path.join(dir, name), "utf8");
  return {
    ed25519PrivateKey: read("ghl-test-ed25519.private.pem"),
    ed25519PublicKey: read("ghl-test-ed25519.public.pem"),
    rsaPrivateKey: read("ghl-test-rsa.private.pem"),
    rsaPublicKey: read("ghl-test-rsa.public.pem"),
  };
}

export type GhlScheme = "ed25519" | "rsa" | "both";

export interface SignInput {
  provider: ProviderName;
  /** The exact bytes that will be sent (signatures cover them). */
  rawBody: Buffer | string;
  /** The receiving client's configuration (secrets); absent → no secret added. */
  client?: Partial<ClientConfig> | null;
  /** Private keys (PEM) for GHL; absent → GHL deliveries go unsigned. */
  ghlKeys?: Pick<GhlTestKeys, "ed25519PrivateKey" | "rsaPrivateKey"> | null;
  /** Which GHL header(s) to add (default ed25519). */
  ghlScheme?: GhlScheme;
}

export interface SignedParts {
  headers: Record<string, string>;
  query: Record<string, string>;
}

export function signGhlEd25519(rawBody: Buffer | string, privateKeyPem: string | KeyObject): string {
  return sign(null, Buffer.from(rawBody), toPrivateKey(privateKeyPem)).toString("base64");
}

export function signGhlRsa(rawBody: Buffer | string, privateKeyPem: string | KeyObject): string {
  return sign("sha256", Buffer.from(rawBody), toPrivateKey(privateKeyPem)).toString("base64");
}

const keyCache = new Map<string, KeyObject>();
function toPrivateKey(key: string | KeyObject): KeyObject {
  if (typeof key !== "string") return key;
  let parsed = keyCache.get(key);
  if (!parsed) keyCache.set(key, (parsed = createPrivateKey(key)));
  return parsed;
}

/** Headers and query parameters that authenticate `rawBody` for `provider` (content-type included). */
export function signDelivery(input: SignInput): SignedParts {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const query: Record<string, string> = {};
  const client = input.client ?? {};
  switch (input.provider) {
    case "ghl": {
      // A workflow action sends the client's secret instead of a signature.
      if (isGhlWorkflowRawBody(Buffer.from(input.rawBody))) {
        if (client.ghlWorkflowSecret) headers["x-webhook-secret"] = client.ghlWorkflowSecret;
        break;
      }
      const scheme = input.ghlScheme ?? "ed25519";
      if (input.ghlKeys && scheme !== "rsa") headers["x-ghl-signature"] = signGhlEd25519(input.rawBody, input.ghlKeys.ed25519PrivateKey);
      if (input.ghlKeys && scheme !== "ed25519") headers["x-wh-signature"] = signGhlRsa(input.rawBody, input.ghlKeys.rsaPrivateKey);
      break;
    }
    case "emailbison":
      if (client.emailBisonWebhookToken) query.token = client.emailBisonWebhookToken;
      break;
    case "unipile":
      if (client.unipileWebhookSecret) headers["unipile-auth"] = client.unipileWebhookSecret;
      break;
    case "instantly":
      if (client.instantlyWebhookSecret) headers["x-instantly-secret"] = client.instantlyWebhookSecret;
      break;
    case "smartlead":
      // SmartLead puts secret_key in the body; the header covers bodies captured without one.
      if (client.smartleadWebhookSecret) headers["x-smartlead-secret"] = client.smartleadWebhookSecret;
      break;
  }
  return { headers, query };
}

export interface DeliveryRequestInput extends SignInput {
  /** http://127.0.0.1:3000 (the route is appended) or a full URL to use as is. */
  baseUrl: string | URL;
  /** Extra query parameters (fixture meta), applied after signing's. */
  query?: Record<string, string>;
  /** Extra headers (fixture meta); they win over signing's, so a fixture can send a deliberately bad one. */
  headers?: Record<string, string>;
}

/** URL + headers + body for one signed delivery, ready for fetch/undici or an in-process Request. */
export function buildDeliveryRequest(input: DeliveryRequestInput): { url: URL; headers: Record<string, string>; body: Buffer } {
  const signed = signDelivery(input);
  const base = new URL(input.baseUrl);
  const url = base.pathname === "/" || base.pathname === "" ? new URL(PROVIDER_ROUTES[input.provider], base) : new URL(base);
  for (const [k, v] of Object.entries({ ...signed.query, ...input.query })) url.searchParams.set(k, v);
  const headers = { ...signed.headers };
  for (const [k, v] of Object.entries(input.headers ?? {})) headers[k.toLowerCase()] = v;
  return { url, headers, body: Buffer.from(input.rawBody) };
}
