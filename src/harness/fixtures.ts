// Fixture loading for replay/race/tests. A fixture is a captured request body
// (fixtures/<provider>/<event>.json, the provider taken from the nearest
// folder named after one) with optional metadata beside it in
// <event>.meta.json; see fixtures/README.md for the format.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import { formatIssuePath } from "../providers/common.js";
import { parseProviderName } from "../providers/registry.js";
import type { ProviderName } from "../providers/types.js";
import { findJsonError } from "./json-position.js";
import { describeUnsupported, type UnsupportedFile } from "./unsupported.js";

const fixtureMetaSchema = z.looseObject({
  description: z.string().optional(),
  /** Extra query parameters, e.g. { "clientId": "acme" }. */
  query: z.record(z.string(), z.string()).optional(),
  /** Extra headers; they override the ones signing adds (to send a deliberately bad one). */
  headers: z.record(z.string(), z.string()).optional(),
  /** Add provider authentication when replaying (default true). */
  sign: z.boolean().optional(),
  expect: z
    .looseObject({
      /** HTTP status of the first delivery. */
      status: z.number().int().min(100).max(599).optional(),
      /** created: one new Message; ignored: 200 with ignored:true, nothing written; rejected: a 4xx, nothing written. */
      outcome: z.enum(["created", "ignored", "rejected"]).optional(),
      /** BackgroundJobType names the message must have, in any order. */
      jobs: z.array(z.string()).optional(),
    })
    .optional(),
});

export type FixtureMeta = z.infer<typeof fixtureMetaSchema>;

export interface Fixture {
  /** Absolute path of the body file. */
  path: string;
  provider: ProviderName;
  /** The exact bytes to send (signatures are computed over them). */
  rawBody: Buffer;
  body: unknown;
  /** {} when there is no .meta.json. */
  meta: FixtureMeta;
}

/** Files that sit among fixtures but are not request bodies. */
const NOT_FIXTURES = new Set(["clients.json", "package.json", "tsconfig.json"]);

function isFixtureFile(name: string): boolean {
  return name.endsWith(".json") && !name.endsWith(".meta.json") && !NOT_FIXTURES.has(name);
}

/**
 * Loads fixture files and directories (recursively, in sorted order). The
 * provider is `opts.provider` when given, else the nearest enclosing folder
 * named after a provider (aliases like "gohighlevel" count).
 */
export function loadFixtures(paths: string[], opts: { provider?: ProviderName } = {}): Fixture[] {
  return collectFixtureFiles(paths).map((file) => loadFixtureFile(file, opts.provider));
}

/**
 * As loadFixtures, but a file that does not load (not JSON, no provider, bad
 * .meta.json) is returned under `unsupported` with the reason instead of
 * stopping the run. A path that does not exist is still a ConfigError.
 */
export function loadFixturesKeepGoing(paths: string[], opts: { provider?: ProviderName } = {}): { fixtures: Fixture[]; unsupported: UnsupportedFile[] } {
  const fixtures: Fixture[] = [];
  const unsupported: UnsupportedFile[] = [];
  for (const file of collectFixtureFiles(paths)) {
    try {
      fixtures.push(loadFixtureFile(file, opts.provider));
    } catch (error) {
      unsupported.push({ path: file, provider: opts.provider ?? providerFromPath(file), reason: describeUnsupported(error, file) });
    }
  }
  return { fixtures, unsupported };
}

function collectFixtureFiles(paths: string[]): string[] {
  const files: string[] = [];
  for (const given of paths) {
    const abs = path.resolve(given);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(abs);
    } catch {
      throw new ConfigError(`Fixture path ${given} does not exist.`);
    }
    if (stat.isDirectory()) collectFiles(abs, files);
    else files.push(abs);
  }
  if (files.length === 0) throw new ConfigError(`No fixture files (*.json) under ${paths.join(", ")}.`);
  return files;
}

function collectFiles(dir: string, out: string[]) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules" && !entry.name.startsWith(".")) collectFiles(full, out);
    } else if (isFixtureFile(entry.name)) out.push(full);
  }
}

function providerFromPath(file: string): ProviderName | undefined {
  const dirs = path.dirname(file).split(path.sep).reverse();
  for (const dir of dirs) {
    const provider = parseProviderName(dir);
    if (provider) return provider;
  }
  return undefined;
}

function loadFixtureFile(file: string, forced: ProviderName | undefined): Fixture {
  // Checked first: these say what the file is, which "cannot tell the provider" would not.
  if (file.endsWith(".meta.json")) {
    const body = file.replace(/\.meta\.json$/, ".json");
    throw new ConfigError(`${file} is a fixture's metadata sidecar (.meta.json: headers, query, expected status), not a request body.`, {
      hint: `Pass the body it describes instead: ${path.relative(process.cwd(), body) || body} (its .meta.json beside it is read automatically).`,
    });
  }
  const rawBody = fs.readFileSync(file);
  const body = parseJsonFile(rawBody.toString("utf8"), file, "Fixture");
  const provider = forced ?? providerFromPath(file);
  if (!provider) {
    throw new ConfigError(`Cannot tell which provider ${file} is for.`, {
      hint: "Put it in a folder named after the provider (fixtures/ghl/...), or pass --provider.",
    });
  }
  return { path: file, provider, rawBody, body, meta: loadMeta(file) };
}

/** JSON.parse, or a ConfigError naming the file, the line and column, and what was expected there. */
function parseJsonFile(text: string, file: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const at = findJsonError(text);
    const near = at ? text.slice(at.offset, at.offset + 20).split("\n")[0]! : "";
    const where = at
      ? ` at line ${at.line}, column ${at.column}: expected ${at.expected}, found ${near ? JSON.stringify(near) : "the end of the file"}`
      : `: ${(error as Error).message.split("\n")[0]}`;
    throw new ConfigError(`${what} ${file} is not valid JSON${where}.`, {
      hint: "A fixture is one webhook request body as the provider sent it (JSON); see fixtures/README.md.",
    });
  }
}

function loadMeta(file: string): FixtureMeta {
  const metaPath = file.replace(/\.json$/, ".meta.json");
  if (!fs.existsSync(metaPath)) return {};
  const raw = parseJsonFile(fs.readFileSync(metaPath, "utf8"), metaPath, "Fixture metadata");
  const result = fixtureMetaSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`${metaPath}: ${formatIssuePath(issue.path)}: ${issue.message}`, { hint: "See fixtures/README.md for the .meta.json format." });
  }
  return result.data;
}
