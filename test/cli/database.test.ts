// Database resolution through the real CLI: the embedded default (created,
// reused across commands, --fresh), and clear exit-2 errors for every way an
// external database can be unusable.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createEmptyDatabase, createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { runBin, spawnBin } from "../helpers/cli.js";
import { waitForListening } from "../helpers/serve.js";
import { inject } from "vitest";

const cleanup: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

function withPath(url: string, database: string, user?: string) {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  if (user) {
    parsed.username = user;
    parsed.password = "wrong-password";
  }
  return parsed.toString();
}

describe("external database errors (exit 2, no stack trace)", () => {
  const noStack = (stderr: string) => expect(stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);

  it("unreachable", async () => {
    const r = await runBin(["status", "--database-url", "postgresql://postgres@127.0.0.1:1/nothing"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Cannot reach PostgreSQL at postgresql:\/\/postgres@127\.0\.0\.1:1\/nothing \(ECONNREFUSED\)/);
    expect(r.stderr).toMatch(/embedded PostgreSQL/);
    noStack(r.stderr);
  });

  it("wrong credentials (unknown role)", async () => {
    const r = await runBin(["status", "--database-url", withPath(inject("dbAdminUrl"), "postgres", "no_such_role_dedupe")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/rejected the credentials/);
    expect(r.stderr).not.toContain("wrong-password");
    noStack(r.stderr);
  });

  it("missing database", async () => {
    const r = await runBin(["status", "--database-url", withPath(inject("dbAdminUrl"), "no_such_database_dedupe")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not exist/);
    expect(r.stderr).toMatch(/dedupe-cli migrate/);
  });

  it("not migrated: says so and how to fix it, then migrate fixes it", async () => {
    const empty: TestDatabase = await createEmptyDatabase();
    cleanup.push(() => empty.drop());
    // status is the diagnostic command: it reports the state (exit 0) ...
    const before = await runBin(["status", "--database-url", empty.url]);
    before.stdout = before.stdout.replace(/\s+/g, " "); // lines wrap at the terminal width
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/not migrated, \d+ pending/);
    expect(before.stdout).toMatch(/dedupe-cli migrate --database-url/);
    expect(before.stdout).not.toMatch(/--migrate\b(?!-)/);
    const beforeJson = JSON.parse((await runBin(["status", "--json", "--database-url", empty.url])).stdout);
    expect(beforeJson.migrated).toBe(false);
    // ... every other command refuses (exit 2), and offers --migrate only where it exists.
    for (const [args, offers] of [[["race"], true], [["replay", "fixtures"], true], [["verify"], true], [["drain-jobs"], false], [["clients", "list"], false]] as const) {
      const r = await runBin([...args, "--database-url", empty.url]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/is not migrated \(\d+ pending/);
      expect(r.stderr.includes("or pass --migrate"), args.join(" ")).toBe(offers);
      if (offers) expect((await runBin([...args, "--help"])).stdout).toMatch(/--migrate /);
    }

    const migrate = await runBin(["migrate", "--database-url", empty.url]);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(migrate.stdout).toMatch(/applied \d+ migration/);
    const after = await runBin(["status", "--database-url", empty.url, "--json"]);
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout).rows.messages).toBe(0);
  });

  it("--fresh is refused for an external database and nothing is touched", async () => {
    const db = await createTestDatabase();
    cleanup.push(() => db.drop());
    const r = await runBin(["status", "--fresh", "--database-url", db.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--fresh only applies to the embedded database/);
  });

  it("a URL that is not PostgreSQL is a usage error", async () => {
    const r = await runBin(["status", "--database-url", "mysql://root@127.0.0.1/x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/must start with postgresql:\/\//);
  });
});

describe("embedded default", () => {
  it("starts in about a second, says where the data lives, persists across commands, and --fresh empties it", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-home-"));
    cleanup.push(() => fs.rmSync(home, { recursive: true, force: true }));
    const env = { DEDUPE_HOME: home, DATABASE_URL: undefined };

    const first = await runBin(["migrate"], { env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(new RegExp(`embedded PostgreSQL: created and started in \\d+ ms; data in ${home.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/pg`));

    // A second command reuses the same cluster: the migrations are already there.
    const second = await runBin(["migrate", "--json"], { env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/embedded PostgreSQL: started in \d+ ms/);
    const report = JSON.parse(second.stdout);
    expect(report.applied).toEqual([]);
    expect(report.alreadyApplied.length).toBeGreaterThan(0);

    const fresh = await runBin(["migrate", "--fresh", "--json"], { env });
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(JSON.parse(fresh.stdout).applied.length).toBe(report.alreadyApplied.length);

    // The server is stopped when the command exits: no postmaster.pid left behind.
    expect(fs.existsSync(path.join(home, "pg", "postmaster.pid"))).toBe(false);
  });
});

describe("embedded server lifecycle", () => {
  it("Ctrl-C (SIGINT) on a long-running command stops the embedded PostgreSQL it started", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-home-int-"));
    cleanup.push(() => fs.rmSync(home, { recursive: true, force: true }));
    const { child, done } = spawnBin(["serve", "--port", "0"], { env: { DEDUPE_HOME: home, DATABASE_URL: undefined } });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = done.then((r) => r.code);
    await waitForListening(child);
    const pidFile = path.join(home, "pg", "postmaster.pid");
    const postgresPid = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
    expect(isAlive(postgresPid)).toBe(true);

    child.kill("SIGINT");
    expect(await exited, stderr).toBe(0);
    expect(fs.existsSync(pidFile)).toBe(false);
    expect(isAlive(postgresPid)).toBe(false);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

describe("usage errors", () => {
  it("an unknown option exits 2 with the usage hint", async () => {
    const r = await runBin(["status", "--no-such-flag"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option/);
  });

  it("--help lists every command", async () => {
    const r = await runBin(["--help"]);
    expect(r.code).toBe(0);
    for (const name of ["migrate", "status", "drain-jobs"]) expect(r.stdout).toContain(name);
    expect(r.stdout.replace(/\s+/g, " ")).toMatch(/Exit codes: 0 pass, 1 invariant violated, 2 usage or configuration error, 3 inconclusive/);
  });
});
