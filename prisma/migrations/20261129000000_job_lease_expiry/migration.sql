-- Each RUNNING job carries its own lease expiry, set by the worker that holds
-- it: a short "claim lease" while it waits in the worker's queue, the full
-- --lease once its handler starts (startedAt is then set). Recovery returns a
-- job only when its own lease has expired, so workers with different --lease
-- settings never judge each other's jobs by their own setting.

-- AlterTable
ALTER TABLE "BackgroundJob" ADD COLUMN "leaseExpiresAt" TIMESTAMP(3);

-- Jobs held by workers of the previous version: their lease as that version
-- judged it (lockedAt + the default 5 minutes).
UPDATE "BackgroundJob" SET "leaseExpiresAt" = "lockedAt" + interval '5 minutes' WHERE "status" = 'RUNNING';

-- DropIndex
DROP INDEX "BackgroundJob_status_lockedAt_idx";

-- CreateIndex
CREATE INDEX "BackgroundJob_status_leaseExpiresAt_idx" ON "BackgroundJob"("status", "leaseExpiresAt");
