// `prisma generate` on a machine where the Prisma schema-engine binary cannot
// be downloaded: generation does not use the engine, but the CLI insists on
// finding one, so point it at any existing file unless the user has a real one.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(import.meta.url);
env.PRISMA_HIDE_UPDATE_MESSAGE = "1";
const result = spawnSync(process.execPath, [fileURLToPath(new URL("../node_modules/prisma/build/index.js", import.meta.url)), "generate"], {
  env,
  stdio: ["ignore", "pipe", "inherit"],
  encoding: "utf8",
});
if (result.status !== 0) {
  process.stdout.write(result.stdout ?? "");
  process.exit(result.status ?? 1);
}
