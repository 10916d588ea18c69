// PostgreSQL that cannot give the pool a command wants (a role with
// CONNECTION LIMIT 20, or a shared server already busy): every command sizes
// its pool down and says so, or exits 2 naming the limit and the fix. It used
// to print "database: ..." and hang forever.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client.js";
import { openPoolConnections } from "../../src/db/connection-budget.js";
import { runBin, spawnBin } from "../helpers/cli.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { waitForListening } from "../helpers/serve.js";
import { seedFixtureClients } from "../providers/support.js";

const LIMIT = 20;
const role = `dedupe_lim_${process.pid}`;
let database: TestDatabase;
let limitedUrl: string;
const env = { DATABASE_URL: undefined };

beforeAll(async () => {
  database = await createTestDatabase();
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'lim' CONNECTION LIMIT ${LIMIT}`);
  await admin.query(`GRANT ALL ON SCHEMA public TO ${role}`);
  await admin.query(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}`);
  await admin.query(`GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
  await admin.end();
  const url = new URL(database.url);
  url.username = role;
  url.password = "lim";
  limitedUrl = url.toString();
  const handle = openDb({ url: database.url, poolSize: 2 });
  await seedFixtureClients(handle.prisma);
  await handle.close();
});

afterAll(async () => {
  await database.drop();
  const admin = new pg.Client({ connectionString: database.url.replace(/\/[^/]*$/, "/postgres") });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
  await admin.end();
});

/** Holds `n` of the role's connections, as another run would. */
async function holdConnections(n: number): Promise<() => Promise<void>> {
  const clients = await Promise.all(Array.from({ length: n }, async () => {
    const client = new pg.Client({ connectionString: limitedUrl });
    await client.connect();
    return client;
  }));
  return async () => {
    await Promise.all(clients.map((c) => c.end()));
  };
}

describe("a role limited to 20 connections", () => {
  it("race --n 50 sizes its pool down, says so, and still reaches a verdict", async () => {
    const r = await runBin(["race", "--n", "50", "--database-url", limitedUrl], { env });
    r.stderr = r.stderr.replace(/\s+/g, " "); // lines wrap at 80 columns
    expect(r.stderr).toMatch(new RegExp(`database pool: \\d+ connections, not 60`));
    expect(r.stderr).toMatch(new RegExp(`role ${role} allows ${LIMIT} connections`));
    expect(r.code).toBe(0);
  });

  it("an explicit --pool-size it cannot have is exit 2 naming the limit and the fix", async () => {
    const r = await runBin(["race", "--n", "50", "--pool-size", "60", "--database-url", limitedUrl], { env });
    r.stderr = r.stderr.replace(/\s+/g, " ");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot give --pool-size 60/);
    expect(r.stderr).toMatch(new RegExp(`role ${role} allows ${LIMIT}`));
    expect(r.stderr).toMatch(/lower --pool-size/);
  });

  it("verify and serve refuse (exit 2) when other clients hold the role's connections", async () => {
    const release = await holdConnections(LIMIT - 1);
    try {
      for (const args of [["verify"], ["serve", "--port", "0"]]) {
        const r = await runBin([...args, "--database-url", limitedUrl], { env, timeoutMs: 60_000 });
        expect(r.signal).toBeNull();
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/refused a connection: too many connections for role|cannot give at least/);
      }
    } finally {
      await release();
    }
  });

  it("serve sizes down, listens, and stops on the first SIGTERM", async () => {
    const serve = spawnBin(["serve", "--port", "0", "--database-url", limitedUrl], { env });
    await waitForListening(serve.child);
    serve.child.kill("SIGTERM");
    const r = await serve.done;
    expect(r.stderr.replace(/\s+/g, " ")).toMatch(/database pool: \d+ connections, not 64/);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
  });

  it("a pool refused part-way releases what it opened, so closing it cannot hang", async () => {
    const handle = openDb({ url: limitedUrl, poolSize: 25 });
    const error = await openPoolConnections(handle.pool, 25, limitedUrl).catch((e: Error) => e);
    // 21 of 25 unless a connection of the previous test is still closing.
    const refused = /refused connection (\d+) of 25: too many connections for role/.exec(String(error));
    expect(refused).not.toBeNull();
    expect(handle.pool.idleCount).toBe(Number(refused![1]) - 1);
    await handle.close(); // before the fix, pool.end() waited forever for 20 checked-out clients
  });
});
