// GoHighLevel (LeadConnector) SMS: POST /api/webhooks/ghl/sms.
// The same route takes workflow "Webhook" actions (./workflow.ts: unsigned,
// per-client secret, derived key) and conversation-provider deliveries
// (./provider-outbound.ts); the body's shape decides which.
//
// Dedupe key: ghlId = messageId; for OutboundMessage retries GHL sends a new
// messageId plus originalMessageId, and the original is the message's identity.
// Scope: locationId (GHL sub-account); without one, the ?clientId= value.
//
// Fallback key when a delivery carries no message id (GHL's own SMS examples
// omit it): "fb-" + sha256 hex of
//   locationId \n contactId \n dateAdded \n direction \n body
// where direction is "inbound"/"outbound" derived from `type` (the payload's
// own `direction` field is wrong in GHL's OutboundMessage example). Two
// retries of one message agree on all five; two different messages would
// need the same contact, millisecond and text to collide.
//
// Auth: X-GHL-Signature (Ed25519, base64) or legacy X-WH-Signature
// (RSA-SHA256, base64) over the raw body bytes; see ../auth.ts. GHL signs
// every location's webhooks with the same key, so a valid signature proves
// GHL sent the body, not which of our clients it is for: the body's
// locationId must also be the resolved client's (?clientId= included).
import { z } from "zod";
import { jobTypesForMessage } from "../../core/jobs.js";
import type { Direction } from "../../generated/prisma/enums.js";
import { readHeader, verifyGhlSignature } from "../auth.js";
import { PayloadValidationError, WebhookAuthError } from "../errors.js";
import { buildMessagePlan, freeText, idSchema, optionalDate, optionalText, parsePayload, pickDate, resolveWorkspaceClient, sha256Hex, type MessagePlan } from "../common.js";
import type { ProviderAdapter, ResolvedClient, SecretContext, SignatureContext } from "../adapter.js";
import type { DeliveryPlan } from "../types.js";
import { isGhlWorkflowBody, isGhlWorkflowRawBody, planGhlWorkflowDelivery, verifyGhlWorkflowSecret } from "./workflow.js";
import { isProviderOutboundMessage, isProviderOutboundRawBody, planProviderOutboundMessage } from "./provider-outbound.js";

const MESSAGE_TYPES = { InboundMessage: "INBOUND", OutboundMessage: "OUTBOUND" } as const satisfies Record<string, Direction>;
const SMS_TYPES = new Set(["SMS", "TYPE_SMS"]);

/** An absent messageType is taken as SMS (both the SMS route and history exports omit it for SMS). */
export function isSmsMessageType(messageType: string | null | undefined): boolean {
  return !messageType || SMS_TYPES.has(messageType);
}

const smsSchema = z.looseObject({
  type: z.string().min(1),
  locationId: optionalText,
  messageId: idSchema.nullish(),
  originalMessageId: idSchema.nullish(),
  contactId: optionalText,
  conversationId: optionalText,
  body: freeText,
  dateAdded: optionalDate,
  messageType: optionalText,
  from: optionalText,
  to: optionalText,
  attachments: z.array(z.unknown()).nullish(),
});

interface GhlMessageFields {
  locationId: string | null;
  contactId: string | null;
  dateAdded: string | null;
  direction: Direction;
  body: string;
}

const GHL_FALLBACK_KEY_FIELDS = ["locationId", "contactId", "dateAdded", "type (direction)", "body"] as const;

/** The documented fallback when a message has no id (see the header comment). */
function buildGhlFallbackId(fields: GhlMessageFields): string {
  const parts = [fields.locationId ?? "", fields.contactId ?? "", fields.dateAdded ?? "", fields.direction.toLowerCase(), fields.body];
  return `fb-${sha256Hex(parts.join("\n"))}`;
}

function planDelivery(body: unknown, url: URL): DeliveryPlan {
  // Other GHL shapes on this route: workflow actions (./workflow.ts) and conversation-provider deliveries.
  if (isGhlWorkflowBody(body)) return planGhlWorkflowDelivery(body, url);
  if (isProviderOutboundMessage(body)) return planProviderOutboundMessage(body, url);
  const sms = parsePayload(smsSchema, body);
  const direction = MESSAGE_TYPES[sms.type as keyof typeof MESSAGE_TYPES];
  if (!direction) return { kind: "ignored", provider: "ghl", eventType: sms.type, reason: `GHL ${sms.type} is not a message event` };
  // Another channel on the SMS route is acknowledged and ignored.
  if (!isSmsMessageType(sms.messageType)) {
    return { kind: "ignored", provider: "ghl", eventType: sms.type, reason: `GHL ${sms.messageType} messages are not handled by the SMS route` };
  }
  return planGhlMessage({ ...sms, direction, eventType: sms.type }, url);
}

/** Shared by webhook deliveries and the history import, so both key a message identically. */
export function planGhlMessage(
  sms: {
    eventType: string;
    direction: Direction;
    locationId?: string | null;
    messageId?: string | null;
    originalMessageId?: string | null;
    contactId?: string | null;
    body?: string | null;
    dateAdded?: string | null;
    from?: string | null;
    to?: string | null;
  },
  url: URL | null,
): MessagePlan {
  const { client, scope } = resolveWorkspaceClient(url, "locationId", sms.locationId, () => ({ by: "ghlLocationId", value: sms.locationId! }));
  const text = sms.body ?? "";
  let rawId = (sms.direction === "OUTBOUND" ? sms.originalMessageId : null) ?? sms.messageId ?? null;
  let derivedFrom: readonly string[] | undefined;
  if (!rawId) {
    if (!sms.contactId || !sms.dateAdded) {
      throw new PayloadValidationError("messageId", "required (the fallback key needs contactId and dateAdded, and one is missing)");
    }
    rawId = buildGhlFallbackId({ locationId: sms.locationId ?? null, contactId: sms.contactId, dateAdded: sms.dateAdded, direction: sms.direction, body: text });
    derivedFrom = GHL_FALLBACK_KEY_FIELDS;
  }
  const phone = sms.direction === "INBOUND" ? sms.from : sms.to;
  const lead = sms.contactId ? { key: "ghlContactId" as const, value: sms.contactId } : phone ? { key: "phone" as const, value: phone } : null;
  if (!lead) throw new PayloadValidationError("contactId", "required (or a phone number in from/to)");
  return buildMessagePlan("ghl", { key: "ghlId", rawId, scope, derivedFrom }, {
    eventType: sms.eventType,
    client,
    lead,
    channel: "SMS",
    direction: sms.direction,
    subject: null,
    body: text,
    sentAt: pickDate(sms.dateAdded),
    jobTypes: jobTypesForMessage("GHL", sms.direction),
  });
}

function verifySignature({ rawBody, headers, ghlKeys }: SignatureContext): void {
  // A workflow action sends no signature: its per-client secret is checked
  // in verifySecret, once the client is known. A body with a string `type`
  // is never workflow-shaped, so Marketplace events still need a signature.
  if (!readHeader(headers, "x-ghl-signature") && !readHeader(headers, "x-wh-signature") && isGhlWorkflowRawBody(rawBody)) return;
  const result = verifyGhlSignature(rawBody, headers, ghlKeys);
  if (!result.ok) throw new WebhookAuthError(result.reason);
  // GHL signs conversation-provider deliveries with Ed25519 only.
  if (result.scheme === "rsa-sha256" && isProviderOutboundRawBody(rawBody)) {
    throw new WebhookAuthError("ProviderOutboundMessage deliveries are signed with X-GHL-Signature (Ed25519) only; X-WH-Signature is not accepted for them");
  }
}

/**
 * Why messages of `locationId` must not be written into `client`, or null
 * when they may (the location is the client's). Shared with the history
 * import, which must not file one location's messages under another client.
 */
export function describeLocationMismatch(client: Pick<ResolvedClient, "slug" | "ghlLocationId">, locationId: string | null | undefined): string | null {
  if (locationId && locationId === client.ghlLocationId) return null;
  if (!locationId) return `GHL delivery names no locationId, so it cannot be tied to client ${client.slug}`;
  const register = `if it is theirs, run dedupe-cli clients add --slug ${client.slug} --ghl-location-id ${locationId}`;
  if (!client.ghlLocationId) return `client ${client.slug} has no GHL location configured, so GHL location ${locationId} is not known to be theirs; ${register}`;
  return `GHL location ${locationId} is not client ${client.slug}'s location; ${register}`;
}

/** The signature says GHL sent it; the location says whose it is. */
function verifyLocation({ body, client }: SecretContext): void {
  const locationId = (body as { locationId?: unknown }).locationId;
  const named = typeof locationId === "string" ? locationId : null;
  const mismatch = describeLocationMismatch(client, named);
  if (mismatch) throw new WebhookAuthError(mismatch, named ? "locationId is not the location of the client this webhook URL names (check ?clientId=)" : mismatch);
}

/** Workflow deliveries authenticate with their secret; signed events with the location check. */
function verifySecret(ctx: SecretContext): void {
  if (isGhlWorkflowBody(ctx.body)) verifyGhlWorkflowSecret(ctx, describeLocationMismatch);
  else verifyLocation(ctx);
}

export const ghlAdapter: ProviderAdapter = { name: "ghl", planDelivery, verifySignature, verifySecret };
