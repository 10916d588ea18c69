-- Fewer index entries per job state change, and HOT updates for the per-job
-- start write and lease renewals (bench/README.md, "drain").
--
-- A row update can be HOT (no new index entries, old version pruned within
-- the page) only when no indexed column changes and the page has room.
-- "leaseExpiresAt" changes on every start and renewal, so its index made
-- both non-HOT; ("status", "runAt") took an entry for every claim and every
-- completion, though nothing but recovery and the stats read it.
--
-- What replaces them is partial, so the bulk of the table (SUCCEEDED jobs)
-- carries no entry in them and a completion adds none:
-- * RUNNING jobs by holder: recovery scans it (RUNNING rows are few: what
--   the workers hold) and filters on leaseExpiresAt; `drain-jobs stats`
--   groups it by holder. "lockedBy" is set by the claim and unchanged by the
--   start write and renewals, which therefore stay HOT.
-- * FAILED jobs by type: `drain-jobs stats` lists failures.
-- The claim keeps its own partial index (BackgroundJob_pending_runAt_id_idx).

-- DropIndex
DROP INDEX "BackgroundJob_status_leaseExpiresAt_idx";

-- DropIndex
DROP INDEX "BackgroundJob_status_runAt_idx";

-- CreateIndex (partial: Prisma cannot express it; scripts/schema-diff.mjs knows it by name)
CREATE INDEX "BackgroundJob_running_lockedBy_idx" ON "BackgroundJob" ("lockedBy") WHERE "status" = 'RUNNING';

-- CreateIndex (partial, as above)
CREATE INDEX "BackgroundJob_failed_type_idx" ON "BackgroundJob" ("type") WHERE "status" = 'FAILED';

-- Leave a fifth of each page free, so the start write and renewals of a row
-- just written by a claim find room on its page (a HOT update needs it).
ALTER TABLE "BackgroundJob" SET (fillfactor = 80);
