-- Wakes `drain-jobs --watch` workers as soon as a job is enqueued, whoever
-- enqueues it (this CLI, or the user's own application), instead of waiting
-- for the next poll. Statement-level so a 5,000-row enqueue sends one
-- notification, not 5,000; the transition table lets an
-- INSERT ... ON CONFLICT DO NOTHING that inserted nothing stay silent.
-- NOTIFY is delivered at commit, so woken workers can already see the rows.
CREATE OR REPLACE FUNCTION "dedupe_notify_background_job"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM inserted_jobs) THEN
    PERFORM pg_notify('dedupe_jobs', '');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "BackgroundJob_notify_insert"
AFTER INSERT ON "BackgroundJob"
REFERENCING NEW TABLE AS inserted_jobs
FOR EACH STATEMENT EXECUTE FUNCTION "dedupe_notify_background_job"();
