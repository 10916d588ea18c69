// Output fits the terminal: at COLUMNS=80 no line of race, replay, verify
// (its failure table included), clients list or status is wider than 80
// unless it is one token too long to break, and no token is split
// ("aiDrafts", "(FAIL)", job type names stay whole), drain-jobs's tables too. Each case's verdict is
// printed once (the report), not again on stderr.
import { beforeAll, describe, expect, it } from "vitest";
import { runBin } from "../helpers/cli.js";
import { useTestDb } from "../helpers/db.js";
import { seedFixtureClients } from "../providers/support.js";

const db = await useTestDb(4);
beforeAll(() => seedFixtureClients(db.prisma));
const env = (columns: number) => ({ DATABASE_URL: undefined, COLUMNS: String(columns) });
const run = (args: string[], columns = 80) => runBin([...args, "--database-url", db.database.url], { env: env(columns) });

function expectFits(text: string, width = 80) {
  const wide = text.split("\n").filter((line) => line.length > width && line.trim().includes(" "));
  expect(wide).toEqual([]);
}

/** Every token must appear whole somewhere in the output, never broken across lines. */
function expectWhole(text: string, tokens: string[]) {
  for (const token of tokens) expect(text, token).toContain(token);
}

describe("at 80 columns", () => {
  it("race: the single-case report fits, tokens whole, case line printed once", async () => {
    const r = await run(["race", "--n", "10"]);
    expect(r.code).toBe(0);
    expectFits(r.stdout);
    expectFits(r.stderr);
    expectWhole(r.stdout, ["aiDrafts", "LEAD_SCORING_POST_PROCESS", "EMAIL_INBOUND_POST_PROCESS", "emailbison/lead_replied.json#1"]);
    expect(r.stdout).toMatch(/^PASS {2}emailbison\/lead_replied\.json#1/m);
    // The case line once (stdout); stderr may still name the case in the crash-window notice.
    expect(r.stderr).not.toMatch(/^\s*(pass|fail|inconclusive)\b.*emailbison\/lead_replied\.json#1/im);
  });

  it("verify's failure table (negative control) fits with every token whole", { timeout: 240_000 }, async () => {
    const r = await run(["verify", "--n", "10", "--rounds", "1", "--strategy", "check-then-create"]);
    expect(r.code).toBe(1);
    expectFits(r.stdout);
    expectWhole(r.stdout, ["(FAIL)", "duplicates-deduped", "late-duplicates"]);
  });

  it("replay, clients list and status fit", { timeout: 240_000 }, async () => {
    for (const args of [["replay", "fixtures"], ["clients", "list"], ["status"]]) {
      const r = await run(args);
      expect(r.code, args.join(" ")).toBe(0);
      expectFits(r.stdout);
      expectFits(r.stderr);
    }
    const clients = await run(["clients", "list"]);
    expectWhole(clients.stdout, ["l1C08ntBrFjLS0elLIYU", "https://dedi.emailbison.com"]);
  });

  it("drain-jobs and drain-jobs stats: the summary tables fit, job type names whole; -j is --json", { timeout: 240_000 }, async () => {
    // A race leaves jobs behind (EMAIL_INBOUND_POST_PROCESS and LEAD_SCORING_POST_PROCESS) for the drain to run.
    expect((await run(["race", "-n", "10", "--no-crash-window", "--late", "none"])).code).toBe(0);
    const drain = await run(["drain-jobs"]);
    expect(drain.code, drain.stderr).toBe(0);
    expectFits(drain.stdout);
    expectWhole(drain.stdout, ["EMAIL_INBOUND_POST_PROCESS", "LEAD_SCORING_POST_PROCESS", "jobs/s"]);
    expect(drain.stdout).toMatch(/│ total +│ \d+ +│/);
    const stats = await run(["drain-jobs", "stats"]);
    expect(stats.code).toBe(0);
    expectFits(stats.stdout);
    expectWhole(stats.stdout, ["EMAIL_INBOUND_POST_PROCESS", "LEAD_SCORING_POST_PROCESS"]);
    const json = await run(["drain-jobs", "-j"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toHaveProperty("totals");
    const statsJson = await run(["drain-jobs", "stats", "-j"]);
    expect(JSON.parse(statsJson.stdout)).toHaveProperty("byType");
  });

  it("a wide terminal gets the boxed table (the layout follows the width)", async () => {
    const r = await run(["clients", "list"], 200);
    expect(r.stdout).toMatch(/│ slug +│ ghl location +│/);
    const narrow = await run(["clients", "list"], 80);
    expect(narrow.stdout).not.toMatch(/│ slug/);
  });
});
