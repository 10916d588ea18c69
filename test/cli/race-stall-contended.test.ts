// A stalled round holds the messages table's writes until two sessions wait
// for a lock (at least 100 ms, at most 1 s), not for a fixed 100 ms. On a
// loaded machine a round's deliveries reached the database 300+ ms after the
// release, when a fixed stall had already ended, and check-then-create
// passed. These receivers make that deterministic: their deliveries reach
// the database one at a time, 100 ms apart, the first 150 ms after the
// release, so they never overlap on their own.
import { describe, expect, it } from "vitest";
import { runBinJson } from "../helpers/cli-json.js";
import { useTestDb } from "../helpers/db.js";
import { startEscapingReceiver, type EscapingMode } from "../helpers/escaping-receivers.js";
import { seedFixtureClients } from "../providers/support.js";

const db = await useTestDb(5);
await seedFixtureClients(db.prisma);
const env = { DATABASE_URL: undefined };

interface RaceJson {
  verdict: string;
  cases: Array<{ name: string; round: number; verdict: string; notes: string[]; invariants: Array<{ name: string; status: string; observed: string }> }>;
}

async function raceTrickling(mode: EscapingMode) {
  const receiver = await startEscapingReceiver(db.database.url, mode);
  try {
    // The HTTP default (a 3 s budget): rounds 1-2 unstalled, 3-5 stalled.
    return await runBinJson<RaceJson>(["race", "--database-url", db.database.url, "--json", "--target", receiver.url, "--fixture", "fixtures/emailbison/lead_replied.json", "--n", "10", "--late", "none", "--no-crash-window"], { env, timeoutMs: 120_000 });
  } finally {
    await receiver.close();
  }
}

const stalledUntilContended = /stalled \d+ ms from the release, until \d+ sessions waited for a lock/;

describe("a stalled round holds until writers contend", () => {
  it("check-then-create whose deliveries arrive after 100 ms, one at a time: the unstalled rounds pass it, the first stalled round fails it (no-5xx)", async () => {
    const r = await raceTrickling("trickle-check-then-create");
    expect(r.code, r.stderr).toBe(1);
    const cases = r.json!.cases;
    const failed = cases.filter((c) => c.verdict === "fail");
    expect(failed.map((c) => c.round), r.stderr).toEqual([3]);
    expect(failed[0]!.invariants.filter((i) => i.status === "fail").map((i) => i.name)).toContain("no-5xx");
    expect(failed[0]!.notes.join("\n")).toMatch(stalledUntilContended);
    // The rounds before it were judged and passed: alone, the trickle never races.
    expect(cases.filter((c) => c.round < 3).map((c) => c.verdict)).toEqual(["pass", "pass"]);
  });

  it("negative control: insert-first arriving the same way passes every round, stalled ones included", async () => {
    const r = await raceTrickling("trickle-insert-first");
    expect(r.code, r.stderr).toBe(0);
    const stalled = r.json!.cases.filter((c) => c.notes.some((n) => n.includes("stalled")));
    expect(stalled.length).toBeGreaterThanOrEqual(1);
    for (const c of stalled) expect(c.notes.join("\n")).toMatch(stalledUntilContended);
  });
});
