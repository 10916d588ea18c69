// SmartLead: POST /api/webhooks/smartlead.
//
// Dedupe key: EMAIL_REPLY → emailBisonReplyId = the reply's RFC Message-ID
// (reply_message.message_id, else the older top-level message_id); stats_id
// names the *sent* email, shared by every reply in a thread, so it is never a
// reply id. EMAIL_SENT → inboxxiaScheduledEmailId = stats_id, else message_id.
// Scope: payloads carry no workspace id, so the scope is our client: the
// ?clientId= value when the URL has one, else "key-" + the first 16 hex of
// sha256(secret_key) (stable per client, reveals nothing about the secret).
// Keep one webhook URL per client: the scope must not change between retries.
// Client: ?clientId=, else the body's secret_key (Client.smartleadWebhookSecret
// is unique). With the secret in a header instead, ?clientId= is required.
// Auth: secret_key in the body, or x-smartlead-secret, or Authorization: Bearer,
// compared with Client.smartleadWebhookSecret.
//
// UNTRACKED_REPLIES (a reply SmartLead could not tie to a campaign lead)
// carries only reply_message, subject, sender_detail ("Name <email>") and
// recipient_detail (our mailbox): it is an inbound reply keyed like
// EMAIL_REPLY, the lead being the sender_detail address. Threaded replies
// send reply_message/sent_message beside the deprecated top-level fields
// (message_id, reply_body, preview_text, time_replied), often as "": the new
// fields win and empty strings count as absent. Every other event type is
// acknowledged and ignored before the rest of the body is validated, so a
// documented event the product does not handle is never a 400.
import { z } from "zod";
import { jobTypesForMessage } from "../../core/jobs.js";
import { readBearerToken, readHeader, requireSecret } from "../auth.js";
import { PayloadValidationError } from "../errors.js";
import { buildMessagePlan, firstText, freeText, idSchema, normaliseEmail, optionalDate, optionalText, parsePayload, pickDate, readClientIdParam, sanitiseScope, sha256Hex, slugRef } from "../common.js";
import type { ProviderAdapter, SecretContext } from "../adapter.js";
import type { ClientRef, DeliveryPlan } from "../types.js";

/** SmartLead sends absent ids as "" (threaded-reply docs): treated as absent, not as a bad id. */
const optionalId = z.preprocess((v) => (v === "" ? null : v), idSchema.nullish());

const eventSchema = z.looseObject({ event_type: z.string().min(1) });
const REPLY_EVENTS = new Set(["EMAIL_REPLY", "UNTRACKED_REPLIES"]);

const mailSchema = z.looseObject({
  message_id: optionalText,
  subject: freeText,
  text: freeText,
  html: freeText,
  time: optionalDate,
});

const smartleadSchema = z.looseObject({
  event_type: z.string().min(1),
  secret_key: optionalText,
  stats_id: optionalId,
  message_id: optionalText,
  sl_lead_email: optionalText,
  to_email: optionalText,
  to_name: freeText,
  subject: freeText,
  custom_subject: freeText,
  custom_email_message: freeText,
  email_body: freeText,
  reply_body: freeText,
  preview_text: freeText,
  time_replied: optionalDate,
  time_sent: optionalDate,
  event_timestamp: optionalDate,
  sender_detail: optionalText,
  reply_message: mailSchema.nullish(),
  sent_message: mailSchema.nullish(),
});

type SmartleadBody = z.infer<typeof smartleadSchema>;

function planDelivery(body: unknown, url: URL): DeliveryPlan {
  const eventType = parsePayload(eventSchema, body).event_type.toUpperCase();
  if (!REPLY_EVENTS.has(eventType) && eventType !== "EMAIL_SENT") {
    return { kind: "ignored", provider: "smartlead", eventType, reason: `SmartLead ${eventType} is not a message event` };
  }
  const sl = parsePayload(smartleadSchema, body);
  const { client, scope } = resolveClient(sl, url);
  return REPLY_EVENTS.has(eventType) ? planReply(sl, eventType, client, scope) : planSent(sl, eventType, client, scope);
}

/** "Sam Sender <sam@example.com>" or a bare address → the address. */
function readAddress(detail: string | null | undefined): string | null {
  const match = /<([^<>\s]+@[^<>\s]+)>/.exec(detail ?? "") ?? /([^\s<>"',;]+@[^\s<>"',;]+)/.exec(detail ?? "");
  return match?.[1] ?? null;
}

function resolveClient(sl: SmartleadBody, url: URL): { client: ClientRef; scope: string } {
  const clientId = readClientIdParam(url);
  if (clientId) return { client: slugRef(clientId), scope: sanitiseScope(clientId) };
  const secret = sl.secret_key?.trim();
  if (!secret) throw new PayloadValidationError("secret_key", "required to tell which client this is (or put ?clientId= on the webhook URL)");
  // Hashed once here: the scope takes a prefix, the client cache the whole digest.
  const digest = sha256Hex(secret);
  return { client: { by: "smartleadSecret", value: secret, digest }, scope: `key-${digest.slice(0, 16)}` };
}

function leadEmail(field: string, ...candidates: Array<string | null | undefined>): string {
  const email = firstText(...candidates);
  if (!email) throw new PayloadValidationError(field, "required: the lead's email address");
  return normaliseEmail(email);
}

function planReply(sl: SmartleadBody, eventType: string, client: ClientRef, scope: string): DeliveryPlan {
  const rawId = firstText(sl.reply_message?.message_id, sl.message_id);
  if (!rawId) throw new PayloadValidationError("message_id", "required: the reply's Message-ID (reply_message.message_id or message_id)");
  return buildMessagePlan("smartlead", { key: "emailBisonReplyId", rawId, scope }, {
    eventType,
    client,
    lead: { key: "email", value: leadEmail("sl_lead_email", sl.sl_lead_email, sl.to_email, readAddress(sl.sender_detail)) },
    channel: "EMAIL",
    direction: "INBOUND",
    subject: firstText(sl.reply_message?.subject, sl.subject),
    body: firstText(sl.reply_message?.text, sl.reply_body, sl.preview_text, sl.reply_message?.html, readString(sl, "visible_text")) ?? "",
    sentAt: pickDate(sl.reply_message?.time, sl.time_replied, sl.event_timestamp),
    jobTypes: jobTypesForMessage("SMARTLEAD", "INBOUND"),
  });
}

function readString(body: Record<string, unknown>, field: string): string | null {
  const value = body[field];
  return typeof value === "string" ? value : null;
}

function planSent(sl: SmartleadBody, eventType: string, client: ClientRef, scope: string): DeliveryPlan {
  const rawId = sl.stats_id ?? firstText(sl.sent_message?.message_id, sl.message_id);
  if (!rawId) throw new PayloadValidationError("stats_id", "required: the sent email's id (stats_id or message_id)");
  return buildMessagePlan("smartlead", { key: "inboxxiaScheduledEmailId", rawId, scope }, {
    eventType,
    client,
    lead: { key: "email", value: leadEmail("to_email", sl.to_email, sl.sl_lead_email) },
    channel: "EMAIL",
    direction: "OUTBOUND",
    subject: firstText(sl.sent_message?.subject, sl.subject, sl.custom_subject),
    body: firstText(sl.sent_message?.text, sl.sent_message?.html, sl.custom_email_message, sl.email_body) ?? "",
    sentAt: pickDate(sl.sent_message?.time, sl.time_sent, sl.event_timestamp),
    jobTypes: jobTypesForMessage("SMARTLEAD", "OUTBOUND"),
  });
}

function verifySecret({ headers, body, client }: SecretContext): void {
  const bodySecret = (body as { secret_key?: unknown })?.secret_key;
  requireSecret(client, "smartleadWebhookSecret", [typeof bodySecret === "string" ? bodySecret : undefined, readHeader(headers, "x-smartlead-secret"), readBearerToken(headers)], {
    provider: "SmartLead",
    sentAs: "secret_key in the body, x-smartlead-secret or Authorization: Bearer",
    flag: "--smartlead-secret",
  });
}

export const smartleadAdapter: ProviderAdapter = { name: "smartlead", planDelivery, verifySecret };
