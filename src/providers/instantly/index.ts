// Instantly (API v2 webhooks): POST /api/webhooks/instantly.
//
// Dedupe key: email_id — the reply's id for reply_received (→ emailBisonReplyId)
// and the sent email's id for email_sent (→ inboxxiaScheduledEmailId).
// Scope: workspace (uuid); without one, the ?clientId= value.
// Auth: Instantly does not sign requests; the subscription adds a custom
// header (X-Instantly-Secret: <secret>, or Authorization: Bearer <secret>),
// compared with Client.instantlyWebhookSecret.
import { z } from "zod";
import { jobTypesForMessage } from "../../core/jobs.js";
import { readBearerToken, readHeader, requireSecret } from "../auth.js";
import { buildMessagePlan, firstText, freeText, idSchema, normaliseEmail, optionalDate, optionalText, parsePayload, pickDate, plainText, resolveWorkspaceClient } from "../common.js";
import type { ProviderAdapter, SecretContext } from "../adapter.js";
import type { DeliveryPlan } from "../types.js";

const eventSchema = z.looseObject({ event_type: z.string().min(1) });

const instantlySchema = z.looseObject({
  event_type: z.string(),
  timestamp: optionalDate,
  workspace: optionalText,
  lead_email: plainText.min(1),
  email_id: idSchema,
  email_subject: freeText,
  email_text: freeText,
  email_html: freeText,
  reply_subject: freeText,
  reply_text: freeText,
  reply_html: freeText,
  reply_text_snippet: freeText,
});

function planDelivery(body: unknown, url: URL): DeliveryPlan {
  const { event_type: eventType } = parsePayload(eventSchema, body);
  if (eventType !== "reply_received" && eventType !== "email_sent") {
    return { kind: "ignored", provider: "instantly", eventType, reason: `Instantly ${eventType} is not a message event` };
  }
  const msg = parsePayload(instantlySchema, body);
  const { client, scope } = resolveWorkspaceClient(url, "workspace", msg.workspace, () => ({ by: "instantlyWorkspaceId", value: msg.workspace! }));
  const reply = eventType === "reply_received";
  const direction = reply ? "INBOUND" : "OUTBOUND";
  const key = reply ? "emailBisonReplyId" : "inboxxiaScheduledEmailId";
  return buildMessagePlan("instantly", { key, rawId: msg.email_id, scope }, {
    eventType,
    client,
    lead: { key: "email", value: normaliseEmail(msg.lead_email) },
    channel: "EMAIL",
    direction,
    subject: reply ? firstText(msg.reply_subject, msg.email_subject) : (msg.email_subject ?? null),
    body: (reply ? firstText(msg.reply_text, msg.reply_text_snippet, msg.reply_html) : firstText(msg.email_text, msg.email_html)) ?? "",
    sentAt: pickDate(msg.timestamp),
    jobTypes: jobTypesForMessage("INSTANTLY", direction),
  });
}

function verifySecret({ headers, client }: SecretContext): void {
  requireSecret(client, "instantlyWebhookSecret", [readHeader(headers, "x-instantly-secret"), readBearerToken(headers)], {
    provider: "Instantly",
    sentAs: "X-Instantly-Secret header (or Authorization: Bearer)",
    flag: "--instantly-secret",
  });
}

export const instantlyAdapter: ProviderAdapter = { name: "instantly", planDelivery, verifySecret };
