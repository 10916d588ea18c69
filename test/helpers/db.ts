// A fresh database per test file, cloned from the migrated template that
// test/global-setup.ts made. Real PostgreSQL, never a mock.
import pg from "pg";
import { afterAll, inject } from "vitest";
import { openDb, type DbHandle } from "../../src/db/client.js";

let counter = 0;

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject("dbAdminUrl");
  const template = inject("dbTemplate");
  // The prefix carries the vitest main pid so global teardown can sweep leftovers.
  const name = `dedupe_t_${process.ppid}_${process.pid}_${counter++}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)} TEMPLATE ${admin.escapeIdentifier(template)}`);
        break;
      } catch (error) {
        // 55006: another file is cloning the template at this instant.
        if ((error as { code?: string }).code !== "55006" || attempt > 50) throw error;
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
      }
    }
  } finally {
    await admin.end();
  }
  return describeDatabase(adminUrl, name);
}

/** Creates this file's database and a pool on it; both go away after the file. */
export async function useTestDb(poolSize = 60): Promise<DbHandle & { database: TestDatabase }> {
  const database = await createTestDatabase();
  const handle = openDb({ url: database.url, poolSize });
  afterAll(async () => {
    await handle.close();
    await database.drop();
  });
  return Object.assign(handle, { database });
}

/** An empty database (no schema at all), for migration tests. */
export async function createEmptyDatabase(): Promise<TestDatabase> {
  const adminUrl = inject("dbAdminUrl");
  const name = `dedupe_t_${process.ppid}_${process.pid}_e${counter++}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)} TEMPLATE template0`);
  await admin.end();
  return describeDatabase(adminUrl, name);
}

function describeDatabase(adminUrl: string, name: string): TestDatabase {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`).catch(() => undefined);
      await client.end();
    },
  };
}
