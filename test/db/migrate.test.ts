// Migrations: applied over plain pg, recorded exactly as Prisma records them,
// safe twice and concurrently, and in agreement with schema.prisma.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { applyMigrations, DEFAULT_MIGRATIONS_DIR, readLocalMigrations } from "../../src/db/migrate.js";
import { ConfigError } from "../../src/errors.js";
// @ts-expect-error plain ESM script without types
import { diffSchema, hasChanges } from "../../scripts/schema-diff.mjs";
import { openDb } from "../../src/db/client.js";
import { Prisma } from "../../src/generated/prisma/client.js";
import * as enums from "../../src/generated/prisma/enums.js";
import { MESSAGE_UNIQUE_KEYS } from "../../src/core/unique-keys.js";
import { createEmptyDatabase, type TestDatabase } from "../helpers/db.js";
import { runBin } from "../helpers/cli.js";

const created: TestDatabase[] = [];
afterAll(async () => {
  for (const db of created) await db.drop();
});
async function emptyDb() {
  const db = await createEmptyDatabase();
  created.push(db);
  return db;
}
async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("applyMigrations", () => {
  it("applies every migration once and records it like prisma migrate deploy", async () => {
    const db = await emptyDb();
    const local = readLocalMigrations();
    expect(local.length).toBeGreaterThan(0);

    const first = await applyMigrations(db.url);
    expect(first.applied).toEqual(local.map((m) => m.name));
    const second = await applyMigrations(db.url);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(local.map((m) => m.name));

    const rows = await query<{ id: string; migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }>(
      db.url,
      `SELECT * FROM "_prisma_migrations" ORDER BY migration_name`,
    );
    expect(rows.map((r) => r.migration_name)).toEqual(local.map((m) => m.name));
    for (const row of rows) {
      const file = fs.readFileSync(path.join(DEFAULT_MIGRATIONS_DIR, row.migration_name, "migration.sql"));
      // Prisma's checksum: sha256 hex of the migration.sql bytes.
      expect(row.checksum).toBe(createHash("sha256").update(file).digest("hex"));
      expect(row.finished_at).not.toBeNull();
      expect(row.applied_steps_count).toBe(1);
      expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("two CLI processes migrating one database at once both succeed and apply each migration once", async () => {
    const db = await emptyDb();
    const [a, b] = await Promise.all([
      runBin(["migrate", "--database-url", db.url, "--json"]),
      runBin(["migrate", "--database-url", db.url, "--json"]),
    ]);
    expect([a.code, b.code], a.stderr + b.stderr).toEqual([0, 0]);
    const reports = [JSON.parse(a.stdout), JSON.parse(b.stdout)];
    const total = readLocalMigrations().length;
    // One process applied everything, the other found it done (the advisory lock serialised them).
    expect(reports.map((r) => r.applied.length).sort()).toEqual([0, total]);
    const counts = await query<{ migration_name: string; n: number }>(
      db.url,
      `SELECT migration_name, count(*)::int AS n FROM "_prisma_migrations" GROUP BY migration_name`,
    );
    expect(counts.every((c) => c.n === 1)).toBe(true);
    expect(counts).toHaveLength(total);
  });

  it("a failing migration leaves neither schema changes nor a bookkeeping row", async () => {
    const db = await emptyDb();
    const dir = fs.mkdtempSync(path.join(path.dirname(DEFAULT_MIGRATIONS_DIR), ".tmp-migrations-"));
    try {
      fs.mkdirSync(path.join(dir, "001_ok"));
      fs.writeFileSync(path.join(dir, "001_ok", "migration.sql"), `CREATE TABLE "ok" (id int);`);
      fs.mkdirSync(path.join(dir, "002_bad"));
      fs.writeFileSync(path.join(dir, "002_bad", "migration.sql"), `CREATE TABLE "half" (id int); SELECT * FROM "no_such_table";`);
      await expect(applyMigrations(db.url, dir)).rejects.toThrow(/002_bad failed/);
      const names = await query<{ migration_name: string }>(db.url, `SELECT migration_name FROM "_prisma_migrations"`);
      expect(names.map((n) => n.migration_name)).toEqual(["001_ok"]);
      const half = await query<{ t: string | null }>(db.url, `SELECT to_regclass('"half"')::text AS t`);
      expect(half[0]!.t).toBeNull();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The wasm schema engine cannot introspect PostgreSQL 18 yet (it panics on
// the NOT NULL rows PG 18 adds to pg_constraint), so the engine diff runs on
// older servers (CI's PostgreSQL 15 pass) and the round-trip checks below run
// everywhere.
async function serverVersion(url: string): Promise<number> {
  const rows = await query<{ v: string }>(url, `SELECT current_setting('server_version_num') AS v`);
  return Number(rows[0]!.v);
}

describe("schema.prisma and prisma/migrations agree", () => {
  it("the migrated database has no drift from schema.prisma (wasm schema engine diff)", async (ctx) => {
    const db = await emptyDb();
    await applyMigrations(db.url);
    if ((await serverVersion(db.url)) >= 180000) ctx.skip("schema-engine-wasm cannot introspect PostgreSQL 18; covered by the PostgreSQL 15 pass");
    const sql: string = await diffSchema({ from: { url: db.url } });
    expect(hasChanges(sql), sql).toBe(false);
  });

  it("the same diff reports drift when the database and the schema disagree (the check can fail)", async (ctx) => {
    const db = await emptyDb();
    await applyMigrations(db.url);
    if ((await serverVersion(db.url)) >= 180000) ctx.skip("schema-engine-wasm cannot introspect PostgreSQL 18; covered by the PostgreSQL 15 pass");
    await query(db.url, `ALTER TABLE "Message" DROP COLUMN "processedAt"`);
    const sql: string = await diffSchema({ from: { url: db.url } });
    expect(hasChanges(sql)).toBe(true);
    expect(sql).toContain("processedAt");
  });

  it("every model field and enum value of schema.prisma round-trips through the migrated database", async () => {
    const db = await emptyDb();
    await applyMigrations(db.url);
    const handle = openDb({ url: db.url, poolSize: 2 });
    try {
      const models = (Prisma as unknown as { dmmf?: unknown }).dmmf ?? readRuntimeModels();
      for (const [model, fields] of Object.entries(models as Record<string, string[]>)) {
        const delegate = (handle.prisma as unknown as Record<string, { findMany(args: unknown): Promise<unknown[]> }>)[
          model.charAt(0).toLowerCase() + model.slice(1)
        ]!;
        // Selecting every scalar fails if a column is missing or mistyped.
        await expect(delegate.findMany({ select: Object.fromEntries(fields.map((f) => [f, true])), take: 1 })).resolves.toEqual([]);
      }
      for (const [name, values] of Object.entries(enums)) {
        const rows = await query<{ label: string }>(
          db.url,
          `SELECT e.enumlabel AS label FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = '${name}' ORDER BY e.enumsortorder`,
        );
        expect(rows.map((r) => r.label), name).toEqual(Object.values(values as Record<string, string>));
      }
    } finally {
      await handle.close();
    }
  });

  it("every unique key and the claim index exist", async () => {
    const db = await emptyDb();
    await applyMigrations(db.url);
    const rows = await query<{ indexname: string; indexdef: string }>(db.url, `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'`);
    const defs = new Map(rows.map((r) => [r.indexname, r.indexdef]));
    for (const key of MESSAGE_UNIQUE_KEYS) expect(defs.get(`Message_${key}_key`), key).toMatch(/^CREATE UNIQUE INDEX/);
    expect(defs.get("BackgroundJob_dedupeKey_key")).toMatch(/^CREATE UNIQUE INDEX/);
    for (const key of ["email", "phone", "ghlContactId", "linkedinId"]) {
      expect(defs.get(`Lead_clientId_${key}_key`), key).toMatch(/^CREATE UNIQUE INDEX/);
    }
    // Prisma cannot express this partial index; the engine diff cannot see it either.
    expect(defs.get("BackgroundJob_pending_runAt_id_idx")).toMatch(/WHERE \(status = 'PENDING'/);
  });
});

/** Scalar fields per model, from the generated client's runtime data model. */
function readRuntimeModels(): Record<string, string[]> {
  const source = fs.readFileSync(new URL("../../src/generated/prisma/internal/class.ts", import.meta.url), "utf8");
  const match = source.match(/config\.runtimeDataModel = JSON\.parse\("(.*)"\)/);
  if (!match) throw new Error("runtimeDataModel not found in the generated client");
  const model = JSON.parse(JSON.parse(`"${match[1]}"`)) as { models: Record<string, { fields: { name: string; kind: string }[] }> };
  return Object.fromEntries(
    Object.entries(model.models).map(([name, m]) => [name, m.fields.filter((f) => f.kind !== "object").map((f) => f.name)]),
  );
}

describe("readLocalMigrations", () => {
  it("reports a missing migrations folder as a configuration error naming it, before any connection", () => {
    let error: unknown;
    try {
      readLocalMigrations("/nonexistent/prisma/migrations");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain("/nonexistent/prisma/migrations");
    expect((error as ConfigError).hint).toMatch(/prisma\/migrations is present/);
  });
});
