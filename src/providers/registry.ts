// Provider name → adapter, and the harness's entry point for planning a
// fixture without a database.
import { emailBisonAdapter } from "./emailbison/index.js";
import { ghlAdapter } from "./ghl/index.js";
import { instantlyAdapter } from "./instantly/index.js";
import { smartleadAdapter } from "./smartlead/index.js";
import { unipileAdapter } from "./unipile/index.js";
import type { ProviderAdapter } from "./adapter.js";
import { PROVIDER_NAMES, PROVIDER_ROUTES, type DeliveryPlan, type ProviderName } from "./types.js";

export const PROVIDER_ADAPTERS: Record<ProviderName, ProviderAdapter> = {
  emailbison: emailBisonAdapter,
  ghl: ghlAdapter,
  unipile: unipileAdapter,
  smartlead: smartleadAdapter,
  instantly: instantlyAdapter,
};

/** What a correct receiver must write for this delivery. Pure; throws PayloadValidationError naming the field. */
export function planDeliveryFor(provider: ProviderName, body: unknown, url: URL): DeliveryPlan {
  return PROVIDER_ADAPTERS[provider].planDelivery(body, url);
}

/** Folder names beside our own that mean the same provider (../shared/provider-payloads uses "gohighlevel"). */
const PROVIDER_ALIASES: Record<string, ProviderName> = { gohighlevel: "ghl", highlevel: "ghl", inboxxia: "emailbison" };

export function parseProviderName(name: string): ProviderName | undefined {
  const lower = name.toLowerCase();
  if ((PROVIDER_NAMES as readonly string[]).includes(lower)) return lower as ProviderName;
  return PROVIDER_ALIASES[lower];
}

export function providerForPath(pathname: string): ProviderName | undefined {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, "") : pathname;
  return PROVIDER_NAMES.find((name) => PROVIDER_ROUTES[name] === path);
}
