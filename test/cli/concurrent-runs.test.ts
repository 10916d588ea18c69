// Issue 11 item 2: two harness runs on one database must not fail each
// other, and verify's drain runs only the jobs its own run caused. Before the
// fix both concurrent verifies failed (other run's rows counted as
// unexplained) and the drain ran every due job in the database.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { runBin } from "../helpers/cli.js";
import { useTestDb } from "../helpers/db.js";
import { createClient } from "../helpers/seed.js";
import { seedFixtureClients } from "../providers/support.js";

const db = await useTestDb(5);
const env = { DATABASE_URL: undefined };

describe("two runs on one database", { timeout: 600_000 }, () => {
  it("two verify runs at once both pass; the later one waits for the earlier", async () => {
    await seedFixtureClients(db.prisma);
    const args = ["verify", "--database-url", db.database.url, "--n", "10", "--rounds", "1"];
    const [a, b] = await Promise.all([runBin(args, { env, timeoutMs: 300_000 }), runBin(args, { env, timeoutMs: 300_000 })]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(`${a.stderr}${b.stderr}`).toMatch(/another dedupe-cli run .*is using this database; waiting/);
  });

  it("verify's drain leaves other people's jobs alone", async () => {
    const other = await createClient(db.prisma);
    // A due job that no delivery of the run caused (another app's, or history).
    const job = await db.prisma.backgroundJob.create({
      data: { type: "LEAD_SCORING_POST_PROCESS", dedupeKey: `someone-else:${randomUUID()}`, clientId: other.id },
    });
    const r = await runBin(["verify", "--database-url", db.database.url, "--n", "10", "--rounds", "1"], { env, timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    const after = await db.prisma.backgroundJob.findUniqueOrThrow({ where: { id: job.id } });
    expect([after.status, after.attempts]).toEqual(["PENDING", 0]);
  });
});
