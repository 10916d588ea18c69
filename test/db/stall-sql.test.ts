// The write stall lets go once enough sessions wait for a lock, not after a
// fixed time: held at least minMs, then until `waiters` sessions of the
// database wait, or maxMs at the most.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stallWrites } from "../../src/db/stall-sql.js";
import { useTestDb } from "../helpers/db.js";

const db = await useTestDb(2);
const writers: pg.Client[] = [];

beforeAll(async () => {
  await db.pool.query(`CREATE TABLE "StallProbe" ("id" int)`);
  for (let i = 0; i < 2; i++) {
    const client = new pg.Client({ connectionString: db.database.url });
    await client.connect();
    writers.push(client);
  }
});

afterAll(async () => {
  await Promise.all(writers.map((w) => w.end()));
});

const insert = (writer: pg.Client) => writer.query(`INSERT INTO "StallProbe" VALUES (1)`);

describe("stallWrites", () => {
  it("holds while fewer sessions than asked wait (one writer: to the cap), and the writer's insert waits that long", async () => {
    const stall = await stallWrites(db.pool, "StallProbe");
    const from = performance.now();
    stall.endWhenContended({ minMs: 20, waiters: 2, maxMs: 400 });
    await insert(writers[0]!);
    const waited = performance.now() - from;
    const release = await stall.end();
    expect(release?.reason).toBe("cap");
    expect(release?.waiters).toBe(1);
    expect(release!.heldMs).toBeGreaterThanOrEqual(400);
    expect(waited).toBeGreaterThanOrEqual(390);
  });

  it("lets go as soon as two sessions wait, well before the cap, however late they connect", async () => {
    const stall = await stallWrites(db.pool, "StallProbe");
    stall.endWhenContended({ minMs: 20, waiters: 2, maxMs: 5_000 });
    // Sessions that connect after several looks saw nobody (an app opening
    // connections as deliveries arrive): each look must see the server as it
    // is now, not the first look's snapshot of pg_stat_activity.
    await new Promise((resolve) => setTimeout(resolve, 150));
    const late = Array.from({ length: 2 }, () => new pg.Client({ connectionString: db.database.url }));
    await Promise.all(late.map((c) => c.connect()));
    try {
      await Promise.all(late.map(insert));
    } finally {
      await Promise.all(late.map((c) => c.end()));
    }
    const release = await stall.end();
    expect(release?.reason).toBe("contended");
    expect(release?.waiters).toBe(2);
    expect(release!.heldMs).toBeLessThan(2_000);
  });

  it("ended by the caller first (every delivery answered): says so; ended before the release: nothing to report", async () => {
    const held = await stallWrites(db.pool, "StallProbe");
    held.endWhenContended({ minMs: 1_000, waiters: 2, maxMs: 5_000 });
    expect((await held.end())?.reason).toBe("answered");
    const never = await stallWrites(db.pool, "StallProbe");
    expect(await never.end()).toBeUndefined();
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM "StallProbe"`)).rows[0].n).toBe(3);
  });
});
