// Verdicts a CI job can trust: a race of one is refused (it would pass
// whatever the receiver does), a small race is flagged, and a run stopped by
// SIGINT is inconclusive (exit 3) with a JUnit file that shows an error, not
// a green suite.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBin, spawnBin } from "../helpers/cli.js";
import { useTestDb } from "../helpers/db.js";
import { seedFixtureClients } from "../providers/support.js";

const db = await useTestDb(4);
const env = { DATABASE_URL: undefined };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-trust-"));
beforeAll(() => seedFixtureClients(db.prisma));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("race size", () => {
  it("--n 1 is refused with exit 2 and the reason; --n 1 on the racy strategy would otherwise pass", async () => {
    for (const command of ["race", "verify"]) {
      const r = await runBin([command, "--n", "1", "--database-url", db.database.url], { env });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--n: must be at least 2: a race of one delivery .* proves nothing/);
    }
  });

  it("--n 2 runs, with a warning that a small race means little; --n 10 has no warning", async () => {
    const small = await runBin(["race", "--n", "2", "--database-url", db.database.url], { env });
    expect(small.stderr).toMatch(/warning: --n 2: a race of fewer than 10 deliveries/);
    expect(small.code).toBe(0);
    const enough = await runBin(["race", "--n", "10", "--database-url", db.database.url], { env });
    expect(enough.stderr).not.toMatch(/warning: --n/);
    expect(enough.code).toBe(0);
  });
});

describe("an interrupted run", () => {
  it.each([
    ["race", ["race", "--n", "10", "--all-fixtures", "--rounds", "200", "--json"], /^pass /m], // --json: case lines on stderr
    ["verify", ["verify", "--n", "10", "--rounds", "200"], /verify \[1\/4\] replay: PASS/],
  ] as const)("%s: exit 3, and its JUnit file is errored", { timeout: 240_000 }, async (_name, args, started) => {
    const junit = path.join(tmp, `${_name}.xml`);
    const run = spawnBin([...args, "--database-url", db.database.url, "--junit", junit], { env });
    let stderr = "";
    await new Promise<void>((resolve) => {
      run.child.stderr.on("data", (d) => {
        stderr += d;
        if (started.test(stderr)) resolve();
      });
    });
    run.child.kill("SIGINT");
    const r = await run.done;
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/interrupted/);
    const xml = fs.readFileSync(junit, "utf8");
    expect(xml).toMatch(/<testsuites [^>]*errors="1"/);
    expect(xml).toMatch(/<error message="interrupted by SIGINT/);
  });
});
