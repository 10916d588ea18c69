// EmailBison (white-labelled as Inboxxia): POST /api/webhooks/email.
//
// Dedupe key: replies → emailBisonReplyId = data.reply.id; EMAIL_SENT →
// inboxxiaScheduledEmailId = data.scheduled_email.id. LEAD_INTERESTED repeats
// the reply id LEAD_REPLIED carried, so it lands on the same message (deduped).
// Scope: "ws-<workspace_id>", plus "@<instance host>" when the payload names
// its instance (workspace ids and reply ids are only unique per instance);
// without a workspace id, the ?clientId= value.
// Bounces (EMAIL_BOUNCED, or UNTRACKED_REPLY_RECEIVED from a mailer daemon)
// are stored once like any reply but enqueue no jobs: they are not the lead
// talking, so they must not count as inbound activity or feed lead scoring.
// Event names: payloads say LEAD_REPLIED, subscriptions lead_replied, and
// captures show other casings (Lead Replied, leadReplied, lead-replied): all
// are normalised to upper snake case before matching. Unhandled events are
// acknowledged and ignored before the rest of the envelope is validated.
// Auth: no signature exists; the webhook URL carries ?token=, compared with
// Client.emailBisonWebhookToken.
import { z } from "zod";
import type { BackgroundJobType } from "../../generated/prisma/enums.js";
import { jobTypesForMessage } from "../../core/jobs.js";
import { requireSecret } from "../auth.js";
import { PayloadValidationError } from "../errors.js";
import { buildMessagePlan, firstText, freeText, idSchema, normaliseEmail, optionalDate, optionalText, parsePayload, pickDate, plainText, resolveWorkspaceClient } from "../common.js";
import type { ProviderAdapter, SecretContext } from "../adapter.js";
import type { ClientRef, DeliveryPlan } from "../types.js";

const HANDLED_EVENTS = ["LEAD_REPLIED", "LEAD_INTERESTED", "UNTRACKED_REPLY_RECEIVED", "EMAIL_BOUNCED", "EMAIL_SENT"] as const;

const envelopeSchema = z.looseObject({
  event: z.looseObject({
    type: z.string().min(1),
    instance_url: optionalText,
    workspace_id: idSchema.nullish(),
  }),
  data: z.looseObject({}).nullish(),
});

const replySchema = z.looseObject({
  id: idSchema,
  email_subject: freeText,
  from_name: freeText,
  from_email_address: optionalText,
  html_body: freeText,
  text_body: freeText,
  date_received: optionalDate,
  created_at: optionalDate,
});

const leadSchema = z.looseObject({
  email: optionalText,
  first_name: freeText,
  last_name: freeText,
});

const replyDataSchema = z.looseObject({
  reply: replySchema,
  lead: leadSchema.nullish(),
  campaign_event: z.looseObject({ created_at: optionalDate }).nullish(),
});

const sentDataSchema = z.looseObject({
  scheduled_email: z.looseObject({
    id: idSchema,
    email_subject: freeText,
    email_body: freeText,
    sent_at: optionalDate,
  }),
  lead: leadSchema.extend({ email: plainText.min(1) }),
  campaign_event: z.looseObject({ created_at: optionalDate }).nullish(),
});

type Envelope = z.infer<typeof envelopeSchema>;

const eventTypeSchema = z.looseObject({ event: z.looseObject({ type: z.string().min(1) }) });

/** "lead_replied", "Lead Replied", "leadReplied", "lead-replied" → "LEAD_REPLIED". */
export function normaliseEventType(type: string): string {
  return type
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/[\s.-]+/g, "_")
    .toUpperCase();
}

function planDelivery(body: unknown, url: URL): DeliveryPlan {
  const eventType = normaliseEventType(parsePayload(eventTypeSchema, body).event.type);
  if (!(HANDLED_EVENTS as readonly string[]).includes(eventType)) {
    return { kind: "ignored", provider: "emailbison", eventType, reason: `EmailBison ${eventType} is not a message event` };
  }
  const envelope = parsePayload(envelopeSchema, body);
  const { client, scope } = resolveClient(envelope, url);
  if (eventType === "EMAIL_SENT") return planSent(envelope, eventType, client, scope);
  return planReply(envelope, eventType, client, scope);
}

function resolveClient(envelope: Envelope, url: URL): { client: ClientRef; scope: string } {
  const workspaceId = envelope.event.workspace_id;
  const instanceUrl = envelope.event.instance_url?.trim() ?? "";
  const workspaceScope = workspaceId != null ? `ws-${workspaceId}${instanceUrl ? `@${instanceHost(instanceUrl)}` : ""}` : undefined;
  return resolveWorkspaceClient(url, "event.workspace_id", workspaceScope, () => ({ by: "emailBisonWorkspace", instanceUrl, workspaceId: workspaceId! }));
}

function instanceHost(instanceUrl: string): string {
  try {
    return new URL(instanceUrl).host;
  } catch {
    return instanceUrl;
  }
}

// Built once: constructing zod schemas per delivery showed up in profiles.
const replyEnvelopeSchema = z.looseObject({ data: replyDataSchema });
const sentEnvelopeSchema = z.looseObject({ data: sentDataSchema });

const BOUNCE_SENDER = /^(mailer-daemon|postmaster|mail-daemon)@/i;
const BOUNCE_SUBJECT = /undeliver|delivery status notification|returned mail|failure notice|delivery failure|mail delivery failed/i;

function planReply(envelope: Envelope, eventType: string, client: ClientRef, scope: string): DeliveryPlan {
  const data = parsePayload(replyEnvelopeSchema, envelope).data;
  const reply = data.reply;
  const isBounce =
    eventType === "EMAIL_BOUNCED" ||
    (eventType === "UNTRACKED_REPLY_RECEIVED" && (BOUNCE_SENDER.test(reply.from_email_address ?? "") || BOUNCE_SUBJECT.test(reply.email_subject ?? "")));
  const text = firstText(reply.text_body, reply.html_body) ?? "";
  // A bounce comes from the mailer daemon; the lead is the recipient that bounced.
  const leadEmail = isBounce
    ? firstText(data.lead?.email, findBouncedRecipient(text), reply.from_email_address)
    : firstText(data.lead?.email, reply.from_email_address);
  if (!leadEmail) throw new PayloadValidationError("data.reply.from_email_address", "required when data.lead.email is absent");
  const jobTypes: BackgroundJobType[] = isBounce ? [] : jobTypesForMessage("EMAILBISON", "INBOUND");
  return buildMessagePlan("emailbison", { key: "emailBisonReplyId", rawId: reply.id, scope }, {
    eventType,
    client,
    lead: { key: "email", value: normaliseEmail(leadEmail), firstName: data.lead?.first_name ?? null, lastName: data.lead?.last_name ?? null },
    channel: "EMAIL",
    direction: "INBOUND",
    subject: reply.email_subject ?? null,
    body: text,
    sentAt: pickDate(reply.date_received, reply.created_at, data.campaign_event?.created_at),
    jobTypes,
  });
}

function planSent(envelope: Envelope, eventType: string, client: ClientRef, scope: string): DeliveryPlan {
  const data = parsePayload(sentEnvelopeSchema, envelope).data;
  const sent = data.scheduled_email;
  return buildMessagePlan("emailbison", { key: "inboxxiaScheduledEmailId", rawId: sent.id, scope }, {
    eventType,
    client,
    lead: { key: "email", value: normaliseEmail(data.lead.email), firstName: data.lead.first_name ?? null, lastName: data.lead.last_name ?? null },
    channel: "EMAIL",
    direction: "OUTBOUND",
    subject: sent.email_subject ?? null,
    body: sent.email_body ?? "",
    sentAt: pickDate(sent.sent_at, data.campaign_event?.created_at),
    jobTypes: jobTypesForMessage("EMAILBISON", "OUTBOUND"),
  });
}

/** The failed address in a DSN ("Final-Recipient: rfc822; x@y"), when the bounce text carries one. */
function findBouncedRecipient(text: string): string | null {
  const match = /(?:Final|Original)-Recipient:\s*rfc822;\s*<?([^\s<>;]+@[^\s<>;]+)>?/i.exec(text);
  return match?.[1] ?? null;
}

function verifySecret({ url, client }: SecretContext): void {
  requireSecret(client, "emailBisonWebhookToken", [url.searchParams.get("token")], {
    provider: "EmailBison",
    sentAs: "?token= on the webhook URL",
    flag: "--emailbison-token",
  });
}

export const emailBisonAdapter: ProviderAdapter = { name: "emailbison", planDelivery, verifySecret };
