// How dedupe-cli reads this app: its routes and secrets, its tables, its
// stored ids, its answers and its jobs. Validated when loaded; check it
// against the database with `dedupe-cli config check`.
import { defineConfig } from "dedupe-cli/config";

export default defineConfig({
  target: {
    baseUrl: process.env.APP_URL ?? "http://127.0.0.1:3100",
    secrets: {
      emailBisonWebhookToken: process.env.BISON_TOKEN ?? "example-bison-token",
      instantlyWebhookSecret: process.env.INSTANTLY_SECRET ?? "example-instantly-secret",
    },
  },
  schema: {
    // No clientId: a message reaches its workspace through its contact.
    messages: { table: "inbound_messages", id: "id", leadId: "contact_id" },
    leads: { table: "contacts", id: "id", clientId: "workspace_id", identity: { email: "email_address" } },
    clients: { table: "workspaces", id: "id" },
    jobs: {
      table: "jobs",
      id: "id",
      type: "kind",
      messageId: "message_id",
      dedupeKey: "job_key",
      status: "state",
      attempts: "tries",
      statusValues: { pending: ["queued"], running: ["running"], succeeded: ["done"], failed: ["failed"] },
    },
  },
  providers: {
    emailbison: {
      route: "/hooks/emailbison",
      // The reply id as it is in the payload ("725").
      storedId: { column: "bison_reply_id", derive: "bare" },
      // One post-process job per message, keyed the app's way. Lead scoring
      // is enqueued later by that job, so it is not expected at ingest.
      jobs: { types: ["post_process"], key: "post_process:{storedId}" },
      client: { column: "bison_workspace_id" },
    },
    instantly: {
      route: "/hooks/instantly",
      storedId: {
        column: "instantly_key",
        derive: (payload) => {
          const p = payload as { workspace: string; email_id: string };
          return `inst_${Buffer.from(JSON.stringify([p.workspace, p.email_id])).toString("base64url")}`;
        },
      },
      // Key-agnostic: exactly one post_process job per message, no key twice.
      jobs: { types: ["post_process"], key: "any" },
      client: { sql: "SELECT id FROM workspaces WHERE instantly_workspace_id = $1" },
    },
  },
  // First answer { ok, id } (no deduped field); duplicates { ok, deduped: true }.
  answer: { deduped: "deduped", messageId: "id", missingDedupedMeansCreated: true },
  // The app has no request it answers without writing: no warm-up.
  warmup: "none",
});
