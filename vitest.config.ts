import { defineConfig } from "vitest/config";

// An external DATABASE_URL (CI's PostgreSQL 15) has max_connections = 100,
// and race tests hold 50+ connections each: run files one at a time there.
// The embedded server allows 600, so two files can run side by side.
const external = Boolean(process.env.DATABASE_URL);

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: external ? 1 : 2,
    fileParallelism: !external,
  },
});
