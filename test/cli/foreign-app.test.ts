// The harness judging an app that is not dedupe-cli: examples/foreign-app
// (its own schema, text ids, snake_case, client through the contact, bare and
// derived stored ids, its own job keys and answers), through the real bin/
// with examples/foreign-app/dedupe.config.ts. The correct variant must pass
// and the check-then-create variant must fail (exit 1, naming the invariant
// and the deliveries); every config mistake is exit 2 naming the key.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, runBin } from "../helpers/cli.js";
import { createEmptyDatabase, type TestDatabase } from "../helpers/db.js";
import { waitForListening } from "../helpers/serve.js";

const APP = path.join(ROOT, "examples", "foreign-app");
const CONFIG = path.join(APP, "dedupe.config.ts");
const FIXTURES = path.join(APP, "fixtures");
const BISON = path.join(FIXTURES, "emailbison", "lead_replied.json");
const INSTANTLY = path.join(FIXTURES, "instantly", "reply_received.json");

interface App {
  db: TestDatabase;
  url: string;
  child: ChildProcess;
}

/** An empty database (no dedupe-cli tables at all) with the app's schema and workspaces, and the app on it. */
async function startApp(racy: boolean, options: { schemaSql?: string } = {}): Promise<App> {
  const db = await createEmptyDatabase();
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(options.schemaSql ?? fs.readFileSync(path.join(APP, "schema.sql"), "utf8"));
  await client.query(fs.readFileSync(path.join(APP, "seed.sql"), "utf8"));
  await client.end();
  const env = { ...process.env, DATABASE_URL: db.url };
  const child = spawn(process.execPath, [path.join(APP, "server.mjs"), "--port", "0", ...(racy ? ["--racy"] : [])], { cwd: APP, env, stdio: ["ignore", "pipe", "pipe"] });
  const url = await waitForListening(child);
  return { db, url, child };
}

async function stopApp(app: App | undefined) {
  if (!app) return;
  if (app.child.exitCode === null) {
    const exited = new Promise((r) => app.child.once("exit", r));
    app.child.kill("SIGTERM");
    await exited;
  }
  await app.db.drop();
}

/** The CLI with the example's config, against the app's database (never a DATABASE_URL from outside). */
const cli = (app: App, args: string[], config = CONFIG) =>
  runBin([...args, "--config", config, "--target", app.url, "--database-url", app.db.url], { env: { DATABASE_URL: undefined }, cwd: APP, timeoutMs: 180_000 });

async function countRows(app: App): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: app.db.url });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT (SELECT count(*)::int FROM inbound_messages) AS messages, (SELECT count(*)::int FROM contacts) AS contacts,
              (SELECT count(*)::int FROM workspaces) AS workspaces,
              (SELECT count(*)::int FROM information_schema.tables WHERE table_name = '_prisma_migrations') AS migrations`,
    );
    return rows[0];
  } finally {
    await client.end();
  }
}

/** A copy of the example config with one edit, in a temp dir (relative imports keep resolving through the loader's alias). */
function editedConfig(edit: (text: string) => string, ext = "ts"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-config-"));
  const file = path.join(dir, `dedupe.config.${ext}`);
  const text = edit(fs.readFileSync(CONFIG, "utf8"));
  fs.writeFileSync(file, text);
  return file;
}

// Several CLI runs per test, each a race over HTTP: minutes on a loaded 2-core machine.
const SLOW = { timeout: 300_000 };
const INIT_ENV = { DATABASE_URL: undefined, BISON_TOKEN: "example-bison-token" };

/** `dedupe-cli init` on the app's Prisma schema, then only its TODOs filled in, as a user would: the directory holding the config. */
async function writeFilledInitConfig(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-init-app-"));
  const init = await runBin(["init", "--prisma", path.join(APP, "schema.prisma")], { cwd: dir });
  expect(init.code, init.stderr).toBe(0);
  const file = path.join(dir, "dedupe.config.ts");
  const filled = fs
    .readFileSync(file, "utf8")
    .replace("// secrets: {", "secrets: { instantlyWebhookSecret: \"example-instantly-secret\", ")
    .replace('status: "state", attempts: "tries" },', 'status: "state", attempts: "tries", statusValues: { pending: ["queued"], running: ["running"], succeeded: ["done"], failed: ["failed"] } },')
    .replace('"/api/webhooks/emailbison"', '"/hooks/emailbison"')
    .replace('"/api/webhooks/instantly"', '"/hooks/instantly"')
    .replace('column: "instantly_key", derive: "bare"', 'column: "instantly_key", derive: (p: any) => `inst_${Buffer.from(JSON.stringify([p.workspace, p.email_id])).toString("base64url")}`')
    .replace(/\/\/ jobs: \{ types: \["TODO"\], key: "any" \},/g, 'jobs: { types: ["post_process"], key: "any" },');
  fs.writeFileSync(file, filled);
  return dir;
}

describe("examples/foreign-app, correct variant", SLOW, () => {
  let app: App;
  beforeAll(async () => {
    app = await startApp(false);
  });
  afterAll(() => stopApp(app));

  it("race passes for bare ids (EmailBison) and derived ids (Instantly), with no dedupe-cli tables in the database", async () => {
    for (const fixture of [BISON, INSTANTLY]) {
      const r = await cli(app, ["race", "--fixture", fixture, "--n", "20", "--rounds", "2", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout);
      expect(result.verdict).toBe("pass");
      const names = result.cases[0].invariants.map((i: { name: string }) => i.name);
      expect(names).toEqual(expect.arrayContaining(["one-message-row", "first-delivery-once", "duplicates-deduped", "one-job-per-key", "no-unexplained-rows"]));
    }
    expect((await countRows(app)).migrations).toBe(0);
  });

  it("init's config, with only its TODOs filled in, passes race for both providers and verify", async () => {
    const dir = await writeFilledInitConfig();
    for (const fixture of [BISON, INSTANTLY]) {
      const r = await runBin(["race", "--fixture", fixture, "--n", "20", "--rounds", "1", "--target", app.url, "--database-url", app.db.url], { env: INIT_ENV, cwd: dir });
      expect(r.code, r.stderr).toBe(0);
    }
    const verify = await runBin(["verify", FIXTURES, "--n", "20", "--rounds", "1", "--target", app.url, "--database-url", app.db.url], { env: INIT_ENV, cwd: dir, timeoutMs: 180_000 });
    expect(verify.code, verify.stderr).toBe(0);
  });

  it("replay (20 at once) passes", async () => {
    const r = await cli(app, ["replay", FIXTURES, "--times", "20", "--concurrency", "20", "--fresh-ids"]);
    expect(r.code, r.stderr).toBe(0);
  });

  it("verify passes, waiting for the app's own worker", async () => {
    const r = await cli(app, ["verify", FIXTURES, "--n", "20", "--rounds", "2", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.stages.map((s: { name: string; verdict: string }) => `${s.name}:${s.verdict}`)).toEqual(["replay:pass", "race:pass", "drain:pass", "late-duplicates:pass"]);
    expect(result.drain).toBe("external");
  });

  it("config check prints the resolved mapping and sends nothing", async () => {
    const before = await countRows(app);
    const r = await runBin(["config", "check", "--config", CONFIG, "--database-url", app.db.url, "--json"], { env: { DATABASE_URL: undefined }, cwd: APP });
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.ok).toBe(true);
    expect(result.columns).toEqual(
      expect.arrayContaining([expect.objectContaining({ key: "providers.instantly.storedId.column", table: "inbound_messages", column: "instantly_key", found: "ok", index: expect.stringContaining("instantly_key") })]),
    );
    expect(await countRows(app)).toEqual(before);
    const table = await runBin(["config", "check", "--config", CONFIG, "--database-url", app.db.url], { env: { DATABASE_URL: undefined }, cwd: APP });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain("providers.emailbison.storedId.column");
    for (const line of table.stdout.split("\n")) expect(line.length).toBeLessThanOrEqual(80);
  });

  it("each config mistake is exit 2 naming the key, before anything is sent", async () => {
    const before = await countRows(app);
    const cases: Array<[string, string, RegExp]> = [
      ["missing table", editedConfig((t) => t.replace('table: "inbound_messages"', 'table: "inbound_message"')), /schema\.messages\.table: table inbound_message does not exist/],
      ["missing column", editedConfig((t) => t.replace('column: "bison_reply_id"', 'column: "bison_reply"')), /providers\.emailbison\.storedId\.column: column inbound_messages\.bison_reply does not exist/],
      ["unreadable config", editedConfig((t) => t.replace("export default", "export default {")), /Cannot load config/],
      ["schema error", editedConfig((t) => t.replace('derive: "bare"', 'derive: "base64"')), /config key providers\.emailbison\.storedId\.derive/],
      ["throwing derivation", editedConfig((t) => t.replace("derive: (payload) => {", 'derive: (payload) => { throw new Error("no tuple");')), /config key providers\.instantly\.storedId\.derive: the function threw: no tuple/],
      ["missing client", editedConfig((t) => t.replace('client: { column: "bison_workspace_id" }', 'client: { column: "name" }')), /through config key providers\.emailbison\.client/],
    ];
    for (const [what, config, message] of cases) {
      const fixture = what === "throwing derivation" ? INSTANTLY : BISON;
      const r = await cli(app, ["race", "--fixture", fixture, "--n", "5"], config);
      expect(r.code, `${what}: ${r.stderr}`).toBe(2);
      expect(r.stderr, what).toMatch(message);
    }
    expect(await countRows(app)).toEqual(before);
  });

  it("a warm-up that writes is reported (exit 2), naming what it wrote", async () => {
    const config = editedConfig((t) => t.replace('warmup: "none"', "warmup: { query: { probe: \"{uuid}\" } }"));
    const r = await cli(app, ["race", "--fixture", BISON, "--n", "5"], config);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/warm-up before racing .* wrote rows \(.*messages \+\d+/);
  });
});

describe("examples/foreign-app, check-then-create variant", SLOW, () => {
  let app: App;
  beforeAll(async () => {
    app = await startApp(true);
  });
  afterAll(() => stopApp(app));

  it("race fails (exit 1), naming the invariant and the witnessing deliveries", async () => {
    // A fixed 3 rounds, as before the budget: this racy app also loses jobs
    // in the crash window, and a budget stops at that first catch, which
    // could come before any round lost the race this test names.
    const r = await cli(app, ["race", "--fixture", BISON, "--n", "30", "--rounds", "3"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/(no-5xx|one-message-row|first-delivery-once).*witness slots \d+/);
  });

  it("replay with 20 deliveries at once fails (exit 1)", async () => {
    // Replay's deliveries are not released together (race's are): on a busy
    // machine one replay can be served one at a time, as one race round can.
    // Like race --target's default 3 rounds, up to 3 replays with fresh ids;
    // the correct variant passes every one of them (test above).
    const codes: Array<number | null> = [];
    for (let attempt = 0; attempt < 3 && !codes.includes(1); attempt++) {
      codes.push((await cli(app, ["replay", BISON, "--times", "20", "--concurrency", "20", "--fresh-ids"])).code);
    }
    expect(codes).toContain(1);
    expect(codes.every((c) => c === 0 || c === 1)).toBe(true);
  });

  it("verify fails (exit 1), naming the stage", async () => {
    const r = await cli(app, ["verify", FIXTURES, "--n", "30", "--rounds", "2"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/race .*(no-5xx|one-message-row|first-delivery-once)/);
  });

  it("verify with init's config (only its TODOs filled in) fails it too (exit 1)", async () => {
    const dir = await writeFilledInitConfig();
    // The default schedule: its third race round holds the writes, so the catch does not hang on luck.
    const r = await runBin(["verify", FIXTURES, "--n", "30", "--target", app.url, "--database-url", app.db.url], { env: INIT_ENV, cwd: dir, timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/race .*(no-5xx|one-message-row|first-delivery-once)/);
  });
});

describe("a unique index missing under a stored-id column", SLOW, () => {
  let app: App;
  beforeAll(async () => {
    const sql = fs.readFileSync(path.join(APP, "schema.sql"), "utf8").replace("bison_reply_id text UNIQUE", "bison_reply_id text");
    app = await startApp(false, { schemaSql: sql });
  });
  afterAll(() => stopApp(app));

  it("warns by default and fails with --strict (exit 2), naming the key", async () => {
    const warned = await cli(app, ["race", "--fixture", BISON, "--n", "5", "--rounds", "1"]);
    expect(warned.stderr).toMatch(/warning: providers\.emailbison\.storedId\.column: no unique index or constraint backs inbound_messages\.bison_reply_id/);
    const strict = await cli(app, ["race", "--fixture", BISON, "--n", "5", "--strict"]);
    expect(strict.code, strict.stderr).toBe(2);
    expect(strict.stderr).toMatch(/--strict: providers\.emailbison\.storedId\.column/);
  });
});
