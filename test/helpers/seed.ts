import { randomUUID } from "node:crypto";
import { buildMessageRow, insertMessage, type IngestInput } from "../../src/core/index.js";
import type { Db } from "../../src/db/client.js";

export async function createClient(db: Db, overrides: Record<string, unknown> = {}) {
  const slug = `client-${randomUUID().slice(0, 8)}`;
  return db.client.create({ data: { slug, name: slug, ...overrides } });
}

export async function createLead(db: Db, clientId: string, email = `${randomUUID().slice(0, 8)}@example.com`) {
  return db.lead.create({ data: { clientId, email } });
}

/** An inbound EmailBison reply for ingestMessage: a fresh reply id and lead unless overridden. */
export function buildIngestInput(clientId: string, overrides: Partial<IngestInput> = {}): IngestInput {
  return {
    clientId,
    provider: "EMAILBISON",
    channel: "EMAIL",
    direction: "INBOUND",
    subject: "Re: hello",
    body: "Sounds interesting",
    sentAt: new Date("2026-04-01T10:00:00Z"),
    unique: { key: "emailBisonReplyId", value: `emailbison:test:${randomUUID()}` },
    lead: { key: "email", value: `${randomUUID().slice(0, 8)}@example.com` },
    eventType: "LEAD_REPLIED",
    ...overrides,
  };
}

/** The state a crash between insert and enqueue leaves: the delivery's lead and message, no jobs. */
export async function insertMessageWithoutJobs(db: Db, input: IngestInput): Promise<{ messageId: string }> {
  const lead = await db.lead.create({ data: { clientId: input.clientId, email: input.lead.value } });
  return insertMessage(db, { ...buildMessageRow(input), leadId: lead.id });
}
