// What every command receives: the environment (read once, in config.ts),
// output streams, and shutdown handling.
import { readEnvConfig, type EnvConfig } from "../config.js";
import { resolveWidth } from "./help.js";
import { Shutdown } from "./shutdown.js";

export interface CliContext {
  env: EnvConfig;
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  shutdown: Shutdown;
  /** Set once the run uses the embedded PostgreSQL: its data directory (to explain a failure after it was deleted). */
  embeddedDataDir?: string;
}

export function createCliContext(): CliContext {
  return { env: readEnvConfig(), stdout: process.stdout, stderr: process.stderr, shutdown: new Shutdown() };
}

/** Colours only on a terminal, and never under NO_COLOR or CI. */
export function useColor(ctx: CliContext): boolean {
  return Boolean(ctx.stdout.isTTY) && !ctx.env.noColor && !ctx.env.ci;
}

/** The width output is laid out for: $COLUMNS, else the terminal's, else 80. */
export function outputWidth(ctx: CliContext): number {
  return resolveWidth(ctx.env.columns, ctx.stdout.columns);
}
