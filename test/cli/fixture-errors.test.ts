// Issue 11, item 8, through bin/: a fixture that is not JSON names the file
// and the line and column; a .meta.json passed as a fixture says what it is
// and what to pass instead; an embedded database directory deleted under a
// running command gives a clear exit 2, never a Prisma or pg stack.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT, runBin, spawnBin } from "../helpers/cli.js";
import { useTestDb } from "../helpers/db.js";

const db = await useTestDb(4);
const env = { DATABASE_URL: undefined };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-fixture-errors-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(rel: string, text: string): string {
  const file = path.join(tmp, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

describe("fixture files", () => {
  it("not JSON: exit 2 naming the file, line and column (race and replay)", async () => {
    const file = write("ghl/broken.json", '{"type": "InboundMessage",\n  "body": nope}\n');
    const race = await runBin(["race", "--fixture", file, "-n", "10", "--database-url", db.database.url], { env });
    expect(race.code).toBe(2);
    expect(race.stderr).toContain(file);
    expect(race.stderr).toMatch(/not valid JSON at line 2, column 11: expected a value, found "nope}"/);
    const replay = await runBin(["replay", file, "--database-url", db.database.url], { env });
    expect(replay.code).toBe(2);
    expect(replay.stderr).toMatch(/broken\.json: not valid JSON at line 2, column 11/);
    expect(replay.stderr).not.toMatch(/Cannot tell which provider/);
  });

  it("not JSON and in no provider folder: says not JSON, not 'cannot tell the provider'", async () => {
    const file = write("notjson.json", "not json at all");
    const r = await runBin(["replay", file, "--database-url", db.database.url], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/notjson\.json: not valid JSON at line 1, column 1/);
    expect(r.stderr).not.toMatch(/Cannot tell which provider/);
  });

  it("a .meta.json passed as the fixture: says it is the sidecar and names the body to pass", async () => {
    const meta = path.join(ROOT, "fixtures", "ghl", "inbound_message.meta.json");
    const r = await runBin(["race", "--fixture", meta, "--database-url", db.database.url], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/inbound_message\.meta\.json is a fixture's metadata sidecar/);
    expect(r.stderr).toMatch(/Pass the body it describes instead: \S*fixtures\/ghl\/inbound_message\.json/);
    expect(r.stderr).not.toMatch(/Invalid input|ZodError|expected (string|object|record)/);
  });
});

describe("embedded database deleted mid-run", () => {
  it("verify: exit 2 saying the data directory was deleted, no stack", { timeout: 300_000 }, async () => {
    const home = path.join(tmp, "home");
    const run = spawnBin(["verify", "--n", "10", "--rounds", "1"], { env: { ...env, DEDUPE_HOME: home }, timeoutMs: 280_000 });
    let stderr = "";
    // Deleted once the race stage starts: the replay stage has used the server.
    await new Promise<void>((resolve) => {
      run.child.stderr.on("data", (d) => {
        stderr += d;
        if (/\[2\/4\] race/.test(stderr) && fs.existsSync(home)) {
          fs.rmSync(home, { recursive: true, force: true });
          resolve();
        }
      });
      run.child.on("close", () => resolve());
    });
    const r = await run.done;
    expect(r.code, r.stderr.slice(-2000)).toBe(2);
    expect(r.stderr).toMatch(/data directory \S+home\/pg was deleted while this command was using it/);
    expect(r.stderr).not.toMatch(/unexpected failure|PrismaClient|\n\s+at /);
  });
});
