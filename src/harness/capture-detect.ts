// Telling which provider and event a captured delivery is (dedupe-cli
// capture): from the request path, else from the body's shape, and the event
// name the provider's own planner would report.
import { GHL_WORKFLOW_EVENT, isGhlWorkflowBody } from "../providers/ghl/workflow.js";
import { parseProviderName, planDeliveryFor, providerForPath } from "../providers/registry.js";
import { PROVIDER_NAMES, PROVIDER_ROUTES, type DeliveryPlan, type ProviderName } from "../providers/types.js";

/**
 * The provider a request path names: a PROVIDER_ROUTES path, a route mounted
 * under a prefix (/app/api/webhooks/email), or a /<provider>[/...] prefix
 * (aliases such as /gohighlevel count).
 */
export function providerFromRequestPath(pathname: string): ProviderName | undefined {
  const exact = providerForPath(pathname);
  if (exact) return exact;
  const trimmed = pathname.replace(/\/+$/, "");
  const mounted = PROVIDER_NAMES.find((name) => trimmed.endsWith(PROVIDER_ROUTES[name]));
  if (mounted) return mounted;
  const first = trimmed.split("/").find((segment) => segment !== "");
  return first ? parseProviderName(decodeURIComponentSafe(first)) : undefined;
}

type Obj = Record<string, unknown>;
export const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const has = (o: Obj, ...keys: string[]) => keys.some((k) => k in o);

/** Distinctive top-level fields of each provider's payloads (the schemas in src/providers/<name>/). */
const BODY_SHAPES: Record<ProviderName, (b: Obj) => boolean> = {
  emailbison: (b) => isObject(b.event) && typeof b.event.type === "string",
  // Marketplace events, conversation-provider deliveries, and workflow Webhook actions (no `type`, snake_case contact).
  ghl: (b) => (typeof b.type === "string" && has(b, "locationId", "contactId", "messageType", "conversationId")) || isGhlWorkflowBody(b),
  unipile: (b) => typeof b.event === "string" && has(b, "account_id", "account_info", "chat_id", "message_id"),
  smartlead: (b) => typeof b.event_type === "string" && has(b, "secret_key", "sl_lead_email", "sl_email_lead_id", "stats_id", "campaign_status"),
  instantly: (b) => typeof b.event_type === "string" && has(b, "workspace", "lead_email", "email_account", "email_id"),
};

/** The field each provider names its event in, for bodies the provider's planner rejects. */
const EVENT_FIELDS: Record<ProviderName, (b: Obj) => unknown> = {
  emailbison: (b) => (isObject(b.event) ? b.event.type : undefined),
  ghl: (b) => b.type ?? (isGhlWorkflowBody(b) ? GHL_WORKFLOW_EVENT : undefined),
  unipile: (b) => b.event,
  smartlead: (b) => b.event_type,
  instantly: (b) => b.event_type,
};

/** Which provider a body looks like; several matching shapes are settled by whose planner accepts it. */
export function providerFromBody(body: unknown, url: URL): ProviderName | undefined {
  if (!isObject(body)) return undefined;
  const candidates = PROVIDER_NAMES.filter((name) => BODY_SHAPES[name](body));
  if (candidates.length <= 1) return candidates[0];
  return candidates.find((name) => tryPlan(name, body, url) !== undefined) ?? candidates[0];
}

function tryPlan(provider: ProviderName, body: unknown, url: URL): DeliveryPlan | undefined {
  try {
    return planDeliveryFor(provider, body, url);
  } catch {
    return undefined;
  }
}

/** The event name the provider itself would report (its planner's eventType), else the raw event field. */
export function eventNameFor(provider: ProviderName | undefined, body: unknown, plan: DeliveryPlan | undefined): string {
  if (plan) return plan.eventType;
  if (!isObject(body)) return "event";
  const candidates = provider
    ? [EVENT_FIELDS[provider](body)]
    : [body.event_type, body.type, body.event, isObject(body.event) ? body.event.type : undefined, body.eventType];
  const found = candidates.find((v) => typeof v === "string" && v.trim() !== "");
  return (found as string | undefined) ?? "event";
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
