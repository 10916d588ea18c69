// `dedupe-cli verify` through the real bin/, on a real PostgreSQL: the full
// check passes in-process, against `serve`, and with the app's own workers;
// it fails (exit 1) for the check-then-create negative control, in-process
// and over HTTP; a bad flag exits 2 having written nothing.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countRows } from "../../src/db/sql.js";
import { BIN, ROOT } from "../helpers/cli.js";
import { runBinJson } from "../helpers/cli-json.js";
import { useTestDb } from "../helpers/db.js";
import { startRacyReceiver } from "../helpers/racy-receiver.js";
import { startServe } from "../helpers/serve.js";
import { seedFixtureClients } from "../providers/support.js";

const db = await useTestDb(5);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-verify-"));
const env = { DATABASE_URL: undefined };
const STAGES = ["replay", "race", "drain", "late-duplicates"];
/** Small where the default is not what is being tested. */
const QUICK = ["--n", "20", "--rounds", "1"];

// Against --database-url the harness never creates clients: they must exist, as in a user's database.
beforeAll(async () => {
  await seedFixtureClients(db.prisma);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface VerifyJson {
  verdict: string;
  durationMs: number;
  stages: Array<{
    name: string;
    verdict: string;
    completed: boolean;
    durationMs: number;
    numbers: Record<string, number>;
    cases: Array<{ name: string; verdict: string; invariants: Array<{ name: string; status: string }> }>;
    checks: Array<{ name: string; status: string }>;
  }>;
}

function verify(args: string[], options: { databaseUrl?: string | null; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  const dbArgs = options.databaseUrl === null ? [] : ["--database-url", options.databaseUrl ?? db.database.url];
  return runBinJson<VerifyJson>(["verify", ...dbArgs, ...args], { env: options.env ?? env, timeoutMs: options.timeoutMs });
}

const stage = (json: VerifyJson | undefined, name: string) => json!.stages.find((s) => s.name === name)!;
const failed = (json: VerifyJson | undefined, name: string) => [
  ...new Set(stage(json, name).cases.flatMap((c) => c.invariants.filter((i) => i.status === "fail").map((i) => i.name))),
];

function expectAllPassed(json: VerifyJson | undefined) {
  expect(json!.verdict).toBe("pass");
  expect(json!.stages.map((s) => s.name)).toEqual(STAGES);
  for (const s of json!.stages) expect([s.name, s.verdict, s.completed]).toEqual([s.name, "pass", true]);
  const drain = stage(json, "drain").numbers;
  expect(drain.jobs).toBeGreaterThan(0);
  expect(drain["succeeded once"]).toBe(drain.jobs);
  expect(drain.open).toBe(0);
  const late = stage(json, "late-duplicates");
  expect([late.numbers["new messages"], late.numbers["new jobs"]]).toEqual([0, 0]);
  expect(late.numbers["deduped or ignored"]).toBe(late.numbers.deliveries);
}

describe("verify in-process", () => {
  it("--json: exit 0, one JSON object on stdout, four passing stages; --junit has one testsuite per stage", async () => {
    const junit = path.join(tmp, "report.xml");
    const r = await verify([...QUICK, "--json", "--junit", junit]);
    expect(r.code, r.stderr).toBe(0);
    expectAllPassed(r.json);
    // Progress went to stderr, stage by stage.
    expect(r.stderr).toMatch(/verify \[1\/4\] replay/);
    expect(r.stderr).toMatch(/verify \[4\/4\] late-duplicates: PASS/);
    const xml = fs.readFileSync(junit, "utf8");
    const suites = [...xml.matchAll(/<testsuite name="verify ([^"]+)"/g)].map((m) => m[1]);
    expect(suites).toEqual(STAGES);
    expect(xml).not.toContain("<failure");
    // One testcase per invariant per fixture (plus the stage-level checks).
    const invariants = r.json!.stages.reduce((n, s) => n + s.cases.reduce((m, c) => m + c.invariants.length, 0) + s.checks.length, 0);
    expect(xml.match(/<testcase /g)).toHaveLength(invariants);
    expect(xml).toMatch(/classname="dedupe-cli\.verify\.drain\.ghl\/inbound_message\.json" name="jobs-ran-once"/);
  });

  it("negative control: --strategy check-then-create exits 1 and names the race stage, fixture and invariant", async () => {
    const junit = path.join(tmp, "ctc.xml");
    const r = await verify([...QUICK, "--strategy", "check-then-create", "--json", "--junit", junit]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.json!.verdict).toBe("fail");
    expect(stage(r.json, "race").verdict).toBe("fail");
    expect(failed(r.json, "race")).toContain("no-5xx");
    expect(r.stderr).toMatch(/race \S+\.json#1: no-5xx expected 0/);
    expect(fs.readFileSync(junit, "utf8")).toMatch(/<failure message="expected 0; observed \d+/);
  });

  it("--budget: check-then-create is caught (exit 1, how often per fixture); a correct receiver passes every round", async () => {
    const fixture = "fixtures/emailbison/lead_replied.json";
    const racy = await verify(["--n", "20", "--budget", "100ms", fixture, "--strategy", "check-then-create", "--json"]);
    expect(racy.code, racy.stderr).toBe(1);
    expect(stage(racy.json, "race").verdict).toBe("fail");
    expect(failed(racy.json, "race")).toContain("no-5xx");
    expect(racy.stderr).toMatch(/caught\s+in\s+1\s+of\s+[1-3]\s+rounds/);
    const correct = await verify(["--n", "20", "--budget", "100ms", fixture, "--json"]);
    expect(correct.code, correct.stderr).toBe(0);
    expectAllPassed(correct.json);
    // The budget's first four rounds always run, the widest at 4 x N.
    expect(stage(correct.json, "race").cases.length).toBeGreaterThanOrEqual(4);
    expect(correct.stderr).toMatch(/passed\s+([4-9]|\d{2,})\s+of\s+\1\s+rounds/);
  });

  it("bad flags exit 2 before anything is written", async () => {
    const before = await countRows(db.prisma);
    const junit = path.join(tmp, "never.xml");
    const handlers = path.join(tmp, "bad-handlers.mjs");
    fs.writeFileSync(handlers, "export const NOT_A_JOB_TYPE = () => {};\n");
    for (const args of [
      ["--n", "0"],
      ["--rounds", "x"],
      ["--strategy", "nope"],
      ["--target", "ftp://x"],
      ["--target", "http://127.0.0.1:1", "--strategy", "on-conflict"],
      ["--drain-timeout", "soon"],
      ["--no-drain", "--handlers", handlers],
      ["--handlers", handlers],
      ["--junit", "/nonexistent-dir/x.xml"],
      ["no-such-fixtures-dir"],
      ["--bogus"],
    ]) {
      const r = await verify(args.includes("--junit") ? args : [...args, "--junit", junit]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe("");
    }
    expect(fs.existsSync(junit)).toBe(false);
    expect(await countRows(db.prisma)).toEqual(before);
  });
});

describe("verify --target (an HTTP receiver and its database)", () => {
  it("passes against `serve`; the drain runs the jobs serve enqueued", async () => {
    const serve = await startServe(db.database.url);
    try {
      const r = await verify([...QUICK, "--target", serve.url, "--json"]);
      expect(r.code, r.stderr).toBe(0);
      expectAllPassed(r.json);
    } finally {
      await serve.stop();
    }
  });

  it("fails (exit 1) against a check-then-create receiver", async () => {
    const receiver = await startRacyReceiver(db.database.url, "check-then-create", 45);
    try {
      const r = await verify([...QUICK, "--target", receiver.url, "--json"]);
      expect(r.code, r.stderr).toBe(1);
      expect(stage(r.json, "race").verdict).toBe("fail");
      expect(failed(r.json, "race")).toContain("no-5xx");
    } finally {
      await receiver.close();
    }
  });

  it("--no-drain: passes when the app's own workers run the jobs, fails (exit 1) when nobody does", async () => {
    const serve = await startServe(db.database.url);
    try {
      const idle = await verify([...QUICK, "fixtures/emailbison/lead_replied.json", "--target", serve.url, "--no-drain", "--drain-timeout", "500ms", "--json"]);
      expect(idle.code, idle.stderr).toBe(1);
      expect(failed(idle.json, "drain")).toContain("jobs-finished");
      expect(idle.stderr).toMatch(/drain-timeout/);

      // The app's workers: a drain-jobs --watch process on the same database (it also finishes the
      // jobs left above). Its handlers insert no rows: see test/cli/fixtures/verify-workers.mjs.
      const workers = spawn(
        process.execPath,
        [BIN, "drain-jobs", "--watch", "--poll-interval", "100ms", "--handlers", "test/cli/fixtures/verify-workers.mjs", "--database-url", db.database.url],
        { cwd: ROOT, stdio: "ignore" },
      );
      try {
        const r = await verify([...QUICK, "--target", serve.url, "--no-drain", "--json"]);
        expect(r.code, r.stderr).toBe(0);
        expectAllPassed(r.json);
      } finally {
        await new Promise<void>((resolve) => {
          workers.once("exit", () => resolve());
          workers.kill("SIGTERM");
        });
      }
    } finally {
      await serve.stop();
    }
  });
});

describe("verify on the embedded default", () => {
  it("the full default run (N=50 x 3 rounds, every fixture) passes", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-verify-home-"));
    try {
      const r = await verify(["--json"], { databaseUrl: null, env: { DEDUPE_HOME: home, DATABASE_URL: undefined }, timeoutMs: 170_000 });
      expect(r.code, r.stderr).toBe(0);
      expectAllPassed(r.json);
      expect(r.stderr).toMatch(/embedded PostgreSQL: created and started/);
      expect(stage(r.json, "race").numbers.deliveries).toBe(50 * 3 * stage(r.json, "replay").numbers.fixtures);
      // No wall-clock bound (the test timeout is one): the run reports the time each stage took, within its own.
      for (const s of r.json!.stages) expect(s.durationMs, s.name).toBeGreaterThan(0);
      expect(r.json!.durationMs).toBeGreaterThanOrEqual(r.json!.stages.reduce((sum, s) => sum + s.durationMs, 0));
      expect(r.stderr).toMatch(/verify \[2\/4\] race: PASS in \d+\.\d s/);
      // The default schedule's last round holds the messages table's writes; the first two do not.
      expect(r.stderr).toMatch(/3\s+round\(s\)\s+per\s+fixture,\s+the\s+last\s+with\s+the\s+messages\s+table's\s+writes\s+held\s+100\s+ms/);
      expect(r.stderr).toMatch(/#3\s+N=50\s+all\s+at\s+once,\s+writes\s+stalled\s+\d+\s+ms/);
      expect(r.stderr).not.toMatch(/#[12]\s+N=50\s+all\s+at\s+once,\s+writes\s+stalled/);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  }, 180_000);
});
