// dedupe-cli db stop: stops the embedded PostgreSQL in ./.dedupe
// (DEDUPE_HOME). The command that starts it stops it on exit, and a later
// command adopts one whose starter was killed; this is the explicit way,
// for scripts and for a server left behind.
import path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import type { CliContext } from "./context.js";
import { parseOptions } from "./options.js";

const stopOptionsSchema = z.object({
  force: z.boolean().default(false),
  json: z.boolean().default(false),
});

const DB_HELP = `
Examples:
  $ dedupe-cli db stop        # the embedded PostgreSQL in ./.dedupe (DEDUPE_HOME)
  stopped the embedded PostgreSQL (pid 41237) in /work/app/.dedupe/pg
  $ dedupe-cli db stop --json
  {"stopped":false,"dataDir":"/work/app/.dedupe/pg"}

A server whose dedupe-cli process still runs (a serve, say) is left alone
unless --force: that process stops it when it exits.
Exit 0 whether or not a server was running; 2 when refused.`;

export function register(program: Command, ctx: CliContext): Command {
  const db = program.command("db").description("Manage the embedded PostgreSQL (data in ./.dedupe or DEDUPE_HOME).");
  db.command("stop")
    .description("Stop the embedded PostgreSQL, including one left running by a killed command.")
    .option("--force", "stop it even while the dedupe-cli process that started it still runs", false)
    .option("-j, --json", "print one JSON object on stdout", false)
    .addHelpText("after", DB_HELP)
    .action(async (raw) => {
      const opts = parseOptions(stopOptionsSchema, raw);
      const dataDir = path.join(ctx.env.home, "pg");
      const { stopEmbeddedPostgres } = await import("../db/embedded.js");
      const result = await stopEmbeddedPostgres(dataDir, { force: opts.force });
      if (opts.json) {
        ctx.stdout.write(`${JSON.stringify({ ...result, dataDir })}\n`);
        return;
      }
      if (!result.stopped) ctx.stdout.write(`no embedded PostgreSQL is running in ${dataDir}\n`);
      else ctx.stdout.write(`stopped the embedded PostgreSQL (pid ${result.pid}) in ${dataDir}${result.ownerPid ? ` under its running owner (pid ${result.ownerPid})` : ""}\n`);
    });
  return db;
}
