// Idempotent job enqueue. The dedupeKey is deterministic, so any number of
// deliveries of one message enqueue each of its jobs exactly once.
import { BackgroundJobType, Direction, Provider } from "../generated/prisma/enums.js";
import type { Db } from "../db/client.js";
import { DEFAULT_JOB_MAX_ATTEMPTS, insertJobsOnConflict, type JobRow } from "../db/sql.js";

/** One job to enqueue: type, dedupeKey, clientId, leadId, messageId, optional runAt and maxAttempts. */
export type EnqueueJobParams = JobRow;

export const DEFAULT_MAX_ATTEMPTS = DEFAULT_JOB_MAX_ATTEMPTS;

/** `${clientId}:${messageId}:${type}` (the format the seed application's jobs already carry). */
export function buildJobDedupeKey(clientId: string, messageId: string, type: BackgroundJobType): string {
  return `${clientId}:${messageId}:${type}`;
}

/** True when this call created the job, false when one with the dedupeKey already existed. Never throws for a duplicate. */
export async function enqueueBackgroundJob(db: Db, params: EnqueueJobParams): Promise<boolean> {
  const created = await insertJobsOnConflict(db, [params]);
  return created.length === 1;
}

/** Enqueues several jobs in one statement; returns the dedupeKeys that were new. */
export async function enqueueBackgroundJobs(db: Db, jobs: readonly EnqueueJobParams[]): Promise<string[]> {
  return insertJobsOnConflict(db, jobs);
}

const POST_PROCESS_BY_PROVIDER: Record<Exclude<Provider, "AI_DRAFT">, BackgroundJobType> = {
  EMAILBISON: BackgroundJobType.EMAIL_INBOUND_POST_PROCESS,
  GHL: BackgroundJobType.SMS_INBOUND_POST_PROCESS,
  UNIPILE: BackgroundJobType.LINKEDIN_INBOUND_POST_PROCESS,
  SMARTLEAD: BackgroundJobType.SMARTLEAD_INBOUND_POST_PROCESS,
  INSTANTLY: BackgroundJobType.INSTANTLY_INBOUND_POST_PROCESS,
};

/** Inbound messages get their provider's post-process job and a lead-scoring job; outbound ones none. */
export function jobTypesForMessage(provider: Provider, direction: Direction): BackgroundJobType[] {
  if (direction !== Direction.INBOUND || provider === Provider.AI_DRAFT) return [];
  return [POST_PROCESS_BY_PROVIDER[provider], BackgroundJobType.LEAD_SCORING_POST_PROCESS];
}
