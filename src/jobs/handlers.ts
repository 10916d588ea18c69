// Built-in handlers for the six BackgroundJobTypes. Each does real,
// checkable database work (see src/db/job-handlers-sql.ts) and is idempotent.
import { BackgroundJobType } from "../generated/prisma/enums.js";
import { findMessageLeadId, postProcessInboundMessage, scoreLead } from "../db/job-handlers-sql.js";
import type { JobHandler } from "./types.js";

/** Marks the message processed, counts it on its lead once, creates its one reply draft. */
export const postProcessInbound: JobHandler = async (job, ctx) => {
  if (!job.messageId) throw new Error(`${job.type} job ${job.id} has no messageId`);
  const result = await postProcessInboundMessage(ctx.db, job.messageId);
  // A message that vanished will not come back; retrying cannot help, but a
  // thrown error records why in lastError instead of succeeding silently.
  if (!result.found) throw new Error(`${job.type} job ${job.id}: message ${job.messageId} not found (deleted after the job was enqueued)`);
};

/** Recomputes Lead.score from the lead's messages (deterministic, so idempotent). */
export const scoreLeadHandler: JobHandler = async (job, ctx) => {
  const leadId = job.leadId ?? (job.messageId ? await findMessageLeadId(ctx.db, job.messageId) : undefined);
  if (!leadId) throw new Error(`LEAD_SCORING_POST_PROCESS job ${job.id} has no lead`);
  const score = await scoreLead(ctx.db, leadId);
  if (score === undefined) throw new Error(`${job.type} job ${job.id}: lead ${leadId} not found (deleted after the job was enqueued)`);
};

export const BUILTIN_HANDLERS: Readonly<Record<BackgroundJobType, JobHandler>> = {
  [BackgroundJobType.EMAIL_INBOUND_POST_PROCESS]: postProcessInbound,
  [BackgroundJobType.SMS_INBOUND_POST_PROCESS]: postProcessInbound,
  [BackgroundJobType.LINKEDIN_INBOUND_POST_PROCESS]: postProcessInbound,
  [BackgroundJobType.SMARTLEAD_INBOUND_POST_PROCESS]: postProcessInbound,
  [BackgroundJobType.INSTANTLY_INBOUND_POST_PROCESS]: postProcessInbound,
  [BackgroundJobType.LEAD_SCORING_POST_PROCESS]: scoreLeadHandler,
};
