// Sending an AI draft creates exactly one outbound Message carrying its
// aiDraftId, however many times "approve & send" is clicked at once.
import { Direction, Provider } from "../generated/prisma/enums.js";
import type { Db } from "../db/client.js";
import { silentLogger, type DedupeLogger } from "./log.js";
import { DEFAULT_CONFLICT_STRATEGY, insertMessage, type ConflictStrategy } from "./messages.js";

export interface SendDraftResult {
  messageId: string;
  deduped: boolean;
  draftId: string;
}

export class DraftNotFoundError extends Error {
  constructor(readonly draftId: string) {
    super(`AI draft ${draftId} does not exist`);
  }
}

export async function sendAIDraft(
  db: Db,
  draftId: string,
  options: { strategy?: ConflictStrategy; logger?: DedupeLogger; now?: Date } = {},
): Promise<SendDraftResult> {
  // Reading the draft is not a dedupe check: the Message insert below is
  // what decides, atomically, on aiDraftId.
  const draft = await db.aIDraft.findUnique({
    where: { id: draftId },
    select: { id: true, clientId: true, leadId: true, channel: true, subject: true, body: true },
  });
  if (!draft) throw new DraftNotFoundError(draftId);
  const now = options.now ?? new Date();
  const result = await insertMessage(
    db,
    {
      clientId: draft.clientId,
      leadId: draft.leadId,
      provider: Provider.AI_DRAFT,
      channel: draft.channel,
      direction: Direction.OUTBOUND,
      subject: draft.subject,
      body: draft.body,
      sentAt: now,
      key: "aiDraftId",
      value: draft.id,
    },
    options.strategy ?? DEFAULT_CONFLICT_STRATEGY,
  );
  if (!result.deduped) {
    await db.aIDraft.updateMany({ where: { id: draft.id, status: { not: "SENT" } }, data: { status: "SENT", sentAt: now } });
  }
  (options.logger ?? silentLogger).logDecision({
    eventType: "AI_DRAFT_SEND",
    provider: Provider.AI_DRAFT,
    uniqueKey: "aiDraftId",
    uniqueValue: draft.id,
    clientId: draft.clientId,
    leadId: draft.leadId,
    messageId: result.messageId,
    deduped: result.deduped,
  });
  return { ...result, draftId: draft.id };
}
