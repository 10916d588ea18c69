// Authenticating a harness delivery the way each provider does, for the
// client it names (src/providers/sign.ts): EmailBison ?token=, GHL an Ed25519
// signature over the exact bytes with the committed TEST keys (which the
// in-process router is configured to trust; a `serve` must run with
// --ghl-test-keys), and the shared-secret headers of the others.
import type { ClientConfig } from "../providers/client-config.js";
import { loadTestGhlKeys, signDelivery, type GhlTestKeys } from "../providers/sign.js";
import type { ProviderName } from "../providers/types.js";

export interface TestSigningKeys {
  ghlEd25519PublicKey: string;
  ghlRsaPublicKey: string;
  keys: GhlTestKeys;
}

let cached: TestSigningKeys | undefined;

export function loadTestSigningKeys(): TestSigningKeys {
  if (!cached) {
    const keys = loadTestGhlKeys();
    cached = { ghlEd25519PublicKey: keys.ed25519PublicKey, ghlRsaPublicKey: keys.rsaPublicKey, keys };
  }
  return cached;
}

/**
 * Adds what `provider` authenticates with to a delivery (mutates url and
 * headers). What the fixture already carries wins: a captured delivery's own
 * headers and query are replayed as they were.
 */
export function authenticateDelivery(
  provider: ProviderName,
  delivery: { url: URL; headers: Record<string, string>; rawBody: Buffer },
  client: ClientConfig | undefined,
  signer: TestSigningKeys,
): void {
  const present = new Set(Object.keys(delivery.headers).map((h) => h.toLowerCase()));
  const capturedSignature = present.has("x-ghl-signature") || present.has("x-wh-signature");
  const signed = signDelivery({ provider, rawBody: delivery.rawBody, client, ghlKeys: capturedSignature ? null : signer.keys });
  for (const [name, value] of Object.entries(signed.headers)) if (!present.has(name.toLowerCase())) delivery.headers[name] = value;
  for (const [name, value] of Object.entries(signed.query)) if (!delivery.url.searchParams.has(name)) delivery.url.searchParams.set(name, value);
}
