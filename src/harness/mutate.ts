// Fresh provider ids for race rounds: each round rewrites the field(s) the
// provider's unique id is read from, so a round can never dedupe against an
// earlier round's (or an earlier run's) rows. The caller re-plans the mutated
// body with planDeliveryFor and checks the unique id really changed, so a
// provider whose id lives elsewhere fails loudly instead of racing stale data.
import { randomInt, randomUUID } from "node:crypto";
import type { ProviderName } from "../providers/types.js";

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** A positive integer unlikely to collide (EmailBison ids are integers). */
function freshInteger(): number {
  return randomInt(1_000_000_000, 2 ** 47);
}

/** Returns a deep copy of `body` whose provider unique id field(s) carry fresh values. */
export function mutateUniqueId(provider: ProviderName, body: unknown): unknown {
  if (!isObject(body)) return body;
  const copy = structuredClone(body) as Json;
  const tag = randomUUID();
  switch (provider) {
    case "emailbison": {
      const data = isObject(copy.data) ? copy.data : undefined;
      const event = isObject(copy.event) ? copy.event : {};
      const type = String(event.type ?? "").toUpperCase();
      if (isObject(data?.reply)) data.reply.id = freshInteger();
      // EMAIL_SENT keys on the scheduled email; for replies it names the
      // original sent email and stays as it is.
      if (isObject(data?.scheduled_email) && (type === "EMAIL_SENT" || !isObject(data.reply))) data.scheduled_email.id = freshInteger();
      break;
    }
    case "ghl":
      if (isObject(copy.workflow) || "contact_id" in copy) {
        // A workflow delivery has no id: its derived key covers workflow.id,
        // which nothing else in the plan uses (src/providers/ghl/workflow.ts).
        const workflow = isObject(copy.workflow) ? copy.workflow : (copy.workflow = {});
        workflow.id = `race-${tag}`;
        break;
      }
      if (!copy.messageId && !copy.originalMessageId && typeof copy.dateAdded === "string") {
        // No id: keyed on the documented fallback hash, which covers dateAdded;
        // a fresh instant (up to ~24 days later, to the millisecond) keeps racing that key.
        copy.dateAdded = new Date(Date.parse(copy.dateAdded) + randomInt(1, 2 ** 31)).toISOString();
        break;
      }
      copy.messageId = `race-${tag}`;
      // An outbound retry is keyed on the original message's id.
      if ("originalMessageId" in copy) copy.originalMessageId = `race-original-${tag}`;
      break;
    case "unipile":
      copy.message_id = `race-${tag}`;
      break;
    case "smartlead": {
      const messageId = `<race-${tag}@dedupe.invalid>`;
      if (isObject(copy.reply_message)) copy.reply_message.message_id = messageId;
      copy.message_id = messageId;
      if ("stats_id" in copy) copy.stats_id = tag;
      break;
    }
    case "instantly":
      if (!copy.email_id) {
        // No email_id: the derived key covers campaign_id, which nothing else in the plan uses (src/providers/instantly).
        copy.campaign_id = tag;
        break;
      }
      copy.email_id = tag;
      break;
  }
  return copy;
}
