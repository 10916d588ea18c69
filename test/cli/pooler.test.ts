// Issue 12 item 11: migrate, serve, race, verify and drain-jobs through a
// real transaction-mode PgBouncer (Debian's 1.18: no protocol-level prepared
// statements). `.ci/run` starts one with scripts/start-pgbouncer.sh and sets
// DEDUPE_TEST_POOLER_URL; locally: eval "$(scripts/start-pgbouncer.sh)".
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isTransactionPooler } from "../../src/db/pooler.js";
import { runBin } from "../helpers/cli.js";
import { runBinJson } from "../helpers/cli-json.js";
import { startServe, type ServeProcess } from "../helpers/serve.js";
import { buildParts, FIXTURES_DIR, loadFixture } from "../providers/support.js";

// A test-only setting, like DATABASE_URL in test/global-setup.ts.
const POOLER_URL = process.env.DEDUPE_TEST_POOLER_URL;
const env = { DATABASE_URL: undefined, DEDUPE_VERBOSE: undefined };

if (!POOLER_URL) {
  process.stderr.write("test/cli/pooler.test.ts: skipped, DEDUPE_TEST_POOLER_URL is not set (eval \"$(scripts/start-pgbouncer.sh)\" sets it; .ci/run does)\n");
}

/** The pooler URL pointing at `database` (PgBouncer's [databases] * entry forwards any name). */
function poolerUrlFor(database: string, pooler = true): string {
  const url = new URL(POOLER_URL!);
  url.pathname = `/${database}`;
  if (!pooler) url.searchParams.delete("pgbouncer");
  return url.toString();
}

describe.skipIf(!POOLER_URL)("through a transaction-mode PgBouncer", () => {
  const name = `dedupe_pooler_${process.pid}_${Date.now().toString(36)}`;
  const url = () => poolerUrlFor(name);
  let served: ServeProcess | undefined;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: poolerUrlFor("postgres", false) });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
    await admin.end();
  });
  afterAll(async () => {
    await served?.stop();
    const admin = new pg.Client({ connectionString: poolerUrlFor("postgres", false) });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  });

  it("the URL marks the pooler", () => {
    expect(isTransactionPooler(url())).toBe(true);
  });

  it("negative control: named prepared statements break through this pooler", async () => {
    const direct = poolerUrlFor(name, false);
    const [a, b] = [new pg.Client({ connectionString: direct }), new pg.Client({ connectionString: direct })];
    await Promise.all([a.connect(), b.connect()]);
    try {
      await a.query({ name: "dedupe_probe", text: "SELECT 1" });
      // b holds the server connection a prepared on (PgBouncer reuses the last one freed).
      await b.query("BEGIN");
      await b.query("SELECT 2");
      const error = await a.query({ name: "dedupe_probe", text: "SELECT 1" }).catch((e: { code?: string }) => e);
      expect((error as { code?: string }).code).toBe("26000");
      await b.query("COMMIT");
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });

  it("migrate: two runs at once both succeed (transaction-level lock)", async () => {
    const runs = await Promise.all([runBin(["migrate", "--database-url", url()], { env }), runBin(["migrate", "--database-url", url()], { env })]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    // A session lock taken through the pooler would stay behind on whichever
    // server connection took it, blocking every later migrate for good.
    const admin = new pg.Client({ connectionString: poolerUrlFor(name, false) });
    await admin.connect();
    const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 72707369`);
    await admin.end();
    expect(Number(rows[0]!.n)).toBe(0);
    const loaded = await runBin(["clients", "load", `${FIXTURES_DIR}clients.json`, "--database-url", url()], { env });
    expect(loaded.code, loaded.stderr).toBe(0);
  });

  it("serve: 100 concurrent deliveries of one message → one created, 99 deduped, no 5xx", async () => {
    served = await startServe(url(), ["--pool-size", "20"]);
    const fixture = loadFixture("instantly/reply_received.json");
    const rawBody = JSON.stringify({ ...(fixture.body as object), email_id: `pooler-${randomUUID()}` });
    const answers = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const { url: target, headers, body } = buildParts(fixture, { rawBody }, served!.url);
        const response = await fetch(target, { method: "POST", headers, body });
        return { status: response.status, body: (await response.json()) as { deduped?: boolean } };
      }),
    );
    expect(answers.filter((a) => a.status !== 200), served.stderr()).toEqual([]);
    expect(answers.filter((a) => a.body.deduped === false)).toHaveLength(1);
  });

  it("race in-process and against serve: pass", async () => {
    const inProcess = await runBinJson<{ verdict: string }>(["race", "--database-url", url(), "--json", "--n", "30"], { env });
    expect(inProcess.code, inProcess.stderr).toBe(0);
    const overHttp = await runBinJson<{ verdict: string }>(["race", "--target", served!.url, "--database-url", url(), "--json", "--n", "30"], { env });
    expect(overHttp.code, overHttp.stderr).toBe(0);
  });

  it("drain-jobs runs the jobs serve enqueued; --watch falls back to polling", async () => {
    const once = await runBin(["drain-jobs", "--database-url", url(), "--once"], { env: { ...env, CI: "true" } });
    expect(once.code, once.stderr).toBe(0);
    const watch = await runBin(["drain-jobs", "--database-url", url(), "--watch", "--time-budget", "2s"], { env: { ...env, CI: "true" } });
    expect(watch.code, watch.stderr).toBe(0);
    expect(watch.stderr).toMatch(/polling only/);
    const admin = new pg.Client({ connectionString: poolerUrlFor(name, false) });
    await admin.connect();
    const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "BackgroundJob" WHERE "status" <> 'SUCCEEDED'`);
    await admin.end();
    expect(Number(rows[0]!.n)).toBe(0);
  });

  it("verify: every stage passes", async () => {
    const r = await runBinJson<{ verdict: string }>(["verify", "--database-url", url(), "--json", "--n", "10", "--rounds", "1"], { env, timeoutMs: 170_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json!.verdict).toBe("pass");
  });
});
