// GoHighLevel workflow "Webhook" / "Custom Webhook" action deliveries, on the
// GHL route beside the Marketplace events (the seed application's GHL SMS
// arrive this way). The action POSTs the contact's standard fields in
// snake_case at the top level (contact_id, first_name, phone, email, tags as
// one string, date_created = when the CONTACT was created), `location: {id,
// name, ...}`, `message: {type, body}` (type 2 = SMS, as Marketplace
// messageTypeId), `workflow: {id, name}`, and `customData: {...}` with the
// keys the user configured on the action. No `type` field, no message id,
// no signature.
//
// Shape: a body with no string `type` and any of contact_id, location{},
// workflow{} is a workflow delivery; anything with a string `type` stays a
// Marketplace event (which needs a GHL signature), so an unsigned body cannot
// pass as a Marketplace event by looking like a workflow.
//
// Derived key (no message id exists): rawId = "wf-" + sha256 hex of, joined
// by "\n": location.id, contact_id, workflow.id, date_created, every
// customData field whose key names a date or time (sorted by key, "key=value"),
// and the body with whitespace runs collapsed and trimmed. Stored as
// ghl:<location.id>:wf-<hash>.
// - Two different messages collide when all of those agree: the same contact
//   sends the same text through the same workflow and the payload carries no
//   message timestamp (no customData Date/Time), or one that is equal (same
//   minute). The second is then taken for a retry and not stored.
// - A retry escapes dedupe when one of those differs between attempts: a
//   customData value rendered at send time ({{right_now}}) differs if GHL
//   re-renders the action, or a second workflow sends the same message (other
//   workflow.id). Whitespace-only differences in the body do not count.
//
// Auth (verifyGhlWorkflowSecret, separate from the Marketplace signature
// check): the per-client Client.ghlWorkflowSecret, sent by the workflow as
// ?secret= on the URL, an X-Webhook-Secret header or Authorization: Bearer;
// and the body's location.id, when present, must be the client's location.
import { z } from "zod";
import { jobTypesForMessage } from "../../core/jobs.js";
import { readBearerToken, readHeader, requireSecret } from "../auth.js";
import { WebhookAuthError } from "../errors.js";
import { buildMessagePlan, freeText, optionalText, parsePayload, pickDate, plainText, resolveWorkspaceClient, sha256Hex } from "../common.js";
import type { ResolvedClient, SecretContext } from "../adapter.js";
import type { DeliveryPlan } from "../types.js";

export const GHL_WORKFLOW_EVENT = "WorkflowWebhook";

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** True for the workflow action's shape (see the header comment); false for Marketplace events. */
export function isGhlWorkflowBody(body: unknown): boolean {
  if (!isObject(body) || typeof body.type === "string") return false;
  return "contact_id" in body || isObject(body.location) || isObject(body.workflow);
}

/** The same test over raw bytes, for the signature stage (runs before the router parses JSON). */
export function isGhlWorkflowRawBody(rawBody: Uint8Array): boolean {
  try {
    return isGhlWorkflowBody(JSON.parse(Buffer.from(rawBody).toString("utf8")));
  } catch {
    return false;
  }
}

const scalar = z.union([plainText, z.number(), z.boolean()]).nullish();

const workflowSchema = z.looseObject({
  contact_id: plainText.trim().min(1, "must not be empty"),
  first_name: freeText,
  last_name: freeText,
  phone: optionalText,
  email: optionalText,
  tags: z.union([z.string(), z.array(z.string())]).nullish(),
  date_created: optionalText,
  location: z.looseObject({ id: optionalText, name: freeText }).nullish(),
  message: z.looseObject({ type: z.union([z.number(), z.string()]).nullish(), body: freeText }).nullish(),
  workflow: z.looseObject({ id: optionalText, name: freeText }).nullish(),
  customData: z.record(z.string(), z.unknown()).nullish(),
});

type WorkflowBody = z.infer<typeof workflowSchema>;

/** message.type values that mean SMS: GHL's numeric id (2, as messageTypeId) or its names. */
const SMS_MESSAGE_TYPES = new Set(["2", "SMS", "TYPE_SMS"]);
const DATE_OR_TIME_KEY = /date|time/i;

function normaliseBody(text: string): string {
  return text.normalize("NFC").replace(/\s+/g, " ").trim();
}

/** customData fields that carry a date or time, as sorted "key=value" pairs. */
function collectTimestampFields(customData: Record<string, unknown> | null | undefined): Array<{ key: string; value: string }> {
  const fields: Array<{ key: string; value: string }> = [];
  for (const [key, value] of Object.entries(customData ?? {})) {
    if (!DATE_OR_TIME_KEY.test(key)) continue;
    const parsed = scalar.safeParse(value);
    if (parsed.success && parsed.data !== null && parsed.data !== undefined && String(parsed.data).trim() !== "") fields.push({ key, value: String(parsed.data).trim() });
  }
  return fields.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** The derived id and the payload fields it came from (reported by race/replay). */
export function deriveGhlWorkflowKey(wf: WorkflowBody, body: string): { rawId: string; derivedFrom: string[] } {
  const timestamps = collectTimestampFields(wf.customData);
  const parts = [wf.location?.id ?? "", wf.contact_id, wf.workflow?.id ?? "", wf.date_created ?? "", ...timestamps.map((t) => `${t.key}=${t.value}`), normaliseBody(body)];
  const derivedFrom = [
    ...(wf.location?.id ? ["location.id"] : []),
    "contact_id",
    ...(wf.workflow?.id ? ["workflow.id"] : []),
    ...(wf.date_created ? ["date_created"] : []),
    ...timestamps.map((t) => `customData.${t.key}`),
    "message.body (whitespace collapsed)",
  ];
  return { rawId: `wf-${sha256Hex(parts.join("\n"))}`, derivedFrom };
}

function readMessageText(wf: WorkflowBody): string {
  const fromCustom = wf.customData?.Message ?? wf.customData?.message;
  return wf.message?.body ?? (typeof fromCustom === "string" ? fromCustom : "");
}

/** What a workflow delivery means (pure; throws PayloadValidationError naming the field). */
export function planGhlWorkflowDelivery(body: unknown, url: URL): DeliveryPlan {
  const wf = parsePayload(workflowSchema, body);
  const messageType = wf.message?.type;
  if (messageType !== null && messageType !== undefined && !SMS_MESSAGE_TYPES.has(String(messageType).toUpperCase())) {
    return { kind: "ignored", provider: "ghl", eventType: GHL_WORKFLOW_EVENT, reason: `GHL workflow message type ${String(messageType)} is not SMS` };
  }
  const text = readMessageText(wf);
  if (normaliseBody(text) === "") {
    return { kind: "ignored", provider: "ghl", eventType: GHL_WORKFLOW_EVENT, reason: "GHL workflow delivery carries no message body (message.body)" };
  }
  const locationId = wf.location?.id;
  const { client, scope } = resolveWorkspaceClient(url, "location.id", locationId, () => ({ by: "ghlLocationId", value: locationId! }));
  const { rawId, derivedFrom } = deriveGhlWorkflowKey(wf, text);
  const custom = wf.customData ?? {};
  const customDate = typeof custom.Date === "string" && typeof custom.Time === "string" ? `${custom.Date} ${custom.Time}` : null;
  return buildMessagePlan("ghl", { key: "ghlId", rawId, scope, derivedFrom }, {
    eventType: GHL_WORKFLOW_EVENT,
    client,
    lead: { key: "ghlContactId", value: wf.contact_id, firstName: wf.first_name ?? null, lastName: wf.last_name ?? null },
    channel: "SMS",
    // The action fires from the app's inbound-message trigger; the payload has no direction field.
    direction: "INBOUND",
    subject: null,
    body: text,
    sentAt: pickDate(customDate),
    jobTypes: jobTypesForMessage("GHL", "INBOUND"),
  });
}

function readLocationId(body: unknown): string | null {
  const location = isObject(body) ? body.location : undefined;
  return isObject(location) && typeof location.id === "string" && location.id.trim() !== "" ? location.id : null;
}

/**
 * Authenticates a workflow delivery: the client's workflow secret (query,
 * header or bearer), then, when the body names a location, that it is the
 * client's. `describeLocationMismatch` is the Marketplace check's wording.
 */
export function verifyGhlWorkflowSecret(
  { headers, url, body, client }: SecretContext,
  describeLocationMismatch: (client: Pick<ResolvedClient, "slug" | "ghlLocationId">, locationId: string | null) => string | null,
): void {
  requireSecret(client, "ghlWorkflowSecret", [url.searchParams.get("secret"), readHeader(headers, "x-webhook-secret"), readBearerToken(headers)], {
    provider: "GHL workflow",
    sentAs: "?secret= on the webhook URL, an X-Webhook-Secret header or Authorization: Bearer",
    flag: "--ghl-workflow-secret",
  });
  const locationId = readLocationId(body);
  if (!locationId) return;
  const mismatch = describeLocationMismatch(client, locationId);
  if (mismatch) throw new WebhookAuthError(mismatch);
}
