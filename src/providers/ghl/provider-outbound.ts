// GoHighLevel "Conversation Provider - Outbound Message" deliveries
// (ProviderOutboundMessage): sent to a custom conversation provider's
// delivery URL when a user messages a contact. Unlike the other events,
// `type` is the channel ("SMS" or "Email"), the text is in `message`, and
// there is no dateAdded or conversationId. GHL signs them with the Ed25519
// X-GHL-Signature only (never the legacy RSA header; ../ghl/index.ts refuses
// an RSA-only one for this shape).
//
// Dedupe key: ghlId = messageId (outbound, no jobs). Email deliveries are
// acknowledged and ignored on the SMS route.
import { z } from "zod";
import { PayloadValidationError } from "../errors.js";
import { buildMessagePlan, freeText, idSchema, optionalText, parsePayload, pickDate, resolveWorkspaceClient } from "../common.js";
import type { DeliveryPlan } from "../types.js";

export const PROVIDER_OUTBOUND_EVENT = "ProviderOutboundMessage";
const CHANNEL_TYPES = new Set(["SMS", "EMAIL"]);

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** A conversation-provider delivery: `type` names a channel and the text is in `message` (or email fields). */
export function isProviderOutboundMessage(body: unknown): boolean {
  if (!isObject(body) || typeof body.type !== "string" || !CHANNEL_TYPES.has(body.type.toUpperCase())) return false;
  return "message" in body || "emailMessageId" in body || "html" in body;
}

/** The same test over raw bytes, for the signature stage. */
export function isProviderOutboundRawBody(rawBody: Uint8Array): boolean {
  try {
    return isProviderOutboundMessage(JSON.parse(Buffer.from(rawBody).toString("utf8")));
  } catch {
    return false;
  }
}

const providerOutboundSchema = z.looseObject({
  type: z.string(),
  locationId: optionalText,
  contactId: optionalText,
  messageId: idSchema.nullish(),
  message: freeText,
  phone: optionalText,
  userId: optionalText,
  attachments: z.array(z.unknown()).nullish(),
});

export function planProviderOutboundMessage(body: unknown, url: URL): DeliveryPlan {
  const msg = parsePayload(providerOutboundSchema, body);
  if (msg.type.toUpperCase() !== "SMS") {
    return { kind: "ignored", provider: "ghl", eventType: PROVIDER_OUTBOUND_EVENT, reason: `GHL ${PROVIDER_OUTBOUND_EVENT} of type ${msg.type} is not handled by the SMS route` };
  }
  if (!msg.messageId) throw new PayloadValidationError("messageId", "required: GHL sends it on every conversation-provider delivery");
  const { client, scope } = resolveWorkspaceClient(url, "locationId", msg.locationId, () => ({ by: "ghlLocationId", value: msg.locationId! }));
  const lead = msg.contactId ? { key: "ghlContactId" as const, value: msg.contactId } : msg.phone ? { key: "phone" as const, value: msg.phone } : null;
  if (!lead) throw new PayloadValidationError("contactId", "required (or the contact's phone)");
  return buildMessagePlan("ghl", { key: "ghlId", rawId: msg.messageId, scope }, {
    eventType: PROVIDER_OUTBOUND_EVENT,
    client,
    lead,
    channel: "SMS",
    direction: "OUTBOUND",
    subject: null,
    body: msg.message ?? "",
    // The payload carries no timestamp: the time of receipt.
    sentAt: pickDate(null),
    jobTypes: [],
  });
}
