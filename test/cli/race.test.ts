// `dedupe-cli race` through the real bin/, on a real PostgreSQL. Every pass
// has a negative control beside it: the same race must fail (exit 1) against
// a receiver that gets dedupe wrong.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client.js";
import { countRows } from "../../src/db/sql.js";
import { upsertClient } from "../../src/providers/client-store.js";
import { runBinJson } from "../helpers/cli-json.js";
import { createTestDatabase, useTestDb } from "../helpers/db.js";
import { startRacyReceiver, type RacyMode } from "../helpers/racy-receiver.js";
import { startServe } from "../helpers/serve.js";
import { CLIENTS, seedFixtureClients } from "../providers/support.js";

const db = await useTestDb(5);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-race-"));
const env = { DATABASE_URL: undefined };

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface RaceJson {
  verdict: string;
  violations: Record<string, number>;
  cases: Array<{ verdict: string; releaseSpreadMs: number; peakConcurrency: number; invariants: Array<{ name: string; status: string; witnesses?: number[] }> }>;
  rounds?: Array<{ schedule: string; rounds: number; caught: number; stoppedEarly: boolean }>;
}

const race = (args: string[]) => runBinJson<RaceJson>(["race", "--database-url", db.database.url, "--json", ...args], { env });

const failedInvariants = (json: RaceJson | undefined) => [...new Set(json?.cases.flatMap((c) => c.invariants.filter((i) => i.status === "fail").map((i) => i.name)))];

describe("race in-process", () => {
  it.each(["on-conflict", "catch-p2002"])("N=50 with %s: exit 0, one message, 49 dedupes", async (strategy) => {
    const r = await race(["--n", "50", "--strategy", strategy]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.json!.verdict).toBe("pass");
    expect(r.json!.cases[0]!.peakConcurrency).toBeGreaterThanOrEqual(2);
  });

  it("negative control: check-then-create at N=50 is a violation (exit 1) naming witness slots", async () => {
    const r = await race(["--n", "50", "--strategy", "check-then-create"]);
    expect(r.code).toBe(1);
    expect(r.json!.verdict).toBe("fail");
    expect(failedInvariants(r.json)).toContain("no-5xx");
    expect(r.stderr).toMatch(/witness slots \d+/);
  });

  it("--rounds re-keys every round; --history and --junit record every delivery and invariant", async () => {
    const history = path.join(tmp, "h.jsonl");
    const junit = path.join(tmp, "r.xml");
    const r = await race(["--n", "20", "--rounds", "3", "--history", history, "--junit", junit]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json!.cases.map((c) => c.verdict)).toEqual(["pass", "pass", "pass"]);
    const lines = fs.readFileSync(history, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(60);
    expect(lines[0]).toMatchObject({ slot: 0, status: 200 });
    const xml = fs.readFileSync(junit, "utf8");
    const invariantCount = r.json!.cases.reduce((s, c) => s + c.invariants.length, 0);
    expect(xml.match(/<testcase /g)).toHaveLength(invariantCount);
    expect(xml).not.toContain("<failure");
  });

  it("--all-fixtures races every fixture, ignored events included", async () => {
    const r = await race(["--n", "30", "--all-fixtures"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json!.cases.length).toBeGreaterThanOrEqual(10);
  });

  it("a race the database cannot see concurrently (pool of 1) is inconclusive (exit 3), never a pass", async () => {
    const r = await race(["--n", "20", "--pool-size", "1"]);
    expect(r.code).toBe(3);
    expect(r.json!.verdict).toBe("inconclusive");
    expect(r.stderr).toMatch(/achieved concurrency 1 is below/);
  });

  it("a client missing for any fixture stops --all-fixtures before the first race: exit 2, nothing written", async () => {
    // Only acme: the emailbison and ghl fixtures (raced first) have their client, the globex ones do not.
    const partial = await createTestDatabase();
    const handle = openDb({ url: partial.url, poolSize: 2 });
    try {
      for (const client of CLIENTS.filter((c) => c.slug === "acme")) await upsertClient(handle.prisma, client);
      const before = await countRows(handle.prisma);
      const r = await runBinJson(["race", "--database-url", partial.url, "--json", "--all-fixtures", "--n", "5"], { env });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/dedupe-cli clients load/);
      expect(await countRows(handle.prisma)).toEqual(before);
    } finally {
      await handle.close();
      await partial.drop();
    }
  });

  it("bad flags exit 2 before anything is written", async () => {
    const before = await countRows(db.prisma);
    for (const args of [["--n", "0"], ["--n", "abc"], ["--strategy", "nope"], ["--target", "ftp://x"], ["--target", "http://127.0.0.1:1", "--strategy", "on-conflict"], ["--junit", "/nonexistent-dir/x.xml"], ["--fixture", "nope.json"]]) {
      const r = await race(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stdout).toBe("");
    }
    expect(await countRows(db.prisma)).toEqual(before);
  });

  it("bad flag messages name the flag once and say what is accepted", async () => {
    expect((await race(["--n", "abc"])).stderr).toMatch(/^error: --n: must be a whole number from 2 to 100000$/m);
    const target = await race(["--target", "ftp://x"]);
    expect(target.stderr).toMatch(/^error: --target: must be an http:\/\/ or https:\/\/ URL$/m);
    expect(target.stderr.match(/--target/g)).toHaveLength(1);
    expect((await race(["--timeout", "soon"])).stderr).toMatch(/--timeout: must be a duration like 500ms/);
  });

  it("--timeout takes a duration with a unit, as --lease does", async () => {
    const r = await race(["--n", "5", "--timeout", "5s"]);
    expect(r.code, r.stderr).toBe(0);
  });
});

describe("race over HTTP (last-byte release)", () => {
  it.each(["on-conflict", "catch-p2002"])("N=50 against `serve --strategy %s` passes", async (strategy) => {
    const serve = await startServe(db.database.url, ["--strategy", strategy]);
    try {
      const r = await race(["--n", "50", "--target", serve.url]);
      expect(r.stderr).not.toMatch(/^error/m);
      expect(r.code).toBe(0);
      // No absolute timing here (machines differ): exit 0 already required
      // the race-quality invariant, whose spread threshold is relative to latency.
      expect(typeof r.json!.cases[0]!.releaseSpreadMs).toBe("number");
      expect(r.json!.cases.every((c) => c.invariants.some((i) => i.name === "race-quality" && i.status === "pass"))).toBe(true);
    } finally {
      await serve.stop();
    }
  });

  it("negative control over HTTP: `serve --strategy check-then-create` fails (exit 1) under the default budget, which stops at the catch", async () => {
    const serve = await startServe(db.database.url, ["--strategy", "check-then-create"]);
    try {
      const r = await race(["--n", "50", "--target", serve.url]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.json!.rounds![0]).toMatchObject({ schedule: "budget", stoppedEarly: true, caught: 1 });
      expect(r.json!.cases).toHaveLength(r.json!.rounds![0]!.rounds);
      expect(failedInvariants(r.json)).toContain("no-5xx");
    } finally {
      await serve.stop();
    }
  });

  const cases: Array<[RacyMode, number, string | undefined]> = [
    ["correct", 0, undefined],
    ["check-then-create", 1, "no-5xx"],
    ["500-on-duplicate", 1, "no-5xx"],
    ["job-per-delivery", 1, "one-job-per-key"],
  ];
  it.each(cases)("test receiver %s: exit %i", async (mode, code, violated) => {
    const receiver = await startRacyReceiver(db.database.url, mode, 45);
    try {
      const r = await race(["--n", "50", "--target", receiver.url]);
      expect(r.code, r.stderr).toBe(code);
      if (violated) expect(failedInvariants(r.json)).toContain(violated);
    } finally {
      await receiver.close();
    }
  });
});
