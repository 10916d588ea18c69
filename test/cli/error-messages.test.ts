// Errors that say what to do: each one through bin/, exit 2, naming the flag
// or the cause, never a pg/zod internal or a message about another flag.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { runBin, spawnBin } from "../helpers/cli.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { startServe, waitForListening } from "../helpers/serve.js";

const env = { DATABASE_URL: undefined };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-errors-"));
const cleanup: Array<() => Promise<void> | void> = [() => fs.rmSync(tmp, { recursive: true, force: true })];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

describe("errors that say what to fix", () => {
  it("capture --out that cannot be written names --out, not --port", async () => {
    const file = path.join(tmp, "a-file");
    fs.writeFileSync(file, "");
    const r = await runBin(["capture", "--port", "0", "--out", path.join(file, "fixtures")], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out: cannot write fixtures to .* \(ENOTDIR/);
    expect(r.stderr).not.toMatch(/--port|Cannot listen/);
  });

  it("a wrong --provider names the value and the choices", async () => {
    const r = await runBin(["race", "--provider", "hubspot"], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--provider: must be one of emailbison, ghl, unipile, smartlead, instantly \(got "hubspot"\)/);
    expect(r.stderr).not.toMatch(/Invalid (input|option)/);
  });

  it("a server asking for a password the URL lacks: says so, no SASL internals", async (ctx) => {
    const database: TestDatabase = await createTestDatabase();
    cleanup.push(() => database.drop());
    const role = `dedupe_nopw_${process.pid}`;
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'secret'`);
    await admin.end();
    cleanup.push(async () => {
      const c = new pg.Client({ connectionString: database.url });
      await c.connect();
      await c.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await c.end();
    });
    const url = new URL(database.url);
    url.username = role;
    url.password = "";
    // A server whose pg_hba.conf trusts local connections (CI's PostgreSQL 15)
    // never asks for the password: there is nothing to report there.
    const probe = new pg.Client({ connectionString: url.toString() });
    const trusted = await probe.connect().then(() => true, () => false);
    await probe.end().catch(() => undefined);
    if (trusted) return ctx.skip("this server trusts the role without a password (pg_hba trust)");
    const r = await runBin(["status", "--database-url", url.toString()], { env: { ...env, PGPASSWORD: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/asks for a password and the database URL has none/);
    expect(r.stderr).not.toMatch(/SASL|SCRAM|must be a string/);
  });

  it("a second command on the embedded server says it attached to the running server", async () => {
    const home = path.join(tmp, "home");
    const serve = spawnBin(["serve", "--port", "0", "--pool-size", "5"], { env: { ...env, DEDUPE_HOME: home } });
    try {
      await waitForListening(serve.child);
      const r = await runBin(["status"], { env: { ...env, DEDUPE_HOME: home } });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/embedded PostgreSQL: attached to the running server in \d+ ms/);
      expect(fs.readFileSync(path.join(home, ".gitignore"), "utf8")).toMatch(/^\*$/m);
    } finally {
      serve.child.kill("SIGTERM");
      await serve.done;
    }
  });

  it("serve's /healthz is 503 once the database cannot serve the tables (200 before)", async () => {
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    const serve = await startServe(database.url, ["--pool-size", "5"]);
    try {
      expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      await admin.query(`DROP TABLE "Message" CASCADE`);
      await admin.end();
      const after = await fetch(`${serve.url}/healthz`);
      expect(after.status).toBe(503);
      expect(await after.json()).toMatchObject({ ok: false });
    } finally {
      await serve.stop();
    }
  });
});
