// Finding and loading dedupe.config.*: TypeScript through jiti (a maintained
// loader, as Nuxt and others use), JSON parsed directly. Every failure is a
// ConfigError (exit 2, nothing sent) naming the file and the key to fix.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../errors.js";
import { formatIssuePath } from "../providers/common.js";
import { dedupeConfigSchema, type ResolvedConfig } from "./config-schema.js";

export const CONFIG_FILE_NAMES = ["dedupe.config.ts", "dedupe.config.mts", "dedupe.config.mjs", "dedupe.config.js", "dedupe.config.json"] as const;

export interface LoadedConfig {
  file: string;
  config: ResolvedConfig;
}

/** --config <file> if given (it must exist), else the first dedupe.config.* in `cwd`, else undefined. */
export function findConfigFile(cwd: string, explicit?: string): string | undefined {
  if (explicit) {
    const abs = path.resolve(cwd, explicit);
    if (!fs.statSync(abs, { throwIfNoEntry: false })?.isFile()) {
      throw new ConfigError(`--config: ${explicit} is not a file.`, { hint: `Give the path of a ${CONFIG_FILE_NAMES.join(" / ")} file (dedupe-cli init writes one).` });
    }
    return abs;
  }
  for (const name of CONFIG_FILE_NAMES) {
    const candidate = path.join(cwd, name);
    if (fs.statSync(candidate, { throwIfNoEntry: false })?.isFile()) return candidate;
  }
  return undefined;
}

/** The module the config's `import { defineConfig } from "dedupe-cli/config"` resolves to, wherever dedupe-cli is installed (or run with npx). */
const DEFINE_CONFIG_MODULE = fileURLToPath(new URL("./define-config.js", import.meta.url));

export async function loadConfigFile(file: string): Promise<LoadedConfig> {
  const raw = await importConfig(file);
  return { file, config: parseConfig(raw, file) };
}

async function importConfig(file: string): Promise<unknown> {
  if (file.endsWith(".json")) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (error) {
      throw new ConfigError(`Cannot read config ${file}: ${(error as Error).message}`, { cause: error });
    }
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`Config ${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
  }
  const { createJiti } = await import("jiti");
  const jiti = createJiti(import.meta.url, { alias: { "dedupe-cli/config": DEFINE_CONFIG_MODULE }, moduleCache: false, fsCache: false });
  try {
    return await jiti.import(file, { default: true });
  } catch (error) {
    throw new ConfigError(`Cannot load config ${file}: ${(error as Error).message.split("\n")[0]}`, {
      cause: error,
      hint: "Fix the file so it runs (a syntax error, a missing import or a throw at the top level), then run `dedupe-cli config check`.",
    });
  }
}

/** Validates a config object; the first issue becomes a ConfigError naming its key. */
export function parseConfig(raw: unknown, file: string): ResolvedConfig {
  const result = dedupeConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const key = issue.path.length > 0 ? formatIssuePath(issue.path) : "(the exported object)";
  throw new ConfigError(`${path.basename(file)}: config key ${key}: ${issue.message}`, {
    hint: `Fix ${key} in ${file} (export default defineConfig({ ... }) from "dedupe-cli/config"; see README "Verify your own app").`,
  });
}

/** A user function (stored id, job key, answer) that throws is the config's fault, named by key. */
export function callConfigFunction<T>(key: string, run: () => T): T {
  let value: T;
  try {
    value = run();
  } catch (error) {
    throw new ConfigError(`config key ${key}: the function threw: ${(error as Error)?.message ?? String(error)}`, {
      cause: error,
      hint: `Fix the function at ${key} in your dedupe.config file.`,
    });
  }
  return value;
}
