// Foreign-schema mode's checks, run before any delivery: every mapped table
// and column exists (named by the config key that named it), and a unique
// index or constraint backs each stored-id column and the job dedupe key.
// Without one, a pass would only mean the race happened to go well.
import type { DbHandle } from "../db/client.js";
import { findUniqueIndexes, readTableColumns } from "../db/verify-schema-check.js";
import { ConfigError } from "../errors.js";
import { PROVIDER_NAMES } from "../providers/types.js";
import type { ReceiverMapping } from "./mapping.js";

export interface MappedColumn {
  /** The config key that names it, e.g. "providers.emailbison.storedId.column". */
  key: string;
  /** The config key that names its table, e.g. "schema.messages.table". */
  tableKey: string;
  table: string;
  column: string;
  /** A unique index must back it. */
  unique: boolean;
  /** What the check found: "ok", "no such table", "no such column". */
  found: string;
  /** The unique index that backs it (unique columns only). */
  index?: string;
}

export interface MappingCheck {
  columns: MappedColumn[];
  errors: string[];
  warnings: string[];
}

/** Every (config key, table, column) the mapping reads. */
export function listMappedColumns(mapping: ReceiverMapping): Omit<MappedColumn, "found">[] {
  const s = mapping.schema;
  const out: Omit<MappedColumn, "found">[] = [];
  type Entity = "messages" | "leads" | "clients" | "jobs" | "drafts";
  const add = (key: string, entity: Entity, column: string | undefined, unique = false) => {
    const table = s[entity]?.table;
    if (column && table) out.push({ key, tableKey: `schema.${entity}.table`, table, column, unique });
  };
  add("schema.messages.id", "messages", s.messages.id);
  add("schema.messages.leadId", "messages", s.messages.leadId);
  add("schema.messages.clientId", "messages", s.messages.clientId);
  add("schema.leads.id", "leads", s.leads.id);
  add("schema.leads.clientId", "leads", s.leads.clientId);
  for (const [kind, column] of Object.entries(s.leads.identity ?? {})) add(`schema.leads.identity.${kind}`, "leads", column);
  add("schema.clients.id", "clients", s.clients.id);
  add("schema.drafts.messageId", "drafts", s.drafts?.messageId);
  for (const field of ["id", "type", "messageId", "status", "attempts", "lastError", "runAt", "lockedBy"] as const) add(`schema.jobs.${field}`, "jobs", s.jobs?.[field]);
  add("schema.jobs.dedupeKey", "jobs", s.jobs?.dedupeKey, true);
  for (const provider of PROVIDER_NAMES) {
    const p = mapping.config.providers[provider];
    if (!p) continue;
    add(`providers.${provider}.storedId.column`, "messages", p.storedId?.column, true);
    for (const [event, e] of Object.entries(p.events ?? {})) add(`providers.${provider}.events.${event}.storedId.column`, "messages", e.storedId?.column, true);
    if (p.client && "column" in p.client) add(`providers.${provider}.client.column`, "clients", p.client.column);
  }
  return out;
}

export async function checkMapping(db: DbHandle, mapping: ReceiverMapping): Promise<MappingCheck> {
  const errors: string[] = [];
  const warnings: string[] = [];
  const tables = new Map<string, Awaited<ReturnType<typeof readTableColumns>>>();
  const columns: MappedColumn[] = [];
  for (const entry of listMappedColumns(mapping)) {
    if (!tables.has(entry.table)) tables.set(entry.table, await readTableColumns(db.prisma, entry.table));
    const table = tables.get(entry.table);
    if (!table) {
      columns.push({ ...entry, found: "no such table" });
      errors.push(`${entry.tableKey}: table ${entry.table} does not exist`);
      continue;
    }
    if (!table.columns.has(entry.column)) {
      columns.push({ ...entry, found: "no such column" });
      const similar = [...table.columns.keys()].filter((c) => c.toLowerCase().replace(/_/g, "") === entry.column.toLowerCase().replace(/_/g, ""));
      errors.push(`${entry.key}: column ${entry.table}.${entry.column} does not exist${similar.length ? ` (did you mean ${similar.join(", ")}?)` : ""}`);
      continue;
    }
    const row: MappedColumn = { ...entry, found: "ok" };
    if (entry.unique) {
      const indexes = await findUniqueIndexes(db.prisma, table.schema, entry.table.split(".").pop()!, entry.column);
      row.index = indexes[0] ? `${indexes[0].name} (${indexes[0].columns.join(", ")})` : undefined;
      if (!row.index) {
        warnings.push(`${entry.key}: no unique index or constraint backs ${entry.table}.${entry.column}; a pass would hold by luck, not by the database`);
      }
    }
    columns.push(row);
  }
  return { columns, errors: [...new Set(errors)], warnings: [...new Set(warnings)] };
}

/** Errors stop the run (exit 2, nothing sent); warnings do too under `strict`, else they are returned to print. */
export function enforceMappingCheck(check: MappingCheck, mapping: ReceiverMapping, strict: boolean): string[] {
  const where = mapping.file ?? "the default config";
  if (check.errors.length > 0) {
    throw new ConfigError(`The schema mapping in ${where} does not match the database:\n  ${check.errors.join("\n  ")}`, {
      hint: "Fix those config keys (dedupe-cli config check lists every mapped column), or create what is missing in your app's schema.",
    });
  }
  if (strict && check.warnings.length > 0) {
    throw new ConfigError(`--strict: ${check.warnings.join("\n  ")}`, {
      hint: "Add the unique index to your app (it is what makes ingestion race-safe), or drop --strict / strict: true to run with a warning.",
    });
  }
  return check.warnings;
}
