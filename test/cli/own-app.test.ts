// README "Pointing it at your own app and database", run as written: an
// empty database migrated, the test clients loaded, an app trusting the TEST
// GHL key through GHL_ED25519_PUBLIC_KEY (here `dedupe-cli serve`, standing
// in for your app), then race, race --all-fixtures and drain-jobs against it.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, ROOT, runBin } from "../helpers/cli.js";
import { createEmptyDatabase, type TestDatabase } from "../helpers/db.js";
import { waitForListening } from "../helpers/serve.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-own-app-"));
const cleanup: Array<() => Promise<void> | void> = [() => fs.rmSync(tmp, { recursive: true, force: true })];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
});
const env = { DATABASE_URL: undefined };

describe("README: pointing it at your own app and database", () => {
  it("works as written, end to end", { timeout: 600_000, retry: Number(process.env.OWN_APP_RETRY ?? 2) }, async () => {
    const database: TestDatabase = await createEmptyDatabase();
    cleanup.push(() => database.drop());
    const url = database.url;
    const step = async (args: string[]) => {
      const r = await runBin(args, { env, timeoutMs: 300_000 });
      // Printed in full (vitest shows it even when a retry then passes), so a
      // failure that a retry hides can still be diagnosed from the CI log.
      if (r.code !== 0) console.error(`own-app step failed (exit ${r.code}): ${args.join(" ")}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
      expect(r.code, `${args.join(" ")}\n${r.stderr}`).toBe(0);
      return r;
    };

    await step(["migrate", "--database-url", url]);
    await step(["clients", "load", "fixtures/clients.json", "--database-url", url]);

    // "Your app", trusting the TEST GHL key the way an app would: through its environment.
    const publicKey = fs.readFileSync(path.join(ROOT, "fixtures/keys/ghl-test-ed25519.public.pem"), "utf8");
    const appEnv: NodeJS.ProcessEnv = { ...process.env, GHL_ED25519_PUBLIC_KEY: publicKey };
    delete appEnv.DATABASE_URL;
    const app = spawn(process.execPath, [BIN, "serve", "--port", "0", "--pool-size", "20", "--database-url", url], { cwd: ROOT, env: appEnv, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise((resolve) => app.once("exit", resolve));
    cleanup.push(async () => {
      if (app.exitCode === null) app.kill("SIGTERM");
      await exited;
    });
    const target = await waitForListening(app);

    await step(["race", "--n", "50", "--target", target, "--database-url", url]);
    await step(["race", "--all-fixtures", "--rounds", "3", "--target", target, "--database-url", url]);

    const handlers = path.join(tmp, "handlers.mjs");
    fs.writeFileSync(handlers, "export default {\n  EMAIL_INBOUND_POST_PROCESS: async (job, ctx) => {\n    await ctx.runBuiltin();\n  },\n};\n");
    const drained = await step(["drain-jobs", "--database-url", url, "--handlers", handlers]);
    expect(drained.stdout).toMatch(/EMAIL_INBOUND_POST_PROCESS/);
  });
});
