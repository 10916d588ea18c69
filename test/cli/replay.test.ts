// `dedupe-cli replay` through the real bin/, on a real PostgreSQL: every
// fixture passes in-process and against `serve`; the same replay fails
// against a receiver that answers 500 to duplicates (negative control).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countRows } from "../../src/db/sql.js";
import { runBinJson } from "../helpers/cli-json.js";
import { createTestDatabase, useTestDb } from "../helpers/db.js";
import { startRacyReceiver } from "../helpers/racy-receiver.js";
import { startServe } from "../helpers/serve.js";
import { seedFixtureClients } from "../providers/support.js";

const db = await useTestDb(5);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-replay-"));
const env = { DATABASE_URL: undefined };
const FIXTURE_COUNT = fs.readdirSync("fixtures", { recursive: true }).filter((f) => String(f).endsWith(".json") && !String(f).endsWith(".meta.json") && !String(f).endsWith("clients.json")).length;

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface ReplayJson {
  verdict: string;
  cases: Array<{ name: string; verdict: string; kind: string; notes: string[]; invariants: Array<{ name: string; status: string }> }>;
}

const replay = (args: string[], databaseUrl = db.database.url) => runBinJson<ReplayJson>(["replay", "--database-url", databaseUrl, "--json", ...args], { env });

describe("replay", () => {
  it("every fixture passes in-process: first delivery writes the plan, the duplicate dedupes and writes nothing", async () => {
    const r = await replay(["fixtures"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json!.cases).toHaveLength(FIXTURE_COUNT);
    expect(r.json!.cases.filter((c) => c.verdict !== "pass")).toEqual([]);
    const replied = r.json!.cases.find((c) => c.name === "emailbison/lead_replied.json")!;
    expect(replied.invariants.map((i) => i.name)).toEqual(expect.arrayContaining(["one-message-row", "one-job-per-key", "duplicates-write-nothing"]));
    expect(r.json!.cases.some((c) => c.kind === "ignored")).toBe(true);
  });

  it("every fixture passes against `serve` (signed deliveries over HTTP)", async () => {
    const serve = await startServe(db.database.url);
    try {
      const r = await replay(["fixtures", "--target", serve.url, "--fresh-ids"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json!.cases).toHaveLength(FIXTURE_COUNT);
    } finally {
      await serve.stop();
    }
  });

  it("negative control: a receiver answering 500 to duplicates fails (exit 1)", async () => {
    const receiver = await startRacyReceiver(db.database.url, "500-on-duplicate", 5);
    try {
      const r = await replay(["fixtures/emailbison/lead_replied.json", "--target", receiver.url, "--fresh-ids"]);
      expect(r.code).toBe(1);
      expect(r.json!.cases[0]!.invariants.filter((i) => i.status === "fail").map((i) => i.name)).toContain("no-5xx");
    } finally {
      await receiver.close();
    }
  });

  it("--times and --concurrency: k deliveries, up to c in flight, still exactly one message", async () => {
    const r = await replay(["fixtures/ghl", "--times", "8", "--concurrency", "4", "--fresh-ids"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json!.cases.every((c) => c.verdict === "pass")).toBe(true);
  });

  it("a bare captured body replays as it is; the provider comes from the folder or --provider", async () => {
    const dir = path.join(tmp, "captures");
    fs.mkdirSync(path.join(dir, "emailbison"), { recursive: true });
    const bare = fs.readFileSync("fixtures/emailbison/lead_replied.json");
    fs.writeFileSync(path.join(dir, "emailbison", "captured.json"), bare);
    fs.writeFileSync(path.join(tmp, "loose.json"), bare);
    expect((await replay([dir])).code).toBe(0);
    expect((await replay([path.join(tmp, "loose.json"), "--provider", "emailbison"])).code).toBe(0);
    // No provider folder and no --provider: a configuration error.
    expect((await replay([path.join(tmp, "loose.json")])).code).toBe(2);
  });

  it("against a database without the fixtures' clients: exit 2 naming the command that creates them, nothing written", async () => {
    const empty = await createTestDatabase();
    try {
      const r = await replay(["fixtures/emailbison/lead_replied.json"], empty.url);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/dedupe-cli clients load fixtures\/clients\.json --database-url/);
    } finally {
      await empty.drop();
    }
  });

  it("bad flags exit 2 before anything is written", async () => {
    const before = await countRows(db.prisma);
    for (const args of [["fixtures", "--times", "0"], ["fixtures", "--concurrency", "x"], ["does-not-exist"], ["fixtures", "--target", "http://x", "--url", "http://y"]]) {
      const r = await replay(args);
      expect(r.code, args.join(" ")).toBe(2);
    }
    expect(await countRows(db.prisma)).toEqual(before);
  });
});
