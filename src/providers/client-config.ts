// The shape of a client's configuration as people write it (fixtures/clients.json,
// `dedupe-cli clients add` flags): our slug plus each provider's workspace id
// and shared secret. Validated with zod before anything touches the database.
import fs from "node:fs";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import { formatIssuePath } from "./common.js";

const optionalId = z.string().trim().min(1).optional();

export const clientConfigSchema = z.strictObject({
  slug: z
    .string()
    .trim()
    .regex(/^[a-z0-9][a-z0-9-_]{0,62}$/i, "letters, digits, - and _ only (max 63), starting with a letter or digit"),
  name: z.string().trim().min(1).optional(),
  ghlLocationId: optionalId,
  emailBisonInstanceUrl: z.string().trim().optional(),
  emailBisonWorkspaceId: z.union([z.string().trim().min(1), z.number().int().nonnegative()]).transform(String).optional(),
  unipileAccountId: optionalId,
  instantlyWorkspaceId: optionalId,
  smartleadClientId: optionalId,
  emailBisonWebhookToken: optionalId,
  smartleadWebhookSecret: optionalId,
  unipileWebhookSecret: optionalId,
  instantlyWebhookSecret: optionalId,
  ghlWorkflowSecret: optionalId,
});

export type ClientConfig = z.infer<typeof clientConfigSchema>;

const clientsFileSchema = z.object({
  $comment: z.string().optional(),
  clients: z.array(clientConfigSchema).min(1),
});

export interface ClientsConfig {
  clients: ClientConfig[];
}

/** Reads and validates a clients file ({ "clients": [ ... ] }, or a bare array). Errors name the file and field. */
export function loadClientsConfig(path: string): ClientsConfig {
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`Cannot read clients file ${path}: ${(error as Error).message}`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const result = clientsFileSchema.safeParse(Array.isArray(raw) ? { clients: raw } : raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`${path}: ${formatIssuePath(issue.path)}: ${issue.message}`, {
      hint: 'Expected { "clients": [ { "slug": "acme", "ghlLocationId": "...", ... } ] } (see fixtures/clients.json).',
    });
  }
  const slugs = new Set<string>();
  for (const client of result.data.clients) {
    if (slugs.has(client.slug)) throw new ConfigError(`${path}: slug ${JSON.stringify(client.slug)} appears twice`);
    slugs.add(client.slug);
  }
  return { clients: result.data.clients };
}
