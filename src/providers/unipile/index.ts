// Unipile LinkedIn messages: POST /api/webhooks/linkedin.
//
// Dedupe key: unipileMessageId = message_id. Scope: account_id (the connected
// LinkedIn account); without one, the ?clientId= value.
// Direction: Unipile reports the account's own messages as message_received
// too; when sender.attendee_provider_id equals account_info.user_id the
// message is outbound and the lead is the other attendee.
// Auth: no signature exists. The webhook is created with a custom header
// (Unipile-Auth: <secret>, X-Unipile-Auth also accepted) that Unipile echoes
// on every delivery, compared with Client.unipileWebhookSecret.
import { z } from "zod";
import { jobTypesForMessage } from "../../core/jobs.js";
import { readHeader, requireSecret } from "../auth.js";
import { PayloadValidationError } from "../errors.js";
import { buildMessagePlan, freeText, idSchema, optionalDate, optionalText, parsePayload, pickDate, resolveWorkspaceClient, splitName } from "../common.js";
import type { ProviderAdapter, SecretContext } from "../adapter.js";
import type { DeliveryPlan } from "../types.js";

const attendeeSchema = z.looseObject({
  attendee_id: optionalText,
  attendee_name: freeText,
  attendee_provider_id: optionalText,
  attendee_profile_url: optionalText,
});

const eventSchema = z.looseObject({ event: z.string().min(1) });

const messageSchema = z.looseObject({
  event: z.string(),
  account_id: optionalText,
  account_info: z.looseObject({ user_id: optionalText }).nullish(),
  chat_id: optionalText,
  message_id: idSchema,
  message: freeText,
  timestamp: optionalDate,
  sender: attendeeSchema,
  attendees: z.array(attendeeSchema).nullish(),
  // An object in Unipile's doc example, an array in practice.
  attachments: z.union([z.array(z.unknown()), z.looseObject({})]).nullish(),
});

function planDelivery(body: unknown, url: URL): DeliveryPlan {
  const { event } = parsePayload(eventSchema, body);
  if (event !== "message_received") return { kind: "ignored", provider: "unipile", eventType: event, reason: `Unipile ${event} is not a new message` };
  const msg = parsePayload(messageSchema, body);
  const { client, scope } = resolveWorkspaceClient(url, "account_id", msg.account_id, () => ({ by: "unipileAccountId", value: msg.account_id! }));

  const selfId = msg.account_info?.user_id ?? null;
  const outbound = selfId !== null && msg.sender.attendee_provider_id === selfId;
  const counterpart = outbound ? msg.attendees?.find((a) => a.attendee_provider_id && a.attendee_provider_id !== selfId) : msg.sender;
  const linkedinId = counterpart?.attendee_provider_id;
  if (!linkedinId) {
    throw new PayloadValidationError(outbound ? "attendees" : "sender.attendee_provider_id", "no LinkedIn id for the other party of this message");
  }
  const direction = outbound ? "OUTBOUND" : "INBOUND";
  return buildMessagePlan("unipile", { key: "unipileMessageId", rawId: msg.message_id, scope }, {
    eventType: event,
    client,
    lead: { key: "linkedinId", value: linkedinId, ...splitName(counterpart?.attendee_name) },
    channel: "LINKEDIN",
    direction,
    subject: null,
    body: msg.message ?? "",
    sentAt: pickDate(msg.timestamp),
    jobTypes: jobTypesForMessage("UNIPILE", direction),
  });
}

function verifySecret({ headers, client }: SecretContext): void {
  requireSecret(client, "unipileWebhookSecret", [readHeader(headers, "unipile-auth"), readHeader(headers, "x-unipile-auth")], {
    provider: "Unipile",
    sentAs: "Unipile-Auth header",
    flag: "--unipile-secret",
  });
}

export const unipileAdapter: ProviderAdapter = { name: "unipile", planDelivery, verifySecret };
