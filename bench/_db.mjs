// Shared by the benchmarks: a PostgreSQL to run against (DATABASE_URL, else a
// throwaway embedded one in a temp directory), migrated and empty.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "../dist/db/embedded.js";
import { applyMigrations } from "../dist/db/migrate.js";

export async function openBenchDatabase(label) {
  const name = `dedupe_bench_${label}_${process.pid}`;
  let adminUrl = process.env.DATABASE_URL;
  let stop = async () => undefined;
  let tmp;
  if (!adminUrl) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), `dedupe-bench-${label}-`));
    const embedded = await startEmbeddedPostgres({ dataDir: path.join(tmp, "pg") });
    adminUrl = embedded.url;
    stop = embedded.stop;
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await applyMigrations(url.toString());
  const server = (await admin.query("SELECT current_setting('server_version') AS v")).rows[0].v;
  return {
    url: url.toString(),
    server: `PostgreSQL ${server}${process.env.DATABASE_URL ? " (DATABASE_URL)" : " (embedded)"}`,
    async close() {
      await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
      await stop();
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** Runs `total` calls of fn(i) with at most `concurrency` in flight; returns calls/s. */
export async function measureRate(total, concurrency, fn) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        await fn(i);
      }
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

export const machine = () => `${os.cpus().length} cores, node ${process.version}`;
