-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "Provider" AS ENUM ('EMAILBISON', 'GHL', 'UNIPILE', 'SMARTLEAD', 'INSTANTLY', 'AI_DRAFT');

-- CreateEnum
CREATE TYPE "Channel" AS ENUM ('EMAIL', 'SMS', 'LINKEDIN');

-- CreateEnum
CREATE TYPE "Direction" AS ENUM ('INBOUND', 'OUTBOUND');

-- CreateEnum
CREATE TYPE "AIDraftStatus" AS ENUM ('PENDING', 'APPROVED', 'SENT', 'REJECTED');

-- CreateEnum
CREATE TYPE "BackgroundJobType" AS ENUM ('EMAIL_INBOUND_POST_PROCESS', 'SMS_INBOUND_POST_PROCESS', 'LINKEDIN_INBOUND_POST_PROCESS', 'SMARTLEAD_INBOUND_POST_PROCESS', 'INSTANTLY_INBOUND_POST_PROCESS', 'LEAD_SCORING_POST_PROCESS');

-- CreateEnum
CREATE TYPE "BackgroundJobStatus" AS ENUM ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED');

-- CreateTable
CREATE TABLE "Client" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "slug" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "ghlLocationId" TEXT,
    "emailBisonInstanceUrl" TEXT NOT NULL DEFAULT '',
    "emailBisonWorkspaceId" TEXT,
    "unipileAccountId" TEXT,
    "instantlyWorkspaceId" TEXT,
    "smartleadClientId" TEXT,
    "emailBisonWebhookToken" TEXT,
    "smartleadWebhookSecret" TEXT,
    "unipileWebhookSecret" TEXT,
    "instantlyWebhookSecret" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Client_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Lead" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "clientId" UUID NOT NULL,
    "email" TEXT,
    "phone" TEXT,
    "ghlContactId" TEXT,
    "linkedinId" TEXT,
    "firstName" TEXT,
    "lastName" TEXT,
    "lastInboundAt" TIMESTAMP(3),
    "inboundCount" INTEGER NOT NULL DEFAULT 0,
    "score" INTEGER,
    "scoredAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Lead_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Message" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "clientId" UUID NOT NULL,
    "leadId" UUID NOT NULL,
    "provider" "Provider" NOT NULL,
    "channel" "Channel" NOT NULL,
    "direction" "Direction" NOT NULL,
    "subject" TEXT,
    "body" TEXT NOT NULL,
    "sentAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "processedAt" TIMESTAMP(3),
    "emailBisonReplyId" TEXT,
    "inboxxiaScheduledEmailId" TEXT,
    "ghlId" TEXT,
    "unipileMessageId" TEXT,
    "aiDraftId" UUID,

    CONSTRAINT "Message_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AIDraft" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "clientId" UUID NOT NULL,
    "leadId" UUID NOT NULL,
    "channel" "Channel" NOT NULL,
    "subject" TEXT,
    "body" TEXT NOT NULL,
    "status" "AIDraftStatus" NOT NULL DEFAULT 'PENDING',
    "triggerMessageId" UUID,
    "sentAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AIDraft_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "BackgroundJob" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "type" "BackgroundJobType" NOT NULL,
    "status" "BackgroundJobStatus" NOT NULL DEFAULT 'PENDING',
    "dedupeKey" TEXT NOT NULL,
    "clientId" UUID NOT NULL,
    "leadId" UUID,
    "messageId" UUID,
    "runAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "maxAttempts" INTEGER NOT NULL DEFAULT 5,
    "lockedAt" TIMESTAMP(3),
    "lockedBy" TEXT,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "lastError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "BackgroundJob_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Client_slug_key" ON "Client"("slug");

-- CreateIndex
CREATE UNIQUE INDEX "Client_ghlLocationId_key" ON "Client"("ghlLocationId");

-- CreateIndex
CREATE UNIQUE INDEX "Client_unipileAccountId_key" ON "Client"("unipileAccountId");

-- CreateIndex
CREATE UNIQUE INDEX "Client_instantlyWorkspaceId_key" ON "Client"("instantlyWorkspaceId");

-- CreateIndex
CREATE UNIQUE INDEX "Client_smartleadClientId_key" ON "Client"("smartleadClientId");

-- CreateIndex
CREATE UNIQUE INDEX "Client_smartleadWebhookSecret_key" ON "Client"("smartleadWebhookSecret");

-- CreateIndex
CREATE UNIQUE INDEX "Client_emailBisonInstanceUrl_emailBisonWorkspaceId_key" ON "Client"("emailBisonInstanceUrl", "emailBisonWorkspaceId");

-- CreateIndex
CREATE UNIQUE INDEX "Lead_clientId_email_key" ON "Lead"("clientId", "email");

-- CreateIndex
CREATE UNIQUE INDEX "Lead_clientId_phone_key" ON "Lead"("clientId", "phone");

-- CreateIndex
CREATE UNIQUE INDEX "Lead_clientId_ghlContactId_key" ON "Lead"("clientId", "ghlContactId");

-- CreateIndex
CREATE UNIQUE INDEX "Lead_clientId_linkedinId_key" ON "Lead"("clientId", "linkedinId");

-- CreateIndex
CREATE UNIQUE INDEX "Message_emailBisonReplyId_key" ON "Message"("emailBisonReplyId");

-- CreateIndex
CREATE UNIQUE INDEX "Message_inboxxiaScheduledEmailId_key" ON "Message"("inboxxiaScheduledEmailId");

-- CreateIndex
CREATE UNIQUE INDEX "Message_ghlId_key" ON "Message"("ghlId");

-- CreateIndex
CREATE UNIQUE INDEX "Message_unipileMessageId_key" ON "Message"("unipileMessageId");

-- CreateIndex
CREATE UNIQUE INDEX "Message_aiDraftId_key" ON "Message"("aiDraftId");

-- CreateIndex
CREATE INDEX "Message_leadId_sentAt_idx" ON "Message"("leadId", "sentAt");

-- CreateIndex
CREATE INDEX "Message_clientId_createdAt_idx" ON "Message"("clientId", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "AIDraft_triggerMessageId_key" ON "AIDraft"("triggerMessageId");

-- CreateIndex
CREATE INDEX "AIDraft_leadId_idx" ON "AIDraft"("leadId");

-- CreateIndex
CREATE UNIQUE INDEX "BackgroundJob_dedupeKey_key" ON "BackgroundJob"("dedupeKey");

-- CreateIndex
CREATE INDEX "BackgroundJob_status_runAt_idx" ON "BackgroundJob"("status", "runAt");

-- CreateIndex
CREATE INDEX "BackgroundJob_status_lockedAt_idx" ON "BackgroundJob"("status", "lockedAt");

-- CreateIndex
CREATE INDEX "BackgroundJob_messageId_idx" ON "BackgroundJob"("messageId");

-- AddForeignKey
ALTER TABLE "Lead" ADD CONSTRAINT "Lead_clientId_fkey" FOREIGN KEY ("clientId") REFERENCES "Client"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Message" ADD CONSTRAINT "Message_clientId_fkey" FOREIGN KEY ("clientId") REFERENCES "Client"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Message" ADD CONSTRAINT "Message_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES "Lead"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Message" ADD CONSTRAINT "Message_aiDraftId_fkey" FOREIGN KEY ("aiDraftId") REFERENCES "AIDraft"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AIDraft" ADD CONSTRAINT "AIDraft_clientId_fkey" FOREIGN KEY ("clientId") REFERENCES "Client"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AIDraft" ADD CONSTRAINT "AIDraft_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES "Lead"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "BackgroundJob" ADD CONSTRAINT "BackgroundJob_clientId_fkey" FOREIGN KEY ("clientId") REFERENCES "Client"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Hand-written (Prisma cannot express partial indexes): keeps claiming due
-- jobs an index-range scan however many finished jobs pile up.
CREATE INDEX "BackgroundJob_pending_runAt_id_idx" ON "BackgroundJob" ("runAt", "id") WHERE "status" = 'PENDING';
