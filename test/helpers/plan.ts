// A hand-made message plan for invariant and mapping unit tests: the
// EmailBison reply the fixtures use, with whatever a test overrides.
import type { DeliveryPlan } from "../../src/providers/types.js";

export type MessagePlan = Extract<DeliveryPlan, { kind: "message" }>;

export function buildMessagePlan(overrides: Partial<MessagePlan> = {}): MessagePlan {
  return {
    kind: "message",
    provider: "emailbison",
    eventType: "LEAD_REPLIED",
    client: { by: "slug", value: "acme" },
    unique: { key: "emailBisonReplyId", rawId: "725", scope: "ws-1", value: "emailbison:ws-1:725" },
    lead: { key: "email", value: "lead@example.com" },
    channel: "EMAIL",
    direction: "INBOUND",
    subject: null,
    body: "hi",
    sentAt: new Date(0),
    jobTypes: ["EMAIL_INBOUND_POST_PROCESS", "LEAD_SCORING_POST_PROCESS"],
    ...overrides,
  };
}
