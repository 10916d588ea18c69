// Race-safe client upsert: INSERT ... ON CONFLICT (slug) DO UPDATE. Two
// `clients load` runs at once converge on one row per slug. ON CONFLICT
// arbitrates on the slug only; a concurrent insert of the same new client can
// still trip another unique index (ghlLocationId, ...) before the slug
// conflict is seen, so the caller retries once the other insert committed.
import { Prisma } from "../generated/prisma/client.js";
import type { Db } from "./client.js";

/** A client's own columns: our slug and name plus each provider's workspace id. */
export interface ClientIdentityColumns {
  slug: string;
  name: string;
  ghlLocationId: string | null;
  emailBisonInstanceUrl: string;
  emailBisonWorkspaceId: string | null;
  unipileAccountId: string | null;
  instantlyWorkspaceId: string | null;
  smartleadClientId: string | null;
}

/** The per-provider shared secrets a delivery is checked against. */
export type ClientSecretColumn = "emailBisonWebhookToken" | "smartleadWebhookSecret" | "unipileWebhookSecret" | "instantlyWebhookSecret" | "ghlWorkflowSecret";

export type ClientUpsertRow = ClientIdentityColumns & Record<ClientSecretColumn, string | null>;

/**
 * Inserts or updates by slug. Columns not in `specified` (flags the caller
 * left out) keep their stored value on update instead of being cleared.
 */
export async function upsertClientStatement(db: Db, row: ClientUpsertRow, specified: ReadonlySet<keyof ClientUpsertRow>): Promise<{ id: string; created: boolean }> {
  const set = (column: keyof ClientUpsertRow) => {
    const ident = Prisma.raw(`"${column}"`);
    return specified.has(column) ? Prisma.sql`${ident} = EXCLUDED.${ident}` : Prisma.sql`${ident} = "Client".${ident}`;
  };
  const rows = await db.$queryRaw<{ id: string; created: boolean }[]>`
    INSERT INTO "Client" ("slug", "name", "ghlLocationId", "emailBisonInstanceUrl", "emailBisonWorkspaceId", "unipileAccountId",
                          "instantlyWorkspaceId", "smartleadClientId", "emailBisonWebhookToken", "smartleadWebhookSecret",
                          "unipileWebhookSecret", "instantlyWebhookSecret", "ghlWorkflowSecret")
    VALUES (${row.slug}, ${row.name}, ${row.ghlLocationId}, ${row.emailBisonInstanceUrl}, ${row.emailBisonWorkspaceId}, ${row.unipileAccountId},
            ${row.instantlyWorkspaceId}, ${row.smartleadClientId}, ${row.emailBisonWebhookToken}, ${row.smartleadWebhookSecret},
            ${row.unipileWebhookSecret}, ${row.instantlyWebhookSecret}, ${row.ghlWorkflowSecret})
    ON CONFLICT ("slug") DO UPDATE SET
      ${set("name")}, ${set("ghlLocationId")}, ${set("emailBisonInstanceUrl")}, ${set("emailBisonWorkspaceId")}, ${set("unipileAccountId")},
      ${set("instantlyWorkspaceId")}, ${set("smartleadClientId")}, ${set("emailBisonWebhookToken")}, ${set("smartleadWebhookSecret")},
      ${set("unipileWebhookSecret")}, ${set("instantlyWebhookSecret")}, ${set("ghlWorkflowSecret")}, "updatedAt" = now()
    RETURNING "id"::text AS "id", (xmax = 0) AS "created"`;
  return rows[0]!;
}
