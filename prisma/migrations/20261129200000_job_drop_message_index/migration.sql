-- One index entry fewer for every claim and every completion (both change
-- "status", so neither is a HOT update and each writes an entry into every
-- index on the table). Measured with 20,000 no-op jobs at concurrency 10:
-- PostgreSQL CPU per job 53 -> 44 us (bench/README.md, "drain", session 6).
--
-- Nothing needed it: the queue never looks jobs up by message, and the
-- harness compares ids as text ("messageId"::text = ANY(...)), which a
-- btree on the uuid column cannot serve anyway.

-- DropIndex
DROP INDEX "BackgroundJob_messageId_idx";
