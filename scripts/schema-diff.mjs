#!/usr/bin/env node
// Prints the SQL that takes a database (or nothing) to prisma/schema.prisma.
//
// The Prisma CLI's `migrate diff` needs the native schema-engine binary, which
// cannot be downloaded everywhere; @prisma/schema-engine-wasm computes the same
// script in-process, talking to PostgreSQL through the pg driver adapter.
//
//   node scripts/schema-diff.mjs --from-empty [--schema <file>]
//   node scripts/schema-diff.mjs --from-url <postgres url> [--exit-code] [--schema <file>]
//
// Exit codes: 0 in sync (or no --exit-code), 2 drift (with --exit-code), 1 error.
// --experimental-wasm-modules is accepted but not needed (see loadSchemaEngine).
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum } from "@prisma/driver-adapter-utils";
import pg from "pg";

const DEFAULT_SCHEMA_PATH = fileURLToPath(new URL("../prisma/schema.prisma", import.meta.url));

// Added by hand in migrations (init, job_hot_updates): Prisma cannot express
// partial indexes, so the engine must not be allowed to call them drift.
const HAND_WRITTEN_INDEXES = ["BackgroundJob_pending_runAt_id_idx", "BackgroundJob_running_lockedBy_idx", "BackgroundJob_failed_type_idx"];

const EMPTY_MIGRATION = "-- This is an empty migration.\n";
const NO_FILTER = { externalTables: [], externalEnums: [] };
const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

// wasm-bindgen keeps the instance in module state, and instantiating twice in
// one process breaks it; the cache lives on globalThis so that test runners
// that re-evaluate this file per test file still share one instance.
const ENGINE_CACHE = Symbol.for("dedupe-cli.schema-engine-wasm");

/**
 * Loads the engine the way Prisma's own CLI does (instantiating the .wasm by
 * hand) rather than through the package's `import "./x.wasm"` entry point,
 * which only works under --experimental-wasm-modules on Node 20 and not at
 * all inside vitest's module runner.
 */
function loadSchemaEngine() {
  globalThis[ENGINE_CACHE] ??= (async () => {
    const require = createRequire(import.meta.url);
    const gluePath = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
    const glue = await import("@prisma/schema-engine-wasm/schema_engine_bg");
    const bytes = await readFile(path.join(path.dirname(gluePath), "schema_engine_bg.wasm"));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
      "./schema_engine_bg.js": glue,
    });
    glue.__wbg_set_wasm(instance.exports);
    instance.exports.__wbindgen_start();
    return glue.SchemaEngine;
  })().catch((error) => {
    delete globalThis[ENGINE_CACHE];
    throw error;
  });
  return globalThis[ENGINE_CACHE];
}

/**
 * @prisma/adapter-pg 7.x rejects columns of PostgreSQL's internal "char" type
 * (it dropped them from its type map), yet the engine's catalog queries return
 * some (pg_constraint.contype, confdeltype, ...). Reporting them as text is
 * enough for the engine and only affects this private pool.
 */
class CharAsTextClient extends pg.Client {
  query(...args) {
    const relabel = (result) => {
      for (const r of Array.isArray(result) ? result : [result]) {
        for (const field of r?.fields ?? []) {
          if (field.dataTypeID === PG_CHAR_OID) field.dataTypeID = PG_TEXT_OID;
        }
      }
      return result;
    };
    const callback = args.at(-1);
    if (typeof callback === "function") {
      args[args.length - 1] = (error, result) => callback(error, error ? result : relabel(result));
      return super.query(...args);
    }
    const returned = super.query(...args);
    return typeof returned?.then === "function" ? returned.then(relabel) : returned;
  }
}

// Only an exact DROP of a known hand-written index is forgiven, so any other
// index drift still fails the check.
function withoutHandWrittenIndexes(sql) {
  const names = HAND_WRITTEN_INDEXES.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const dropStep = new RegExp(`^-- DropIndex\\nDROP INDEX (?:"[^"]+"\\.)?"(?:${names.join("|")})";$`);
  const steps = sql.replace(/\n+$/, "").split(/\n\n+/);
  const kept = steps.filter((step) => !dropStep.test(step));
  if (kept.length === steps.length) return sql;
  return hasChanges(kept.join("\n")) ? `${kept.join("\n\n")}\n` : EMPTY_MIGRATION;
}

/** True when the script contains at least one statement (not just comments). */
export function hasChanges(sql) {
  return sql.split("\n").some((line) => line.trim() !== "" && !line.trim().startsWith("--"));
}

/**
 * The SQL migration from `from` to the Prisma schema, exactly as the engine
 * renders it for `prisma migrate diff --script` (newline-terminated). When the
 * two agree this is "-- This is an empty migration.\n"; test with hasChanges().
 *
 * @param {{ from: "empty" | { url: string }, schemaPath?: string }} options
 * @returns {Promise<string>}
 */
export async function diffSchema({ from, schemaPath = DEFAULT_SCHEMA_PATH }) {
  const absoluteSchemaPath = path.resolve(schemaPath);
  const files = [{ path: absoluteSchemaPath, content: await readFile(absoluteSchemaPath, "utf8") }];

  let pool;
  let fromTarget;
  let factory;
  if (from === "empty") {
    factory = offlineAdapterFactory();
    fromTarget = { tag: "empty" };
  } else if (from && typeof from.url === "string") {
    const { connectionString, schema } = splitSchemaParam(from.url);
    pool = new pg.Pool({ connectionString, Client: CharAsTextClient, max: 2 });
    // Without a listener an idle-client error would crash the process.
    pool.on("error", () => {});
    factory = new PrismaPg(pool, schema ? { schema } : undefined);
    // The wasm engine refuses { tag: "url" }; the live database is the one
    // behind the adapter, selected by "schemaDatasource".
    fromTarget = { tag: "schemaDatasource", files, configDir: path.dirname(absoluteSchemaPath) };
  } else {
    throw new TypeError(`diffSchema: from must be "empty" or { url }, got ${JSON.stringify(from)}`);
  }

  const adapter = bindMigrationAwareSqlAdapterFactory(factory);
  const SchemaEngine = await loadSchemaEngine();
  let engine;
  try {
    engine = await SchemaEngine.new(
      { datamodels: files.map((f) => [f.path, f.content]) },
      (log) => {
        if (process.env.SCHEMA_DIFF_DEBUG) process.stderr.write(`${log}\n`);
      },
      adapter,
    );
    const result = await engine.diff({
      from: fromTarget,
      to: { tag: "schemaDatamodel", files },
      script: true,
      exitCode: true,
      filters: NO_FILTER,
    });
    return withoutHandWrittenIndexes(result.stdout ?? "");
  } catch (error) {
    throw unwrapAdapterError(error, adapter);
  } finally {
    engine?.free();
    await pool?.end();
  }
}

/**
 * Lets --from-empty run with no database. The engine only probes the server
 * version when it starts; every other request means the engine wants a real
 * database after all, and fails loudly rather than diffing against nothing.
 * The version only has to be plausible: the script rendered this way is
 * byte-identical to one computed against a real server.
 */
function offlineAdapterFactory() {
  const refuse = async (what) => {
    throw new Error(`--from-empty needs no database, yet the engine asked for ${what}`);
  };
  const adapter = {
    provider: "postgres",
    adapterName: "schema-diff-offline",
    async queryRaw({ sql }) {
      if (!/^SELECT EXISTS\(SELECT 1 FROM pg_namespace WHERE nspname = \$1\), version\(\)/.test(sql)) {
        return refuse(sql);
      }
      return {
        columnNames: ["exists", "version", "numeric_version"],
        columnTypes: [ColumnTypeEnum.Boolean, ColumnTypeEnum.Text, ColumnTypeEnum.Int32],
        rows: [[true, "PostgreSQL 15.0 (schema-diff offline)", 150000]],
      };
    },
    executeRaw: ({ sql }) => refuse(sql),
    executeScript: (sql) => refuse(sql),
    startTransaction: () => refuse("a transaction"),
    getConnectionInfo: () => ({ schemaName: undefined, supportsRelationJoins: true }),
    dispose: async () => {},
  };
  return {
    provider: "postgres",
    adapterName: adapter.adapterName,
    connect: async () => adapter,
    connectToShadowDb: () => refuse("a shadow database"),
  };
}

/**
 * pg does not understand Prisma's `?schema=` URL parameter; the adapter takes
 * it as an option instead.
 */
function splitSchemaParam(url) {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema") ?? undefined;
  parsed.searchParams.delete("schema");
  return { connectionString: parsed.toString(), schema };
}

/**
 * Errors thrown by the driver (connection refused, unknown database) reach us
 * as an opaque engine error pointing into the adapter's registry; the
 * original pg error says far more.
 */
function unwrapAdapterError(error, adapter) {
  const id = Number(/External error id#(\d+)/.exec(String(error?.message))?.[1]);
  const record = Number.isInteger(id) ? adapter.errorRegistry.consumeError(id) : undefined;
  const original = record?.error;
  if (!original) return error;
  return new Error(`schema-diff: ${original.message ?? String(original)}`, { cause: original });
}

function parseArgs(argv) {
  const options = { from: undefined, schemaPath: undefined, exitCode: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--from-empty") options.from = "empty";
    else if (arg === "--from-url") options.from = { url: requireValue(argv, ++i, arg) };
    else if (arg === "--schema") options.schemaPath = requireValue(argv, ++i, arg);
    else if (arg === "--exit-code") options.exitCode = true;
    else throw new Error(`unknown argument: ${arg}`);
  }
  if (!options.from) throw new Error("one of --from-empty or --from-url <url> is required");
  return options;
}

function requireValue(argv, i, flag) {
  const value = argv[i];
  if (value === undefined || value.startsWith("--")) throw new Error(`${flag} needs a value`);
  return value;
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(
      `schema-diff: ${error.message}\n` +
        "usage: schema-diff.mjs (--from-empty | --from-url <url>) [--exit-code] [--schema <file>]\n",
    );
    return 1;
  }
  const sql = await diffSchema(options);
  process.stdout.write(sql.endsWith("\n") ? sql : `${sql}\n`);
  return options.exitCode && hasChanges(sql) ? 2 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      // The engine's stacks point into wasm and say nothing useful.
      const detail = process.env.SCHEMA_DIFF_DEBUG ? error?.stack : error?.message;
      process.stderr.write(`schema-diff: ${(detail ?? String(error)).replace(/^schema-diff: /, "").trimEnd()}\n`);
      process.exitCode = 1;
    },
  );
}
