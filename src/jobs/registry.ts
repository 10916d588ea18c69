// Which handler runs which job type: the built-ins, overridden by a user's
// --handlers module. Loading validates the module before any database I/O,
// so a typo'd export fails the command with exit 2 and nothing claimed.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../errors.js";
import { BackgroundJobType } from "../generated/prisma/enums.js";
import { BUILTIN_HANDLERS } from "./handlers.js";
import type { JobHandler, JobHandlerMap } from "./types.js";

const JOB_TYPES = new Set<string>(Object.values(BackgroundJobType));

export interface HandlerRegistry {
  /** The handler for a type, or undefined (the job then fails permanently). */
  find(type: string): JobHandler | undefined;
  builtin(type: string): JobHandler | undefined;
}

export function createHandlerRegistry(overrides: JobHandlerMap = {}, options: { builtins?: boolean } = {}): HandlerRegistry {
  const builtins: JobHandlerMap = options.builtins === false ? {} : BUILTIN_HANDLERS;
  const merged: JobHandlerMap = { ...builtins, ...overrides };
  return {
    find: (type) => (Object.hasOwn(merged, type) ? merged[type] : undefined),
    builtin: (type) => (Object.hasOwn(builtins, type) ? builtins[type] : undefined),
  };
}

/**
 * Imports an ES module of handlers: `export default { TYPE: fn }` and/or
 * named exports `export const TYPE = fn` (named exports win). Every
 * BackgroundJobType-named export must be a function, and at least one must
 * exist, or this throws a ConfigError naming the problem.
 */
export async function loadHandlersModule(specifier: string, cwd: string = process.cwd()): Promise<JobHandlerMap> {
  const url = pathToFileURL(path.resolve(cwd, specifier)).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    // Node's import() error for a syntax error carries no line; `node --check` prints it.
    const where = (error as Error)?.name === "SyntaxError" ? locateSyntaxError(path.resolve(cwd, specifier)) : undefined;
    throw new ConfigError(`Could not load --handlers ${specifier}: ${(error as Error).message}${where ? `\n${where}` : ""}`, {
      hint: where ? "Fix the syntax error at the line shown." : "Pass a path to an ES module (.mjs or .js in a \"type\": \"module\" package).",
      cause: error,
    });
  }
  const fromDefault = mod.default && typeof mod.default === "object" ? (mod.default as Record<string, unknown>) : {};
  const candidates: Record<string, unknown> = { ...fromDefault };
  for (const [name, value] of Object.entries(mod)) if (name !== "default") candidates[name] = value;

  const handlers: JobHandlerMap = {};
  for (const [name, value] of Object.entries(candidates)) {
    if (!JOB_TYPES.has(name)) continue;
    if (typeof value !== "function") {
      throw new ConfigError(`--handlers ${specifier}: export ${name} must be a function (job, ctx) => Promise<void>, got ${typeof value}.`);
    }
    handlers[name] = value as JobHandler;
  }
  if (Object.keys(handlers).length === 0) {
    const unknown = Object.keys(candidates).filter((n) => !JOB_TYPES.has(n));
    throw new ConfigError(`--handlers ${specifier} exports no handler for any job type.`, {
      hint: `Export functions named after job types (${[...JOB_TYPES].join(", ")})${unknown.length ? `; found ${unknown.join(", ")}` : ""}.`,
    });
  }
  return handlers;
}

/** "file:line", the offending line and its caret, from `node --check` (a child process: nothing of the module runs). */
function locateSyntaxError(file: string): string | undefined {
  const check = spawnSync(process.execPath, ["--check", file], { encoding: "utf8", timeout: 10_000 });
  const lines = (check.stderr ?? "").split("\n");
  const end = lines.findIndex((l) => /^\w*Error:/.test(l));
  if (check.status === 0 || end <= 0) return undefined;
  return lines.slice(0, end).filter((l) => l.trim() !== "").join("\n");
}
