// The embedded server's directory lock: a postmaster.pid left by a crashed
// server, whose pid now belongs to some other live process, must give an
// error that says what to delete, not a bare ECONNREFUSED.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { ConfigError } from "../../src/errors.js";

describe("startEmbeddedPostgres", () => {
  it("names a stale postmaster.pid and how to clear it", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-stale-pid-"));
    try {
      // Our own pid is alive; port 1 has nothing listening.
      fs.writeFileSync(path.join(dataDir, "postmaster.pid"), `${process.pid}\n${dataDir}\n0\n1\n`);
      const error = await startEmbeddedPostgres({ dataDir }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain("nothing answers on port 1");
      expect((error as ConfigError).hint).toContain(`delete ${path.join(dataDir, "postmaster.pid")}`);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
