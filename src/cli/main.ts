// Registers the commands. Only the module of the command being run is
// imported, so `dedupe-cli migrate` does not load the HTTP server or the
// harness. Top-level --help lists every command from this table.
import path from "node:path";
import { Command, CommanderError } from "commander";
import fs from "node:fs";
import { ConfigError, DedupeCliError, UsageError } from "../errors.js";
import { createCliContext, outputWidth, type CliContext } from "./context.js";
import { configureHelpConventions, wrapHelpOutput } from "./help.js";

export interface CommandModule {
  register(program: Command, ctx: CliContext): Command;
}

interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<CommandModule>;
}

const COMMANDS: readonly CommandEntry[] = [
  { name: "migrate", summary: "apply pending migrations (no Prisma engine needed)", load: () => import("./migrate.js") },
  { name: "serve", summary: "receive provider webhooks over HTTP (Fetch handlers on node:http)", load: () => import("./serve.js") },
  { name: "clients", summary: "create, configure and list clients and their webhook secrets", load: () => import("./clients.js") },
  { name: "status", summary: "show the database in use, its migration state and row counts", load: () => import("./status.js") },
  { name: "drain-jobs", summary: "run queued background jobs (SKIP LOCKED claims, leases, retries)", load: () => import("./drain-jobs.js") },
  { name: "replay", summary: "deliver every fixture twice and check what the receiver wrote", load: () => import("./replay.js") },
  { name: "race", summary: "fire N identical deliveries at once and check exactly one message resulted", load: () => import("./race.js") },
  { name: "capture", summary: "receive webhooks and write each as a replayable fixture (raw body + redacted .meta.json)", load: () => import("./capture.js") },
  { name: "db", summary: "stop the embedded PostgreSQL (db stop), also one a killed command left running", load: () => import("./db.js") },
  { name: "verify", summary: "the full check for CI: replay, race, drain the jobs, then late duplicates", load: () => import("./verify.js") },
  { name: "init", summary: "write a dedupe.config.ts for your app from its Prisma schema", load: () => import("./init.js") },
  { name: "config", summary: "check a dedupe.config (your app's schema mapping) against its database", load: () => import("./config.js") },
];

const VERSION = "0.1.0";

export async function runCli(argv: string[], ctx: CliContext = createCliContext()): Promise<void> {
  const width = outputWidth(ctx);
  const program = new Command("dedupe-cli")
    .description("Prove that webhook ingestion is idempotent under duplicate and concurrent deliveries.")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    // Options after a command name belong to that command (and after a
    // nested one, such as `drain-jobs stats`, to the nested one).
    .enablePositionalOptions()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(wrapHelpOutput(s, width)),
      writeErr: (s) => ctx.stderr.write(wrapHelpOutput(s, width)),
      getOutHelpWidth: () => width,
      getErrHelpWidth: () => width,
    })
    .addHelpText(
      "after",
      `
Exit codes: 0 pass, 1 invariant violated, 2 usage or configuration error, 3 inconclusive, 130 interrupted (Ctrl-C on a command that cannot stop gracefully, or a second Ctrl-C).

Database: --database-url or DATABASE_URL; without either an embedded PostgreSQL is started with its data in ./.dedupe (DEDUPE_HOME) and reused across commands.

In a clone of dedupe-cli run it as \`npx dedupe-cli <command>\` (or node bin/dedupe-cli.js).`,
    );
  configureHelpConventions(program, width);

  const requested = argv.slice(2).find((arg) => !arg.startsWith("-"));
  for (const entry of COMMANDS) {
    if (entry.name === requested) {
      const module = await entry.load();
      module.register(program, ctx).exitOverride();
    } else {
      program.command(entry.name).description(entry.summary);
    }
  }

  ctx.shutdown.install(ctx.stderr);
  try {
    await program.parseAsync(argv);
    // Succeeded from the server's open files: say so, since the data is gone now.
    if (ctx.embeddedDataDir && !fs.existsSync(path.join(ctx.embeddedDataDir, "PG_VERSION"))) {
      ctx.stderr.write(`warning: the embedded PostgreSQL's data directory ${ctx.embeddedDataDir} was deleted while this command ran; it finished from the server's open files, and that data is gone now.\n`);
    }
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0 || error.code === "commander.helpDisplayed" || error.code === "commander.version") return;
      // Commander already printed its message.
      throw Object.assign(new UsageError(error.message), { reported: true });
    }
    throw explainLostDataDir(ctx, error);
  } finally {
    await ctx.shutdown.runCleanups();
  }
}

/**
 * An embedded database whose directory was deleted under a running command
 * (`rm -rf .dedupe` in another terminal) fails in whatever statement comes
 * next, with a driver or Prisma error that says nothing useful. When the
 * directory is gone, that is the cause, and the run's own error is replaced
 * by one that says so (exit 2: the environment, not the receiver).
 */
function explainLostDataDir(ctx: CliContext, error: unknown): unknown {
  const dir = ctx.embeddedDataDir;
  if (!dir || fs.existsSync(path.join(dir, "PG_VERSION"))) return error;
  const verdict = error instanceof DedupeCliError && error.kind === "invariant" ? " (the verdict above is void)" : "";
  return new ConfigError(`The embedded PostgreSQL's data directory ${dir} was deleted while this command was using it${verdict}; nothing this run read after that can be trusted.`, {
    hint: "Run the command again (a new embedded database is created in its place), and do not delete .dedupe while a command runs; `dedupe-cli db stop` stops the server first. Or use --database-url.",
    cause: error,
  });
}
