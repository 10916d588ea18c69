// race --report-dir: a failed case leaves a file a developer can replay from;
// a passing run leaves none.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runBinJson } from "../helpers/cli-json.js";
import { useTestDb } from "../helpers/db.js";
import { seedFixtureClients } from "../providers/support.js";

const db = await useTestDb(5);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-report-dir-"));
const env = { DATABASE_URL: undefined };
beforeAll(() => seedFixtureClients(db.prisma));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const race = (args: string[]) => runBinJson(["race", "--database-url", db.database.url, "--json", "--n", "20", "--late", "none", ...args], { env });

it("writes schedule, deliveries, offending rows and a re-run command per failed case", async () => {
  const dir = path.join(tmp, "failed");
  // Five rounds: one in-process round of 20 missed the race once on a CI machine (spread 6.7 ms).
  const r = await race(["--strategy", "check-then-create", "--rounds", "5", "--report-dir", dir]);
  expect(r.code, r.stderr).toBe(1);
  const files = fs.readdirSync(dir);
  expect(files.length).toBeGreaterThan(0);
  const report = JSON.parse(fs.readFileSync(path.join(dir, files[0]!), "utf8"));
  expect(report.deliveries).toHaveLength(20);
  expect(report.schedule.releaseOffsetsMs).toHaveLength(20);
  expect(report.failed.length).toBeGreaterThan(0);
  expect(report.rerun).toMatch(/^dedupe-cli race --fixture \S+lead_replied\.json --n 20 --rounds 5 --strategy check-then-create --database-url "\$DATABASE_URL"$/);
});

it("negative control: a passing run writes no report", async () => {
  const dir = path.join(tmp, "passed");
  const r = await race(["--report-dir", dir]);
  expect(r.code, r.stderr).toBe(0);
  expect(fs.existsSync(dir) ? fs.readdirSync(dir) : []).toEqual([]);
});
