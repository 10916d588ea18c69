// One PostgreSQL for the whole run (DATABASE_URL, else an embedded one in a
// temp directory), and one migrated template database that every test file
// clones, so each file starts from a fresh, identical schema in milliseconds.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { applyMigrations } from "../src/db/migrate.js";

declare module "vitest" {
  export interface ProvidedContext {
    dbAdminUrl: string;
    dbTemplate: string;
  }
}

export default async function setup(project: TestProject) {
  let adminUrl = process.env.DATABASE_URL;
  let stop: (() => Promise<void>) | undefined;
  let tmp: string | undefined;
  if (!adminUrl) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-test-pg-"));
    const embedded = await startEmbeddedPostgres({ dataDir: path.join(tmp, "pg") });
    adminUrl = embedded.url;
    stop = embedded.stop;
  }
  const template = `dedupe_tpl_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(template)}`);
  await applyMigrations(withDatabase(adminUrl, template));
  project.provide("dbAdminUrl", adminUrl);
  project.provide("dbTemplate", template);

  return async () => {
    // Drop the template and any per-file database a crashed file left behind.
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
      [template, `dedupe_t_${process.pid}_%`],
    );
    for (const { datname } of rows) {
      await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(datname)} WITH (FORCE)`).catch(() => undefined);
    }
    await admin.end();
    await stop?.();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
