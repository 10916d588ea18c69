// race's default schedule (neither --rounds nor --budget): one in-process
// round with the messages table's writes held (at least 100 ms, then until
// writers contend), so the first deliveries' finds run before any insert
// commits. --rounds N stays N identical, unstalled rounds; a lock the server
// refuses leaves the round unstalled and says so, rather than failing the run.
import pg from "pg";
import { describe, expect, it } from "vitest";
import { runBinJson } from "../helpers/cli-json.js";
import { useTestDb } from "../helpers/db.js";
import { seedFixtureClients } from "../providers/support.js";

const db = await useTestDb(5);
await seedFixtureClients(db.prisma);
const env = { DATABASE_URL: undefined };

interface RaceJson {
  verdict: string;
  cases: Array<{ verdict: string; notes: string[]; invariants: Array<{ name: string; status: string }> }>;
}

const race = (args: string[]) => runBinJson<RaceJson>(["race", "--database-url", db.database.url, "--json", "--late", "none", "--no-crash-window", "--n", "20", ...args], { env });
const stalledNote = /writes to "?Message"? stalled \d+ ms from the release/;

describe("the default in-process round", () => {
  it("is stalled: check-then-create fails no-5xx, and the case says the writes were held", async () => {
    const r = await race(["--strategy", "check-then-create"]);
    expect(r.code, r.stderr).toBe(1);
    const [only] = r.json!.cases;
    expect(only!.notes.join("\n")).toMatch(stalledNote);
    expect(only!.invariants.find((i) => i.name === "no-5xx")!.status).toBe("fail");
    expect(r.stderr).toMatch(/all at once, writes\s+stalled\s+\d+\s+ms/);
  });

  it("negative control: a correct receiver passes the stalled round", async () => {
    const r = await race([]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json!.cases[0]!.notes.join("\n")).toMatch(stalledNote);
  });

  it("--rounds 1 and --no-stall race unstalled", async () => {
    for (const flags of [["--rounds", "1"], ["--no-stall"]]) {
      const r = await race(flags);
      expect(r.code, `${flags.join(" ")}\n${r.stderr}`).toBe(0);
      expect(r.json!.cases[0]!.notes.join("\n")).not.toMatch(/stalled/);
    }
  });

  it("a lock the server will not grant (held by another session) leaves the round unstalled, named, and judged", async () => {
    // ROW SHARE conflicts with the stall's EXCLUSIVE lock but not with the
    // receiver's inserts: the stall waits its 2 s lock_timeout, then gives up.
    const holder = new pg.Client({ connectionString: db.database.url });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query('LOCK TABLE "Message" IN ROW SHARE MODE');
      const r = await race([]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json!.cases[0]!.notes.join("\n")).toMatch(/could not be stalled \(another transaction held a conflicting lock for 2 s: .*lock timeout.*\); the round ran unstalled/);
      expect(r.stderr).toMatch(/writes\s+not\s+stalled\s+\(lock\s+refused\)/);
    } finally {
      await holder.query("ROLLBACK").catch(() => undefined);
      await holder.end();
    }
  });
});
