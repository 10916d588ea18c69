// Issue 15's detection power, through the real bin/ over HTTP: five
// receivers with a bug a single burst at t=0 tends to miss, each caught
// (exit 1, naming the invariant) in every one of RUNS consecutive default
// `race` runs; and three receivers that are correct but follow another
// convention, each passing (with the config it needs). Slow on purpose
// (20 runs per bug): this file holds them all so the rest of the suite
// stays quick.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client.js";
import { DEFAULT_CONFIG } from "../../src/harness/mapping-default.js";
import { runBinJson } from "../helpers/cli-json.js";
import { createTestDatabase, useTestDb } from "../helpers/db.js";
import { startEscapingReceiver, type EscapingMode } from "../helpers/escaping-receivers.js";
import { seedFixtureClients } from "../providers/support.js";

const RUNS = Number(process.env.DEDUPE_ESCAPING_RUNS ?? 20);
const db = await useTestDb(5);
// An app whose leads table has no unique index on (client, email): the
// schema a find-then-create lead resolution is written against.
const noLeadIndex = await createTestDatabase();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-escaping-"));
const env = { DATABASE_URL: undefined };

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
  const other = openDb({ url: noLeadIndex.url, poolSize: 2 });
  try {
    await seedFixtureClients(other.prisma);
    await other.prisma.$executeRawUnsafe(`DROP INDEX "Lead_clientId_email_key"`);
  } finally {
    await other.close();
  }
});
afterAll(async () => {
  fs.rmSync(tmp, { recursive: true, force: true });
  await noLeadIndex.drop();
});

interface RaceJson {
  verdict: string;
  cases: Array<{ verdict: string; notes: string[]; invariants: Array<{ name: string; status: string; observed: string }> }>;
}

const failedInvariants = (json: RaceJson | undefined) => [...new Set(json?.cases.flatMap((c) => c.invariants.filter((i) => i.status === "fail").map((i) => i.name)))];

async function raceReceiver(mode: EscapingMode, databaseUrl: string, extra: string[], runs: number, afterAnswerMs?: number) {
  const receiver = await startEscapingReceiver(databaseUrl, mode, { afterAnswerMs });
  try {
    const results = [];
    for (let run = 0; run < runs; run++) {
      const r = await runBinJson<RaceJson>(["race", "--database-url", databaseUrl, "--json", "--target", receiver.url, ...extra], { env, timeoutMs: 300_000 });
      results.push({ code: r.code, failed: failedInvariants(r.json), stderr: r.stderr, json: r.json });
    }
    return results;
  } finally {
    await receiver.close();
  }
}

describe("bugs a single burst misses, caught in every default race run", () => {
  // A lost job is named by the crash-window step, or, when the receiver's own
  // crash struck inside the burst (its round then fails before that step
  // runs), by one-job-per-key's missing job: either names the lost job.
  const LOST_JOB = "crash-window-jobs-restored|one-job-per-key";
  const bugs: Array<[EscapingMode, string, () => string]> = [
    ["lead-find-then-create", "one-lead-per-identity", () => noLeadIndex.url],
    ["crash-lost-job", LOST_JOB, () => db.database.url],
    ["crash-swallowed", LOST_JOB, () => db.database.url],
    ["ttl-lock", "late-duplicate-deduped", () => db.database.url],
  ];
  it.each(bugs)(`%s: exit 1 in ${RUNS} of ${RUNS} runs, naming %s`, async (mode, invariant, url) => {
    const results = await raceReceiver(mode, url(), [], RUNS);
    const accepted = invariant.split("|");
    for (const r of results) {
      expect(r.code, r.stderr.slice(-2000)).toBe(1);
      expect(r.failed.some((name) => accepted.includes(name)), `failed: ${r.failed.join(", ")}`).toBe(true);
    }
  }, 1_800_000);
});

// A narrow window: the 20 ms lease runs out only when an insert outlasts it.
// On a quiet machine that rarely happens by itself (2 of 20 default runs
// caught at load 0 before the budget's stalled rounds existed); the stalled
// rounds (writes to the messages table held 100 ms) open it every time.
it(`lease-lock: exit 1 in ${RUNS} of ${RUNS} default race runs, naming no-5xx`, async () => {
  const results = await raceReceiver("lease-lock", db.database.url, [], RUNS);
  for (const r of results) {
    expect(r.code, r.stderr.slice(-2000)).toBe(1);
    expect(r.failed).toContain("no-5xx");
  }
}, 1_800_000);

describe("correct receivers with another convention pass", () => {
  it("jobs enqueued just after the answer (after()/waitUntil): exit 0", async () => {
    const [r] = await raceReceiver("jobs-after-answer", db.database.url, [], 1);
    expect(r!.code, r!.stderr.slice(-2000)).toBe(0);
    expect(r!.json!.cases[0]!.notes.join("\n")).toMatch(/settled/);
  }, 300_000);

  it("negative control: judged without settling, a slower after() receiver fails one-job-per-key", async () => {
    // Jobs 1.5 s after the answer: --settle 0 reads before they exist and
    // fails a correct receiver; a settle window longer than the gap passes it.
    const args = ["--rounds", "1", "--no-crash-window", "--late", "none"];
    const [unsettled] = await raceReceiver("jobs-after-answer", db.database.url, [...args, "--settle", "0"], 1, 1500);
    expect(unsettled!.code).toBe(1);
    expect(unsettled!.failed).toContain("one-job-per-key");
    const [settled] = await raceReceiver("jobs-after-answer", db.database.url, [...args, "--settle", "2s"], 1, 1500);
    expect(settled!.code, settled!.stderr.slice(-2000)).toBe(0);
  }, 300_000);

  it('answer {"received": true} with no config: exit 0, judged from the database alone', async () => {
    const [r] = await raceReceiver("answer-received", db.database.url, [], 1);
    expect(r!.code, r!.stderr.slice(-2000)).toBe(0);
    expect(r!.json!.cases[0]!.notes.join("\n")).toMatch(/judged from the database alone/);
  }, 300_000);

  it("jobs keyed <type>:<messageId> with a config saying so: exit 0; without it: exit 1", async () => {
    const config = path.join(tmp, "dedupe.config.mjs");
    const types = ["EMAIL_INBOUND_POST_PROCESS", "LEAD_SCORING_POST_PROCESS"];
    const body = { schema: DEFAULT_CONFIG.schema, providers: { emailbison: { jobs: { types, key: "{type}:{messageId}" } } } };
    fs.writeFileSync(config, `export default ${JSON.stringify(body, null, 2)};\n`);
    const [withConfig] = await raceReceiver("jobs-type-message", db.database.url, ["--config", config], 1);
    expect(withConfig!.code, withConfig!.stderr.slice(-2000)).toBe(0);
    const [without] = await raceReceiver("jobs-type-message", db.database.url, [], 1);
    expect(without!.code).toBe(1);
    expect(without!.failed).toContain("one-job-per-key");
  }, 300_000);
});

describe("job state, not just job count", () => {
  it("verify fails a receiver whose duplicates re-arm finished jobs, naming the job and field", async () => {
    const receiver = await startEscapingReceiver(db.database.url, "rearm-on-duplicate");
    try {
      const r = await runBinJson<{ stages: Array<{ name: string; cases: RaceJson["cases"] }> }>(
        ["verify", "--database-url", db.database.url, "--json", "--target", receiver.url, "--n", "10", "--rounds", "1"],
        { env, timeoutMs: 300_000 },
      );
      expect(r.code, r.stderr.slice(-2000)).toBe(1);
      const late = r.json!.stages.find((s) => s.name === "late-duplicates")!;
      const reopened = late.cases.flatMap((c) => c.invariants).find((i) => i.name === "finished-stays-finished" && i.status === "fail");
      expect(reopened?.observed).toMatch(/status SUCCEEDED -> PENDING/);
    } finally {
      await receiver.close();
    }
  }, 600_000);
});
