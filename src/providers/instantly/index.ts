// Instantly (API v2 webhooks): POST /api/webhooks/instantly.
//
// Dedupe key: email_id — the reply's id for reply_received (→ emailBisonReplyId)
// and the sent email's id for email_sent (→ inboxxiaScheduledEmailId).
// Without email_id (seen on some reply_received deliveries), the key is
// derived: "ev-" + sha256 hex of, joined by "\n": event_type, campaign_id,
// lead_email (lower case), timestamp, step, variant, and the message text
// (reply_text/reply_text_snippet for replies, email_text for sent mail) with
// whitespace collapsed. Two different messages collide only with the same
// lead, campaign, step and millisecond timestamp and the same text; a retry
// escapes dedupe if Instantly re-sends the event with a new timestamp.
// Scope: workspace (uuid); without one, the ?clientId= value.
// Auth: Instantly does not sign requests; the subscription adds a custom
// header (X-Instantly-Secret: <secret>, or Authorization: Bearer <secret>),
// compared with Client.instantlyWebhookSecret.
import { z } from "zod";
import { jobTypesForMessage } from "../../core/jobs.js";
import { readBearerToken, readHeader, requireSecret } from "../auth.js";
import { buildMessagePlan, firstText, freeText, idSchema, normaliseEmail, optionalDate, optionalText, parsePayload, pickDate, plainText, resolveWorkspaceClient, sha256Hex } from "../common.js";
import { PayloadValidationError } from "../errors.js";
import type { ProviderAdapter, SecretContext } from "../adapter.js";
import type { DeliveryPlan } from "../types.js";

const eventSchema = z.looseObject({ event_type: z.string().min(1) });

const instantlySchema = z.looseObject({
  event_type: z.string(),
  timestamp: optionalDate,
  workspace: optionalText,
  lead_email: plainText.min(1),
  email_id: idSchema.nullish(),
  campaign_id: optionalText,
  step: z.union([z.number(), z.string()]).nullish(),
  variant: z.union([z.number(), z.string()]).nullish(),
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
  const text = (reply ? firstText(msg.reply_text, msg.reply_text_snippet, msg.reply_html) : firstText(msg.email_text, msg.email_html)) ?? "";
  const id = msg.email_id ? { rawId: msg.email_id } : deriveInstantlyKey(msg, text);
  return buildMessagePlan("instantly", { key, scope, ...id }, {
    eventType,
    client,
    lead: { key: "email", value: normaliseEmail(msg.lead_email) },
    channel: "EMAIL",
    direction,
    subject: reply ? firstText(msg.reply_subject, msg.email_subject) : (msg.email_subject ?? null),
    body: text,
    sentAt: pickDate(msg.timestamp),
    jobTypes: jobTypesForMessage("INSTANTLY", direction),
  });
}

const DERIVED_KEY_FIELDS = ["event_type", "campaign_id", "lead_email", "timestamp", "step", "variant", "message text (whitespace collapsed)"];

/** The documented key for a delivery without email_id (see the header comment). */
function deriveInstantlyKey(msg: z.infer<typeof instantlySchema>, text: string): { rawId: string; derivedFrom: string[] } {
  if (!msg.timestamp) throw new PayloadValidationError("email_id", "required (without it the key is derived, and that needs timestamp)");
  const parts = [msg.event_type, msg.campaign_id ?? "", normaliseEmail(msg.lead_email), msg.timestamp, String(msg.step ?? ""), String(msg.variant ?? ""), text.replace(/\s+/g, " ").trim()];
  return { rawId: `ev-${sha256Hex(parts.join("\n"))}`, derivedFrom: DERIVED_KEY_FIELDS };
}

function verifySecret({ headers, client }: SecretContext): void {
  requireSecret(client, "instantlyWebhookSecret", [readHeader(headers, "x-instantly-secret"), readBearerToken(headers)], {
    provider: "Instantly",
    sentAs: "X-Instantly-Secret header (or Authorization: Bearer)",
    flag: "--instantly-secret",
  });
}

export const instantlyAdapter: ProviderAdapter = { name: "instantly", planDelivery, verifySecret };
