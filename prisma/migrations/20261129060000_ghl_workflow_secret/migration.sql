-- GHL workflow "Webhook" actions carry no signature: the workflow is set up
-- to send a per-client secret (in the URL query or a custom header), which
-- deliveries in the workflow shape are checked against.
ALTER TABLE "Client" ADD COLUMN "ghlWorkflowSecret" TEXT;
