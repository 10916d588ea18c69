// Issue 12 item 10: an embedded PostgreSQL whose starting command was
// SIGKILLed is not stranded: a later command adopts it (and stops it on
// exit), `--fresh` can reset it, and `db stop` stops it. A server whose
// owner still runs is left alone unless --force.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isAlive } from "../../src/db/embedded-owner.js";
import { runBin, spawnBin } from "../helpers/cli.js";
import { waitForListening } from "../helpers/serve.js";

const homes: string[] = [];
const pids: number[] = [];
afterAll(() => {
  // Whatever a failed assertion left running.
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, "SIGQUIT");
  for (const home of homes) fs.rmSync(home, { recursive: true, force: true });
});

function makeHome(): { home: string; env: NodeJS.ProcessEnv; pidFile: string } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-home-stop-"));
  homes.push(home);
  return { home, env: { DEDUPE_HOME: home, DATABASE_URL: undefined }, pidFile: path.join(home, "pg", "postmaster.pid") };
}

/** Starts serve on the embedded database; returns its process and the postmaster's pid. */
async function startServe(env: NodeJS.ProcessEnv, pidFile: string) {
  const run = spawnBin(["serve", "--port", "0", "--pool-size", "2"], { env });
  await waitForListening(run.child);
  const postgresPid = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
  pids.push(postgresPid);
  return { ...run, postgresPid };
}

/** SIGKILL: the command cannot stop its server, which outlives it (detached). */
async function orphan(env: NodeJS.ProcessEnv, pidFile: string): Promise<number> {
  const serve = await startServe(env, pidFile);
  serve.child.kill("SIGKILL");
  await serve.done;
  expect(isAlive(serve.postgresPid)).toBe(true);
  return serve.postgresPid;
}

describe("an orphaned embedded PostgreSQL", () => {
  it("db stop stops it; a second db stop finds nothing to stop", async () => {
    const { env, pidFile } = makeHome();
    const postgresPid = await orphan(env, pidFile);
    const stop = await runBin(["db", "stop"], { env });
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toMatch(new RegExp(`stopped the embedded PostgreSQL \\(pid ${postgresPid}\\)`));
    expect(isAlive(postgresPid)).toBe(false);
    expect(fs.existsSync(pidFile)).toBe(false);
    const again = await runBin(["db", "stop", "--json"], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ stopped: false });
  });

  it("status --fresh resets it instead of refusing", async () => {
    const { env, pidFile } = makeHome();
    const postgresPid = await orphan(env, pidFile);
    const fresh = await runBin(["status", "--fresh", "--json"], { env });
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(isAlive(postgresPid)).toBe(false);
    expect(fs.existsSync(pidFile)).toBe(false);
  });

  it("the next command adopts it and stops it when it exits", async () => {
    const { env, pidFile } = makeHome();
    const postgresPid = await orphan(env, pidFile);
    const status = await runBin(["status"], { env });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stderr).toMatch(/attached to the running/);
    expect(isAlive(postgresPid)).toBe(false);
    expect(fs.existsSync(pidFile)).toBe(false);
  });
});

describe("a server whose owner still runs", () => {
  it("is left alone by db stop (exit 2) and by other commands, and stopped by db stop --force", async () => {
    const { env, pidFile } = makeHome();
    const serve = await startServe(env, pidFile);
    try {
      const refused = await runBin(["db", "stop"], { env });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(new RegExp(`belongs to a running dedupe-cli process \\(pid ${serve.child.pid}\\)`));
      // An attached command does not stop its owner's server either.
      const status = await runBin(["status", "--json"], { env });
      expect(status.code, status.stderr).toBe(0);
      expect(isAlive(serve.postgresPid)).toBe(true);

      const forced = await runBin(["db", "stop", "--force"], { env });
      expect(forced.code, forced.stderr).toBe(0);
      expect(isAlive(serve.postgresPid)).toBe(false);
    } finally {
      serve.child.kill("SIGTERM");
      await serve.done;
    }
  });
});
