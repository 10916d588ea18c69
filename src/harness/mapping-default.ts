// dedupe-cli's own receiver as a config: the tables of prisma/schema.prisma,
// dedupe-cli's answer convention and its warm-up. Providers are left
// unconfigured on purpose: the mapping then follows dedupe-cli's
// conventions (each plan's own stored-id column, namespaced ids with a bare
// fallback, the plan's job types keyed clientId:messageId:type).
import { dedupeConfigSchema, type ResolvedConfig } from "./config-schema.js";
import { createReceiverMapping, type ReceiverMapping } from "./mapping.js";

export const DEFAULT_CONFIG: ResolvedConfig = dedupeConfigSchema.parse({
  schema: {
    messages: { table: "Message", id: "id", leadId: "leadId", clientId: "clientId" },
    leads: { table: "Lead", id: "id", clientId: "clientId", identity: { email: "email", phone: "phone", ghlContactId: "ghlContactId", linkedinId: "linkedinId" } },
    clients: { table: "Client", id: "id" },
    drafts: { table: "AIDraft", messageId: "triggerMessageId" },
    jobs: { table: "BackgroundJob", id: "id", type: "type", messageId: "messageId", dedupeKey: "dedupeKey", status: "status", attempts: "attempts", lastError: "lastError", runAt: "runAt", lockedBy: "lockedBy" },
  },
  // A delivery naming an unknown client: answered 404 having written nothing.
  warmup: { query: { clientId: "dedupe-warmup-{uuid}" } },
});

/** The mapping every command uses when no dedupe.config file is given or found. */
export function createDefaultMapping(): ReceiverMapping {
  return createReceiverMapping(DEFAULT_CONFIG, { conventions: true });
}
