// Setup mistakes are exit 2 with the cause and the fix, never exit 1 ("your
// ingestion is not idempotent"): nothing listening at --target, a route given
// where the base URL belongs, a receiver that does not trust the test GHL
// keys, --target without the receiver's database. Negative control beside
// them: a racy receiver reached over HTTP still fails with exit 1.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBin, spawnBin } from "../helpers/cli.js";
import { useTestDb } from "../helpers/db.js";
import { startServe, waitForListening, type ServeProcess } from "../helpers/serve.js";
import { seedFixtureClients } from "../providers/support.js";

const db = await useTestDb(4);
const env = { DATABASE_URL: undefined };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-setup-"));
let serve: ServeProcess;

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
  serve = await startServe(db.database.url, ["--pool-size", "10"]);
});
afterAll(async () => {
  await serve?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function findClosedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const race = (args: string[]) => runBin(["race", "--n", "10", "--rounds", "1", "--database-url", db.database.url, ...args], { env });

describe("setup mistakes are exit 2, not a failed invariant", () => {
  it("nothing listening at --target: ECONNREFUSED on every delivery", async () => {
    const r = await race(["--target", `http://127.0.0.1:${await findClosedPort()}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ECONNREFUSED on all 10 deliveries/);
    expect(r.stderr).toMatch(/start the receiver first/);
  });

  it("a route given where the base URL belongs: 404 on every delivery, and the report shows the answer", async () => {
    const r = await race(["--target", `${serve.url}/api/webhooks/email`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/answered 404 to all 10 deliveries/);
    expect(r.stderr).toMatch(/--target takes the receiver's base URL/);
    expect(r.stdout).toMatch(/first error answers[\s\S]*HTTP 404: .*no route/);
  });

  it("a receiver that does not trust the test GHL keys: 401 on every GHL delivery", async () => {
    const plain = spawnBin(["serve", "--port", "0", "--pool-size", "10", "--database-url", db.database.url], { env });
    try {
      const url = await waitForListening(plain.child);
      const r = await race(["--fixture", "fixtures/ghl/inbound_message.json", "--target", url]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/ghl: the receiver answered 401 to all 10 deliveries/);
      expect(r.stderr).toMatch(/--ghl-test-keys/);
      const v = await runBin(["verify", "--n", "5", "--rounds", "1", "--no-drain", "--target", url, "--database-url", db.database.url], { env });
      expect(v.code).toBe(2);
      expect(v.stderr).toMatch(/ghl: the receiver answered 401/);
    } finally {
      plain.child.kill("SIGTERM");
      await plain.done;
    }
  });

  it("--target without a database URL is refused before anything is written", async () => {
    const home = path.join(tmp, "home");
    const r = await runBin(["race", "--target", serve.url], { env: { ...env, DEDUPE_HOME: home } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--target needs the receiver's database/);
    expect(fs.existsSync(home)).toBe(false);
  });

  it("positive control: the same receiver, set up right, passes", async () => {
    const r = await race(["--target", serve.url]);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
  });

  it("negative control: a racy receiver reached over HTTP is still exit 1", async () => {
    const racy = await startServe(db.database.url, ["--pool-size", "20", "--strategy", "check-then-create"]);
    try {
      const r = await runBin(["race", "--n", "20", "--database-url", db.database.url, "--target", racy.url], { env });
      expect(r.code).toBe(1);
    } finally {
      await racy.stop();
    }
  });
});
