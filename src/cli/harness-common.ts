// What race, replay and verify share on the command line: output flags,
// where to deliver, the database session, and turning a verdict into an exit
// code.
import fs from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import pg from "pg";
import { z } from "zod";
import { InconclusiveError, InvariantViolationError, UsageError } from "../errors.js";
import type { ReceiverMapping } from "../harness/mapping.js";
import type { EngineTarget, HarnessResult, InvariantResult } from "../harness/types.js";
import type { DbHandle } from "../db/client.js";
import { outputWidth, useColor, type CliContext } from "./context.js";
import { durationFlag } from "./duration.js";
import { describeSmallRace, openDatabaseSession } from "./options.js";
import { isEmbeddedServerRunning } from "../db/embedded.js";
import { isTransactionPooler } from "../db/pooler.js";
import { openPoolConnections } from "../db/connection-budget.js";
import { classifyEngineOverload, classifySetupFailure } from "../harness/classify-setup.js";

/** The flags addOutputOptions declares, by their option key. */
export type OutputOption = "target" | "url" | "rawIds" | "clients" | "timeout" | "json" | "junit" | "history" | "config" | "strict";

const OUTPUT_OPTIONS: ReadonlyArray<{ key: OutputOption; flags: string; description: string; defaultValue?: string | boolean }> = [
  { key: "target", flags: "--target <base-url>", description: "deliver over HTTP to this receiver (provider routes are appended; GHL deliveries are signed with the TEST keys: run `serve --ghl-test-keys`)" },
  { key: "url", flags: "--url <url>", description: "deliver over HTTP to exactly this URL (one provider)" },
  { key: "rawIds", flags: "--raw-ids", description: "the receiver stores bare provider ids (default: namespaced, falling back to bare when only those exist)", defaultValue: false },
  { key: "clients", flags: "--clients <file>", description: "clients.json to create (embedded) or check (--database-url) the clients fixtures reference" },
  { key: "timeout", flags: "--timeout <duration>", description: "per-delivery timeout: 500ms, 30s, 2m (a bare number is milliseconds)", defaultValue: "30s" },
  { key: "json", flags: "-j, --json", description: "print one JSON result object on stdout (progress goes to stderr)", defaultValue: false },
  { key: "junit", flags: "--junit <file>", description: "write JUnit XML: one testcase per invariant per fixture" },
  { key: "history", flags: "--history <file>", description: "write every delivery as a JSON line (slot, release/response times, status, deduped, error)" },
  { key: "config", flags: "--config <file>", description: "dedupe.config.{ts,mts,mjs,js,json} mapping your app (default: one in the current directory; without one, dedupe-cli's own schema)" },
  { key: "strict", flags: "--strict", description: "with a config: exit 2 when no unique index backs a mapped stored-id column or job dedupe key (default: warn)", defaultValue: false },
];

/**
 * Declares the output and delivery flags race, replay and verify share;
 * `omit` leaves out what a command lacks, `describe` rewords a flag's help.
 */
export function addOutputOptions(
  cmd: Command,
  options: { omit?: readonly OutputOption[]; describe?: Partial<Record<OutputOption, string>> } = {},
): Command {
  for (const option of OUTPUT_OPTIONS) {
    if (options.omit?.includes(option.key)) continue;
    cmd.option(option.flags, options.describe?.[option.key] ?? option.description, option.defaultValue);
  }
  return cmd;
}

const httpUrl = z
  .string()
  .min(1)
  .refine((v) => {
    try {
      return ["http:", "https:"].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, "must be an http:// or https:// URL");

export const harnessOutputSchema = z.object({
  target: httpUrl.optional(),
  url: httpUrl.optional(),
  rawIds: z.boolean().default(false),
  clients: z.string().min(1).optional(),
  timeout: durationFlag(1, 600_000).default(30_000),
  json: z.boolean().default(false),
  junit: z.string().min(1).optional(),
  history: z.string().min(1).optional(),
  config: z.string().min(1).optional(),
  strict: z.boolean().default(false),
});

/** In-process, the DB pool is sized for the race (n + 10), up to this; the race-quality threshold then scales with the pool, not N. */
export const MAX_POOL = 500;

/** The in-process pool a race of n deliveries gets unless --pool-size says otherwise. */
export function racePoolSize(n: number): number {
  return Math.min(n + 10, MAX_POOL);
}

/** --strategy picks the built-in core's; a receiver over HTTP has its own. */
export function rejectStrategyOverHttp(strategy: string | undefined, target: EngineTarget): void {
  if (strategy && target.kind === "http") throw new UsageError("--strategy only applies in-process; a --target receiver uses its own.");
}

/** --target / --url, else the config's target.baseUrl, else the built-in router in this process. */
export function resolveTarget(opts: { target?: string; url?: string }, mapping?: ReceiverMapping): EngineTarget {
  if (opts.target && opts.url) throw new UsageError("--target and --url are alternatives: a base URL (routes appended) or one exact URL.");
  if (opts.target) return { kind: "http", baseUrl: opts.target };
  if (opts.url) return { kind: "http", url: opts.url };
  const configured = mapping?.config.target?.baseUrl;
  if (configured) return { kind: "http", baseUrl: configured };
  if (mapping && !mapping.conventions) {
    throw new UsageError(`${mapping.file} describes your app, but names no receiver to deliver to.`, { hint: "Pass --target <base-url>, or set target.baseUrl in the config." });
  }
  return { kind: "in-process" };
}

/**
 * The mapping for this run, loaded before any database I/O: --config, else
 * a dedupe.config.* in the working directory, else dedupe-cli's own schema.
 */
export async function loadReceiverMapping(opts: { config?: string }): Promise<ReceiverMapping> {
  const { findConfigFile, loadConfigFile } = await import("../harness/config-load.js");
  const file = findConfigFile(process.cwd(), opts.config);
  if (!file) return (await import("../harness/mapping-default.js")).createDefaultMapping();
  const { config } = await loadConfigFile(file);
  const { createReceiverMapping } = await import("../harness/mapping.js");
  return createReceiverMapping(config, { file, conventions: false });
}

/**
 * A receiver over HTTP writes to its own database, so the verdict must read
 * that one. Without --database-url the only right guess is a `dedupe-cli
 * serve` already running on the embedded database of this directory;
 * otherwise the run would judge (and write clients into) a database the
 * receiver never sees.
 */
export function refuseTargetWithoutDatabase(ctx: CliContext, opts: { target?: string; url?: string; databaseUrl?: string }, target?: EngineTarget): void {
  if (!opts.target && !opts.url && target?.kind !== "http") return;
  if (opts.databaseUrl ?? ctx.env.databaseUrl) return;
  if (isEmbeddedServerRunning(path.join(ctx.env.home, "pg"))) return;
  const what = opts.target ? "--target" : opts.url ? "--url" : "The config's target.baseUrl";
  throw new UsageError(`${what} needs the receiver's database: the verdict is read from the rows your receiver wrote.`, {
    hint: "Pass --database-url <the database your receiver writes to> (or set DATABASE_URL). The embedded database only fits a `dedupe-cli serve` running from this directory.",
  });
}

/** Output files must be writable before anything is delivered: a typo in --junit must not cost a whole run. */
export async function validateOutputPaths(opts: { junit?: string; history?: string; clients?: string }): Promise<void> {
  for (const [flag, file] of [["--junit", opts.junit], ["--history", opts.history]] as const) {
    if (!file) continue;
    const dir = path.dirname(path.resolve(file));
    const stat = await fs.stat(dir).catch(() => undefined);
    if (!stat?.isDirectory()) throw new UsageError(`${flag}: directory ${dir} does not exist.`, { hint: `Create it first, or point ${flag} into an existing directory.` });
  }
  if (opts.clients && !(await fs.stat(opts.clients).catch(() => undefined))?.isFile()) {
    throw new UsageError(`--clients: ${opts.clients} is not a file.`, { hint: "Give a clients.json file (the format of fixtures/clients.json)." });
  }
}

/** Fixture paths must exist before the database is touched (a typo is a usage error). */
export async function checkFixturePaths(paths: readonly string[]): Promise<void> {
  for (const p of paths) {
    if (!(await fs.stat(p).catch(() => undefined))) {
      throw new UsageError(`${p}: no such file or directory`, { hint: "Give a fixture file or a folder of <provider>/<event>.json fixtures (the built-in ones are in fixtures/)." });
    }
  }
}

export interface HarnessSession {
  db: DbHandle;
  /** Missing clients may be created (the embedded database); against --database-url they must exist. */
  createClients: boolean;
  /** The pool size in use (smaller than asked when the server allows fewer connections). */
  poolSize: number;
}

export async function openHarnessSession(
  ctx: CliContext,
  opts: { databaseUrl?: string; fresh: boolean; migrate?: boolean; strict?: boolean; poolSize?: number },
  pool: { poolSize: number; warm: number; min?: number },
  mapping?: ReceiverMapping,
): Promise<HarnessSession> {
  // A configured app's database is its own: dedupe-cli's migrations are neither required nor offered.
  const foreignSchema = mapping !== undefined && !mapping.conventions;
  const session = await openDatabaseSession(ctx, {
    databaseUrl: opts.databaseUrl,
    fresh: opts.fresh,
    migrate: opts.migrate,
    poolSize: pool.poolSize,
    poolSizeExplicit: opts.poolSize !== undefined,
    minPoolSize: pool.min,
    foreignSchema,
  });
  if (foreignSchema) {
    const { checkMapping, enforceMappingCheck } = await import("../harness/mapping-check.js");
    const warnings = enforceMappingCheck(await checkMapping(session.db, mapping), mapping, Boolean(opts.strict || mapping.config.strict));
    for (const warning of warnings) ctx.stderr.write(`warning: ${warning}\n`);
    ctx.stderr.write(`config: ${mapping.file} (schema mapping checked: every mapped table and column exists)\n`);
  }
  // A session advisory lock cannot be held through a transaction-mode pooler
  // (the server connection changes hands between statements, and the unlock
  // could land on another one, leaking the lock): there runs do not wait.
  if (isTransactionPooler(session.database.url)) {
    ctx.stderr.write("note: behind a transaction-mode pooler (pgbouncer=true) runs on one database do not wait for each other; run them one at a time\n");
  } else {
    const { acquireHarnessLock } = await import("../db/verify-lock.js");
    // Its own connection, outside the run's pool, so --pool-size means what it says.
    const lockPool = new pg.Pool({ connectionString: session.database.url, max: 1, connectionTimeoutMillis: 5_000 });
    lockPool.on("error", () => undefined);
    ctx.shutdown.addCleanup(() => lockPool.end());
    const release = await acquireHarnessLock(lockPool, {
      onWait: (pid) => ctx.stderr.write(`another dedupe-cli run${pid ? ` (backend pid ${pid})` : ""} is using this database; waiting for it to finish...\n`),
      signal: ctx.shutdown.signal,
    });
    if (release) ctx.shutdown.addCleanup(release);
  }
  const poolSize = session.poolSize;
  const warm = Math.min(pool.warm, poolSize);
  if (warm > 0) {
    // Open the connections now, so no delivery in the race waits for a connect.
    // A few handshakes at a time (openPoolConnections): hundreds at once time out on a busy machine.
    await openPoolConnections(session.db.pool, warm, session.database.url);
  }
  return { db: session.db, createClients: session.database.source === "embedded" && !foreignSchema, poolSize };
}

/** What to try when a race was too poorly synchronised to judge (exit 3); undefined for other reasons, which say it themselves. */
export function describeInconclusiveHint(reasons: readonly string[]): string | undefined {
  if (!reasons.some((r) => /release spread|achieved concurrency/.test(r))) return undefined;
  return "A pass needs the deliveries in flight together: retry on a less loaded machine, lower --n, or give the database pool room (--pool-size).";
}

/** One violated invariant as a line of the exit-1 message. */
export function describeViolation(where: string, inv: InvariantResult): string {
  const witnesses = inv.witnesses?.length ? `; witness slots ${inv.witnesses.slice(0, 20).join(", ")}${inv.witnesses.length > 20 ? ", ..." : ""}` : "";
  return `  ${where}: ${inv.name} expected ${inv.expected}, observed ${inv.observed}${witnesses}`;
}

/** "interrupted by SIGINT before every case ran" once a signal arrived, else undefined. */
export function describeInterruption(ctx: CliContext): string | undefined {
  const signal = ctx.shutdown.signal;
  if (!signal.aborted) return undefined;
  return `interrupted by ${(signal.reason as Error)?.message ?? "a signal"} before every case ran`;
}

/** Prints the result the way it was asked for, then maps the verdict to the error bin/ turns into 1 or 3. */
export async function writeHarnessOutput(
  ctx: CliContext,
  opts: { json: boolean; junit?: string; history?: string },
  result: HarnessResult,
): Promise<void> {
  const { renderTable, toJson, writeHistory } = await import("../harness/report.js");
  const setupError = classifySetupFailure(result.cases);
  if (opts.json) ctx.stdout.write(toJson(setupError ? Object.assign({}, result, { setupError: { message: setupError.message, hint: setupError.hint } }) : result));
  else ctx.stdout.write(renderTable(result, { color: useColor(ctx), width: outputWidth(ctx) }));
  const interrupted = describeInterruption(ctx);
  if (opts.junit) await (await import("../harness/junit.js")).writeJunit(opts.junit, result);
  if (opts.junit && interrupted) await (await import("../harness/junit.js")).markJunitInterrupted(opts.junit, interrupted);
  if (opts.history) await writeHistory(opts.history, result);
  if (setupError) throw setupError;
  const overload = classifyEngineOverload(result.mode, result.cases);
  if (overload) throw overload;
  if (result.verdict === "fail") {
    const lines = result.cases.flatMap((c) => c.invariants.filter((i) => i.status === "fail").map((i) => describeViolation(c.name, i)));
    throw new InvariantViolationError(`${Object.keys(result.violations).length} invariant(s) violated:\n${lines.slice(0, 40).join("\n")}`);
  }
  if (interrupted) throw new InconclusiveError(`${interrupted}: no verdict (${result.cases.length} case(s) ran, none failed)`);
  if (result.verdict === "inconclusive") {
    const reasons = [...new Set(result.cases.flatMap((c) => c.notes.filter((n) => n.startsWith("inconclusive"))))];
    throw new InconclusiveError(`no trustworthy verdict:\n  ${reasons.slice(0, 10).join("\n  ") || "nothing was delivered"}`, { hint: describeInconclusiveHint(reasons) });
  }
}

/**
 * What race and verify check before any database I/O: the mapping (config),
 * a warning for a small --n, where to deliver, and that the flags fit
 * together. Returns the mapping and the target.
 */
export async function resolveRaceRun(
  ctx: CliContext,
  opts: { config?: string; n: number; target?: string; url?: string; strategy?: string; databaseUrl?: string; junit?: string; history?: string; clients?: string },
): Promise<{ mapping: ReceiverMapping; target: EngineTarget }> {
  const mapping = await loadReceiverMapping(opts);
  const small = describeSmallRace(opts.n);
  if (small) ctx.stderr.write(`${small}\n`);
  const target = resolveTarget(opts, mapping);
  rejectStrategyOverHttp(opts.strategy, target);
  refuseTargetWithoutDatabase(ctx, opts, target);
  await validateOutputPaths(opts);
  return { mapping, target };
}

/** Flags a --report-dir re-run command needs to reach the same receiver and database (the URL stays a variable). */
export function buildRerunFlags(opts: { target?: string; url?: string; config?: string; strategy?: string; databaseUrl?: string }): string[] {
  return [
    ...(opts.target ? ["--target", opts.target] : opts.url ? ["--url", opts.url] : []),
    ...(opts.config ? ["--config", opts.config] : []),
    ...(opts.strategy ? ["--strategy", opts.strategy] : []),
    ...(opts.databaseUrl ? ["--database-url", "$DATABASE_URL"] : []),
  ];
}

/** One stderr line when --report-dir wrote something (a passing run writes nothing). */
export function reportWritten(ctx: CliContext, files: readonly string[], dir: string): void {
  if (files.length > 0) ctx.stderr.write(`report: ${files.length} failed case(s) written to ${dir}\n`);
}
