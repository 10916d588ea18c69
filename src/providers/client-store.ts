// Creating and configuring clients (dedupe-cli clients, test setup). Upserts
// by slug so loading the same file twice, or from two processes at once,
// leaves one row per slug.
import type { Db } from "../db/client.js";
import { upsertClientStatement, type ClientIdentityColumns, type ClientSecretColumn, type ClientUpsertRow } from "../db/clients.js";
import { readUniqueViolation } from "../core/prisma-errors.js";
import { ConfigError } from "../errors.js";
import { normaliseInstanceUrl } from "./clients.js";
import type { ClientConfig } from "./client-config.js";

const UPSERT_ATTEMPTS = 4;

export interface UpsertedClient {
  slug: string;
  id: string;
  created: boolean;
}

export async function upsertClient(db: Db, config: ClientConfig): Promise<UpsertedClient> {
  const specified = new Set(Object.keys(config).filter((k) => (config as Record<string, unknown>)[k] !== undefined) as (keyof ClientUpsertRow)[]);
  specified.add("slug");
  if (config.name !== undefined) specified.add("name");
  const row: ClientUpsertRow = {
    slug: config.slug,
    name: config.name ?? config.slug,
    ghlLocationId: config.ghlLocationId ?? null,
    emailBisonInstanceUrl: normaliseInstanceUrl(config.emailBisonInstanceUrl),
    emailBisonWorkspaceId: config.emailBisonWorkspaceId ?? null,
    unipileAccountId: config.unipileAccountId ?? null,
    instantlyWorkspaceId: config.instantlyWorkspaceId ?? null,
    smartleadClientId: config.smartleadClientId ?? null,
    emailBisonWebhookToken: config.emailBisonWebhookToken ?? null,
    smartleadWebhookSecret: config.smartleadWebhookSecret ?? null,
    unipileWebhookSecret: config.unipileWebhookSecret ?? null,
    instantlyWebhookSecret: config.instantlyWebhookSecret ?? null,
    ghlWorkflowSecret: config.ghlWorkflowSecret ?? null,
  };
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await upsertClientStatement(db, row, specified);
      return { slug: config.slug, ...result };
    } catch (error) {
      const violation = readUniqueViolation(error);
      if (!violation) throw error;
      // A concurrent insert of this slug may have claimed another unique
      // column first; once it commits, the retry takes the ON CONFLICT path.
      if (attempt < UPSERT_ATTEMPTS) {
        await new Promise((r) => setTimeout(r, 10 * attempt));
        continue;
      }
      const what = violation.constraint ?? violation.fields.join(", ");
      throw new ConfigError(`client ${config.slug}: another client already uses the same value (${what})`, {
        hint: "Each provider workspace id and SmartLead secret can belong to one client only; `dedupe-cli clients list` shows who has it.",
        cause: error,
      });
    }
  }
}

/** Upserts in order; one bad entry stops the run with the slug named (earlier ones stay applied, each is idempotent). */
export async function upsertClients(db: Db, configs: readonly ClientConfig[]): Promise<UpsertedClient[]> {
  const results: UpsertedClient[] = [];
  for (const config of configs) results.push(await upsertClient(db, config));
  return results;
}

type ClientSummary = { id: string } & ClientIdentityColumns & {
  /** Which secrets are set, never their values. */
  secrets: Record<ClientSecretColumn, boolean>;
};

export async function listClients(db: Db): Promise<ClientSummary[]> {
  const rows = await db.client.findMany({ orderBy: { slug: "asc" } });
  return rows.map((r) => ({
    id: r.id,
    slug: r.slug,
    name: r.name,
    ghlLocationId: r.ghlLocationId,
    emailBisonInstanceUrl: r.emailBisonInstanceUrl,
    emailBisonWorkspaceId: r.emailBisonWorkspaceId,
    unipileAccountId: r.unipileAccountId,
    instantlyWorkspaceId: r.instantlyWorkspaceId,
    smartleadClientId: r.smartleadClientId,
    secrets: {
      emailBisonWebhookToken: Boolean(r.emailBisonWebhookToken),
      smartleadWebhookSecret: Boolean(r.smartleadWebhookSecret),
      unipileWebhookSecret: Boolean(r.unipileWebhookSecret),
      instantlyWebhookSecret: Boolean(r.instantlyWebhookSecret),
      ghlWorkflowSecret: Boolean(r.ghlWorkflowSecret),
    },
  }));
}
