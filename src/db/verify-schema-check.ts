// Catalog reads that check a schema mapping is true before anything is
// delivered: which mapped tables and columns exist (information_schema), and
// which unique indexes or constraints back a column (pg_catalog). Names are
// bound as values, never spliced into SQL.
import type { Db } from "./client.js";

/** "schema.table" or "table" (then the first schema on the search_path that has it). */
function splitTable(name: string): { schema: string | null; table: string } {
  const dot = name.indexOf(".");
  return dot < 0 ? { schema: null, table: name } : { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}

/** Column names of a table, or undefined when no such table is visible. */
export async function readTableColumns(db: Db, name: string): Promise<{ schema: string; columns: Map<string, string> } | undefined> {
  const { schema, table } = splitTable(name);
  const rows = await db.$queryRaw<{ schema: string; column: string; type: string }[]>`
    SELECT c.table_schema AS "schema", c.column_name AS "column", c.data_type AS "type"
    FROM information_schema.columns c
    WHERE c.table_name = ${table}
      AND c.table_schema = COALESCE(${schema}::text, (
        SELECT s FROM unnest(current_schemas(false)) WITH ORDINALITY AS p(s, o)
        WHERE EXISTS (SELECT 1 FROM information_schema.tables t WHERE t.table_schema = p.s AND t.table_name = ${table})
        ORDER BY o LIMIT 1))
    ORDER BY c.ordinal_position`;
  if (rows.length === 0) return undefined;
  return { schema: rows[0]!.schema, columns: new Map(rows.map((r) => [r.column, r.type])) };
}

export interface UniqueIndex {
  name: string;
  columns: string[];
}

/** Unique indexes and constraints (not partial) on a table whose key columns include `column`. */
export async function findUniqueIndexes(db: Db, schema: string, table: string, column: string): Promise<UniqueIndex[]> {
  return db.$queryRaw<UniqueIndex[]>`
    SELECT ic.relname AS "name", array_agg(a.attname::text ORDER BY k.ord) AS "columns"
    FROM pg_index i
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) ON true
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
    WHERE n.nspname = ${schema} AND t.relname = ${table} AND i.indisunique AND i.indpred IS NULL
    GROUP BY ic.relname
    HAVING ${column} = ANY(array_agg(a.attname::text))
    ORDER BY count(*), ic.relname`;
}
