// dedupe-cli init: writes a commented dedupe.config.ts from the app's Prisma
// schema (Prisma's own parser), then loads it back to check it is valid.
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { ConfigError, UsageError } from "../errors.js";
import type { CliContext } from "./context.js";
import { parseOptions } from "./options.js";

const optionsSchema = z.object({
  prisma: z.string().min(1).optional(),
  out: z.string().min(1).default("dedupe.config.ts"),
  force: z.boolean().default(false),
});

export function register(program: Command, ctx: CliContext): Command {
  return program
    .command("init")
    .description(
      "Write a commented dedupe.config.ts for your app from its Prisma schema: tables and columns (through @map/@@map), " +
        "unique stored-id columns per provider, relations; a TODO for each thing it cannot infer. Validates the result.",
    )
    .option("--prisma <file>", "the app's Prisma schema (default: the schema prisma.config.ts names, else package.json prisma.schema, else prisma/schema.prisma)")
    .option("--out <file>", "where to write the config", "dedupe.config.ts")
    .option("--force", "overwrite --out if it exists", false)
    .addHelpText(
      "after",
      `
Exit codes: 0 written, 2 no schema, an invalid schema, or --out exists (without --force).

Example:
  $ dedupe-cli init --prisma prisma/schema.prisma && dedupe-cli config check --database-url "$DATABASE_URL"`,
    )
    .action(async (raw) => {
      const opts = parseOptions(optionsSchema, raw);
      const schemaFile = await findPrismaSchema(opts.prisma);
      const out = path.resolve(opts.out);
      if (fs.existsSync(out) && !opts.force) throw new UsageError(`${opts.out} exists.`, { hint: "Pass --force to overwrite it, or --out <file> to write elsewhere." });
      const { readPrismaModels, renderInitialConfig } = await import("../harness/config-init.js");
      const models = readPrismaModels(fs.readFileSync(schemaFile, "utf8"), schemaFile);
      const { text, todos } = renderInitialConfig(models, path.relative(path.dirname(out), schemaFile) || schemaFile);
      fs.writeFileSync(out, text);
      // Loaded back through the same loader as every command: what init writes must be valid.
      const { loadConfigFile } = await import("../harness/config-load.js");
      await loadConfigFile(out);
      ctx.stdout.write(`wrote ${opts.out} from ${path.relative(process.cwd(), schemaFile)} (${models.length} models); ${todos} TODO(s) to fill in\n`);
      ctx.stdout.write(`next: fill in the TODOs, then run dedupe-cli config check --database-url <url>\n`);
    });
}

const PRISMA_CONFIG_FILES = ["prisma.config.ts", "prisma.config.mts", "prisma.config.cts", "prisma.config.js", "prisma.config.mjs", "prisma.config.cjs"];

/** --prisma, else the schema prisma.config.* names, else package.json's prisma.schema, else prisma/schema.prisma. */
async function findPrismaSchema(explicit: string | undefined): Promise<string> {
  if (explicit) {
    if (!fs.statSync(explicit, { throwIfNoEntry: false })?.isFile()) throw new UsageError(`--prisma: ${explicit} is not a file.`);
    return path.resolve(explicit);
  }
  const fromConfig = await readPrismaConfigSchema();
  if (fromConfig) return fromConfig;
  const pkg = path.resolve("package.json");
  if (fs.existsSync(pkg)) {
    const named = (JSON.parse(fs.readFileSync(pkg, "utf8")) as { prisma?: { schema?: string } }).prisma?.schema;
    if (named && fs.existsSync(named)) return path.resolve(named);
  }
  const fallback = path.resolve("prisma", "schema.prisma");
  if (fs.existsSync(fallback)) return fallback;
  throw new ConfigError("No Prisma schema found (prisma.config.* schema, package.json prisma.schema, prisma/schema.prisma).", { hint: "Pass --prisma <file>." });
}

/**
 * The `schema` a prisma.config.* in the working directory names (Prisma 7
 * reads it from there), loaded with jiti as Prisma does. A config that does
 * not load here (it may need env vars or packages of its own) is skipped:
 * the next places are looked at, and --prisma always works.
 */
async function readPrismaConfigSchema(): Promise<string | undefined> {
  const file = PRISMA_CONFIG_FILES.map((name) => path.resolve(name)).find((f) => fs.existsSync(f));
  if (!file) return undefined;
  try {
    const { createJiti } = await import("jiti");
    const jiti = createJiti(import.meta.url, { moduleCache: false, fsCache: false });
    const config = await jiti.import<{ schema?: unknown }>(file, { default: true });
    if (typeof config?.schema !== "string") return undefined;
    const schema = path.resolve(path.dirname(file), config.schema);
    // A folder (multi-file schemas) is not read here: --prisma names one file.
    return fs.statSync(schema, { throwIfNoEntry: false })?.isFile() ? schema : undefined;
  } catch {
    return undefined;
  }
}
