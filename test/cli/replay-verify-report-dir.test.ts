// replay --report-dir and verify --report-dir: a failed case leaves a file a
// developer can replay from (deliveries, answers, offending rows, re-run
// command); a passing run leaves nothing, not even the directory.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBinJson } from "../helpers/cli-json.js";
import { ROOT } from "../helpers/cli.js";
import { useTestDb } from "../helpers/db.js";
import { startRacyReceiver, type RacyReceiver } from "../helpers/racy-receiver.js";
import { seedFixtureClients } from "../providers/support.js";

const db = await useTestDb(5);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-report-dir2-"));
const env = { DATABASE_URL: undefined };
const FIXTURE = path.join(ROOT, "fixtures/emailbison/lead_replied.json");
let broken: RacyReceiver;
beforeAll(async () => {
  await seedFixtureClients(db.prisma);
  // Ingests correctly, then enqueues one more job per delivery: every duplicate breaks one-job-per-key.
  broken = await startRacyReceiver(db.database.url, "job-per-delivery", 5);
});
afterAll(async () => {
  await broken.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a report file is read as the JSON it is
type Report = Record<string, any>;
const readReports = (dir: string) => fs.readdirSync(dir).map((f) => ({ file: f, report: JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as Report }));

describe("replay --report-dir", () => {
  it("writes deliveries, answers, offending jobs and a re-run command per failed case", async () => {
    const dir = path.join(tmp, "replay-failed");
    const r = await runBinJson(["replay", FIXTURE, "--fresh-ids", "--target", broken.url, "--database-url", db.database.url, "--json", "--report-dir", dir], { env });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/report: 1 failed case\(s\) written to/);
    const reports = readReports(dir);
    expect(reports).toHaveLength(1);
    const report = reports[0]!.report;
    expect(report.failed.map((i: { name: string }) => i.name)).toContain("one-job-per-key");
    expect(report.deliveries).toHaveLength(2);
    expect(report.deliveries[1]).toMatchObject({ status: 200, deduped: true });
    expect(report.schedule).toMatchObject({ command: "replay", times: 2, concurrency: 1, freshIds: true });
    // The extra jobs are the offending rows.
    expect(report.rows.jobs.length).toBeGreaterThan(2);
    expect(report.rerun).toBe(`dedupe-cli replay ${FIXTURE} --times 2 --concurrency 1 --fresh-ids --target ${broken.url} --database-url "$DATABASE_URL"`);
  });

  it("negative control: a passing replay writes nothing", async () => {
    const dir = path.join(tmp, "replay-passed");
    const r = await runBinJson(["replay", FIXTURE, "--fresh-ids", "--database-url", db.database.url, "--json", "--report-dir", dir], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe("verify --report-dir", () => {
  it("negative control: a passing verify writes nothing (run first: the failing run below stores the fixture's own id)", async () => {
    const dir = path.join(tmp, "verify-passed");
    const r = await runBinJson(["verify", FIXTURE, "--n", "10", "--rounds", "1", "--database-url", db.database.url, "--json", "--report-dir", dir], { env, timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(dir)).toBe(false);
  }, 300_000);

  it("writes the failed cases of every stage, each named by its stage, with a verify re-run command", async () => {
    const dir = path.join(tmp, "verify-failed");
    const args = ["verify", FIXTURE, "--n", "10", "--rounds", "1", "--target", broken.url, "--database-url", db.database.url, "--json", "--report-dir", dir];
    const r = await runBinJson(args, { env, timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(1);
    const reports = readReports(dir);
    const stages = new Set(reports.map((x) => x.report.stage));
    expect(stages.has("replay") && stages.has("race")).toBe(true);
    const race = reports.find((x) => x.report.stage === "race")!;
    expect(race.file).toMatch(/^race-/);
    expect(race.report.deliveries).toHaveLength(10);
    expect(race.report.schedule).toMatchObject({ command: "verify", n: 10, rounds: 1, deliveries: 10 });
    expect(race.report.failed.map((i: { name: string }) => i.name)).toContain("one-job-per-key");
    expect(race.report.rerun).toBe(`dedupe-cli verify ${FIXTURE} --n 10 --rounds 1 --target ${broken.url} --database-url "$DATABASE_URL"`);
  }, 300_000);
});
