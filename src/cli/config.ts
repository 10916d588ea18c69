// dedupe-cli config check: loads a dedupe.config, checks its schema mapping
// against the database (tables, columns, unique indexes) and prints the
// resolved mapping. Sends nothing and writes nothing.
import type { Command } from "commander";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import type { MappingCheck } from "../harness/mapping-check.js";
import type { ReceiverMapping } from "../harness/mapping.js";
import { PROVIDER_NAMES } from "../providers/types.js";
import { useColor, type CliContext } from "./context.js";
import { loadReceiverMapping } from "./harness-common.js";
import { addDatabaseOptions, databaseOptionsSchema, openDatabaseSession, parseOptions } from "./options.js";

const checkSchema = databaseOptionsSchema.extend({
  config: z.string().min(1).optional(),
  strict: z.boolean().default(false),
  json: z.boolean().default(false),
});

export function register(program: Command, ctx: CliContext): Command {
  const config = program.command("config").description("work with dedupe.config files (the mapping of your app's schema, ids, answers and jobs)");
  const check = config
    .command("check")
    .description(
      "Validate a dedupe.config against its database without sending anything: every mapped table and column " +
        "exists, and a unique index backs each stored-id column and job dedupe key. Prints the resolved mapping.",
    )
    .option("--config <file>", "the config file (default: dedupe.config.{ts,mts,mjs,js,json} in the current directory)")
    .option("--strict", "exit 2 when a unique index is missing (default: warn)", false)
    .option("-j, --json", "print the result as one JSON object", false)
    .addHelpText(
      "after",
      `
Exit codes: 0 the mapping matches the database, 2 it does not (each problem names its config key).

Examples:
  $ dedupe-cli config check --database-url "$DATABASE_URL"
  $ dedupe-cli config check --config examples/foreign-app/dedupe.config.ts --json`,
    );
  addDatabaseOptions(check).action(async (raw) => {
    const opts = parseOptions(checkSchema, raw);
    const mapping = await loadReceiverMapping(opts);
    const session = await openDatabaseSession(ctx, { databaseUrl: opts.databaseUrl, fresh: opts.fresh, poolSize: 2, foreignSchema: !mapping.conventions });
    const { checkMapping } = await import("../harness/mapping-check.js");
    const result = await checkMapping(session.db, mapping);
    const ok = result.errors.length === 0 && !(opts.strict && result.warnings.length > 0);
    if (opts.json) ctx.stdout.write(`${JSON.stringify({ ok, file: mapping.file ?? null, ...result, providers: describeProviders(mapping) }, null, 2)}\n`);
    else ctx.stdout.write(await renderCheck(mapping, result, useColor(ctx)));
    if (!ok) {
      throw new ConfigError(`${mapping.file ?? "the default config"}: ${[...result.errors, ...(opts.strict ? result.warnings : [])].join("; ")}`, {
        hint: "Fix each named config key (or add the missing unique index to your app), then run config check again.",
      });
    }
  });
  return config;
}

/** Per provider: route, where its stored id lives and how it is derived, the jobs expected at ingest. */
function describeProviders(mapping: ReceiverMapping) {
  return PROVIDER_NAMES.flatMap((provider) => {
    const p = mapping.config.providers[provider];
    if (!p) return [];
    const derive = p.storedId ? (typeof p.storedId.derive === "function" ? "function" : p.storedId.derive) : "dedupe-cli default";
    const jobs = p.jobs ? `${p.jobs.types.join(", ")} (${typeof p.jobs.key === "function" ? "key function" : p.jobs.key === "any" ? "key-agnostic" : p.jobs.key})` : "not judged";
    return [{ provider, route: mapping.routeFor(provider), storedId: p.storedId ? `${p.storedId.column} (${derive})` : "dedupe-cli default", jobs }];
  });
}

async function renderCheck(mapping: ReceiverMapping, check: MappingCheck, color: boolean): Promise<string> {
  const { default: Table } = await import("cli-table3");
  const style = { head: color ? ["cyan"] : [], border: color ? ["grey"] : [] };
  // Two columns so that 80 terminal columns hold a whole config key and table.column.
  const compact = { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" };
  const columns = new Table({ head: ["config key", "table.column: check"], style, chars: compact, wordWrap: true, wrapOnWordBoundary: false, colWidths: [40, 37] });
  for (const c of check.columns) {
    const found = c.found !== "ok" ? c.found.toUpperCase() : c.unique ? (c.index ? `ok, unique ${c.index.replace(/ \(.*\)$/, "")}` : "ok, NO UNIQUE INDEX") : "ok";
    columns.push([c.key, `${c.table}.${c.column}: ${found}`]);
  }
  const providers = new Table({ head: ["provider", "route", "stored id", "jobs at ingest"], style, chars: compact, wordWrap: true, wrapOnWordBoundary: false, colWidths: [12, 18, 17, 28] });
  for (const p of describeProviders(mapping)) providers.push([p.provider, p.route, p.storedId, p.jobs]);
  const a = mapping.config.answer;
  const answer =
    typeof a === "function"
      ? "a function"
      : a === "none"
        ? "none (judged from the database alone)"
        : a
          ? `deduped at ${a.deduped}${a.missingDedupedMeansCreated ? " (absent: created)" : ""}${a.messageId ? `, row id at ${a.messageId}` : ""}`
          : "dedupe-cli's { deduped, messageId }";
  const lines = [
    `config: ${mapping.file ?? "(none: dedupe-cli's own schema)"}`,
    columns.toString(),
    providers.toString(),
    `answer: ${answer}`,
    `warm-up: ${mapping.config.warmup === "none" ? "none" : JSON.stringify(mapping.config.warmup)}`,
    ...check.errors.map((e) => `error: ${e}`),
    ...check.warnings.map((w) => `warning: ${w}`),
    check.errors.length === 0 ? "mapping matches the database" : `${check.errors.length} problem(s)`,
  ];
  return `${lines.join("\n")}\n`;
}
