// Finding fixtures on disk: <provider>/<event>.json files holding a bare
// request body, searched recursively, with an optional <event>.meta.json
// sidecar (headers, query, expected status). The provider is --provider or
// the fixture's parent folder name; the event is whatever the body says.
import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { ConfigError, UsageError } from "../errors.js";
import { parseProviderName } from "../providers/registry.js";
import type { ProviderName } from "../providers/types.js";

export interface FixtureMeta {
  headers?: Record<string, string>;
  query?: Record<string, string>;
  /** The status a correct receiver answers (default 200). */
  status?: number;
}

export interface HarnessFixture {
  path: string;
  provider: ProviderName;
  rawBody: Buffer;
  body: unknown;
  meta: FixtureMeta;
}

const statusSchema = z.number().int().min(100).max(599);
const metaSchema = z.looseObject({
  headers: z.record(z.string(), z.string()).optional(),
  query: z.record(z.string(), z.string()).optional(),
  expect: z.looseObject({ status: statusSchema.optional() }).optional(),
  status: statusSchema.optional(),
});

/** Files that live beside fixtures but are not deliveries. */
function isFixtureFile(name: string): boolean {
  return name.endsWith(".json") && !name.endsWith(".meta.json") && name !== "clients.json" && name !== "package.json";
}

async function collect(target: string, out: string[]): Promise<void> {
  const stat = await fs.stat(target).catch(() => undefined);
  if (!stat) throw new UsageError(`${target}: no such file or directory`);
  if (stat.isFile()) {
    out.push(path.resolve(target));
    return;
  }
  const entries = await fs.readdir(target, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const full = path.join(target, entry.name);
    // Key material and node_modules are never fixtures.
    if (entry.isDirectory() && entry.name !== "keys" && entry.name !== "node_modules" && !entry.name.startsWith(".")) await collect(full, out);
    else if (entry.isFile() && isFixtureFile(entry.name)) out.push(path.resolve(full));
  }
}

/** Checks paths exist without reading them (cheap, before any database work). */
export async function checkFixturePaths(paths: readonly string[]): Promise<void> {
  for (const p of paths) if (!(await fs.stat(p).catch(() => undefined))) throw new UsageError(`${p}: no such file or directory`);
}

export async function loadHarnessFixtures(paths: readonly string[], provider?: ProviderName): Promise<HarnessFixture[]> {
  const files: string[] = [];
  for (const p of paths) await collect(p, files);
  const fixtures: HarnessFixture[] = [];
  for (const file of [...new Set(files)]) {
    const folder = path.basename(path.dirname(file));
    const resolved = provider ?? parseProviderName(folder);
    if (!resolved) {
      throw new ConfigError(`${file}: cannot tell the provider from the folder name ${JSON.stringify(folder)}.`, { hint: "Pass --provider, or put the fixture in a folder named after its provider (emailbison, ghl, unipile, smartlead, instantly)." });
    }
    const rawBody = await fs.readFile(file);
    let body: unknown;
    try {
      body = JSON.parse(rawBody.toString("utf8"));
    } catch (error) {
      throw new ConfigError(`${file} is not valid JSON: ${(error as Error).message}`);
    }
    fixtures.push({ path: file, provider: resolved, rawBody, body, meta: await readMeta(file) });
  }
  return fixtures;
}

async function readMeta(file: string): Promise<FixtureMeta> {
  const metaPath = file.replace(/\.json$/, ".meta.json");
  const text = await fs.readFile(metaPath, "utf8").catch(() => undefined);
  if (text === undefined) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${metaPath} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = metaSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${metaPath}: ${parsed.error.issues[0]!.path.join(".")}: ${parsed.error.issues[0]!.message}`);
  return { headers: parsed.data.headers, query: parsed.data.query, status: parsed.data.expect?.status ?? parsed.data.status };
}
