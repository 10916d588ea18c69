// dedupe-cli clients: create and configure the clients (workspaces) that
// deliveries resolve to, with their provider ids and shared secrets.
import type { Command } from "commander";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import { clientConfigSchema, loadClientsConfig, type ClientConfig } from "../providers/client-config.js";
import { listClients, upsertClient, upsertClients } from "../providers/client-store.js";
import { whereSlugOrId } from "../providers/clients.js";
import { importGhlHistory, readGhlHistoryFile } from "../providers/ghl/history.js";
import { outputWidth, type CliContext } from "./context.js";
import { renderTextTable } from "./table.js";
import { addDatabaseOptions, databaseOptionsSchema, openDatabaseSession, parseOptions } from "./options.js";

const addSchema = databaseOptionsSchema.extend({
  slug: z.string(),
  name: z.string().optional(),
  ghlLocationId: z.string().optional(),
  emailbisonInstanceUrl: z.string().optional(),
  emailbisonWorkspaceId: z.string().optional(),
  emailbisonToken: z.string().optional(),
  unipileAccountId: z.string().optional(),
  unipileSecret: z.string().optional(),
  instantlyWorkspaceId: z.string().optional(),
  instantlySecret: z.string().optional(),
  smartleadClientId: z.string().optional(),
  smartleadSecret: z.string().optional(),
  ghlWorkflowSecret: z.string().optional(),
  json: z.boolean().default(false),
});

/** The `clients add` flag behind each config field, so a validation error names a flag that exists. */
const ADD_FLAG_FOR: Record<keyof ClientConfig, string> = {
  slug: "--slug",
  name: "--name",
  ghlLocationId: "--ghl-location-id",
  emailBisonInstanceUrl: "--emailbison-instance-url",
  emailBisonWorkspaceId: "--emailbison-workspace-id",
  emailBisonWebhookToken: "--emailbison-token",
  unipileAccountId: "--unipile-account-id",
  unipileWebhookSecret: "--unipile-secret",
  instantlyWorkspaceId: "--instantly-workspace-id",
  instantlyWebhookSecret: "--instantly-secret",
  smartleadClientId: "--smartlead-client-id",
  smartleadWebhookSecret: "--smartlead-secret",
  ghlWorkflowSecret: "--ghl-workflow-secret",
};

const CLIENTS_HELP = `
Examples:
  $ dedupe-cli clients load fixtures/clients.json
  $ dedupe-cli clients add --slug acme --ghl-location-id l1C08ntBrFjLS0elLIYU \\
      --emailbison-workspace-id 1 --emailbison-token "$(openssl rand -hex 16)"
  $ dedupe-cli clients list --json
  $ dedupe-cli clients import-ghl acme history.json

Each provider id identifies one client. Secrets are stored as given and never printed
(list shows only whether each is set). Loading and adding upsert by slug: running the same
load twice, or two at once, leaves one row per slug; flags you leave out keep their value.`;

export function register(program: Command, ctx: CliContext): Command {
  const clients = program.command("clients").description("create, configure and list clients (workspaces) and their webhook secrets").addHelpText("after", CLIENTS_HELP);
  const jsonSchema = databaseOptionsSchema.extend({ json: z.boolean().default(false) });

  addDatabaseOptions(clients.command("add"))
    .addHelpText("after", `
Examples:
  $ dedupe-cli clients add --slug acme --ghl-location-id l1C08ntBrFjLS0elLIYU
  $ dedupe-cli clients add --slug acme --emailbison-workspace-id 1 \\
      --emailbison-token "$(openssl rand -hex 16)" --database-url "$DATABASE_URL"`)
    .description("create a client, or update the given fields of an existing one (by slug)")
    .requiredOption("--slug <slug>", "our handle for the client, usable as ?clientId= on webhook URLs")
    .option("--name <name>", "display name (default: the slug)")
    .option("--ghl-location-id <id>", "GHL sub-account (locationId)")
    .option("--ghl-workflow-secret <secret>", "secret a GHL workflow Webhook action sends (?secret= or X-Webhook-Secret)")
    .option("--emailbison-instance-url <url>", "EmailBison instance, e.g. https://dedi.emailbison.com (empty: any)")
    .option("--emailbison-workspace-id <id>", "EmailBison workspace_id")
    .option("--emailbison-token <token>", "secret expected as ?token= on the EmailBison webhook URL")
    .option("--unipile-account-id <id>", "Unipile account_id")
    .option("--unipile-secret <secret>", "secret expected in the Unipile-Auth header")
    .option("--instantly-workspace-id <uuid>", "Instantly workspace")
    .option("--instantly-secret <secret>", "secret expected in the X-Instantly-Secret header")
    .option("--smartlead-client-id <id>", "SmartLead client id")
    .option("--smartlead-secret <secret>", "SmartLead webhook secret_key")
    .option("-j, --json", "print the result as JSON", false)
    .action(async (raw) => {
      const opts = parseOptions(addSchema, raw);
      const parsed = clientConfigSchema.safeParse({
        slug: opts.slug,
        name: opts.name,
        ghlLocationId: opts.ghlLocationId,
        emailBisonInstanceUrl: opts.emailbisonInstanceUrl,
        emailBisonWorkspaceId: opts.emailbisonWorkspaceId,
        emailBisonWebhookToken: opts.emailbisonToken,
        unipileAccountId: opts.unipileAccountId,
        unipileWebhookSecret: opts.unipileSecret,
        instantlyWorkspaceId: opts.instantlyWorkspaceId,
        instantlyWebhookSecret: opts.instantlySecret,
        smartleadClientId: opts.smartleadClientId,
        smartleadWebhookSecret: opts.smartleadSecret,
        ghlWorkflowSecret: opts.ghlWorkflowSecret,
      });
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new ConfigError(`${ADD_FLAG_FOR[issue.path[0] as keyof ClientConfig] ?? "--slug"}: ${issue.message}`);
      }
      const { db } = await openDatabaseSession(ctx, { databaseUrl: opts.databaseUrl, fresh: opts.fresh, poolSize: 2, quiet: opts.json });
      const result = await upsertClient(db.prisma, parsed.data);
      ctx.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : `${result.created ? "created" : "updated"} ${result.slug} (${result.id})\n`);
    });

  addDatabaseOptions(clients.command("load"))
    .addHelpText("after", `
Examples:
  $ dedupe-cli clients load fixtures/clients.json          # the TEST clients the fixtures name
  $ dedupe-cli clients load clients.json --database-url "$DATABASE_URL"`)
    .description("upsert every client in a JSON file ({ \"clients\": [...] }, see fixtures/clients.json)")
    .argument("<file>", "clients file")
    .option("-j, --json", "print the result as JSON", false)
    .action(async (file: string, raw) => {
      const opts = parseOptions(jsonSchema, raw);
      const config = loadClientsConfig(file);
      const { db } = await openDatabaseSession(ctx, { databaseUrl: opts.databaseUrl, fresh: opts.fresh, poolSize: 2, quiet: opts.json });
      const results = await upsertClients(db.prisma, config.clients);
      if (opts.json) ctx.stdout.write(`${JSON.stringify(results)}\n`);
      else for (const r of results) ctx.stdout.write(`${r.created ? "created" : "updated"} ${r.slug} (${r.id})\n`);
    });

  addDatabaseOptions(clients.command("list"))
    .addHelpText("after", `
Examples:
  $ dedupe-cli clients list
  $ dedupe-cli clients list --json | jq '.[].slug'`)
    .description("list clients, their provider ids and which secrets are set")
    .option("-j, --json", "print JSON", false)
    .action(async (raw) => {
      const opts = parseOptions(jsonSchema, raw);
      const { db } = await openDatabaseSession(ctx, { databaseUrl: opts.databaseUrl, fresh: opts.fresh, poolSize: 2, quiet: opts.json });
      const rows = await listClients(db.prisma);
      if (opts.json) return void ctx.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      if (rows.length === 0) return void ctx.stdout.write("no clients yet: dedupe-cli clients add --slug <slug> ... (see --help)\n");
      const table: string[][] = [];
      for (const r of rows) {
        const secrets = Object.entries(r.secrets).filter(([, set]) => set).map(([k]) => k.replace(/(Webhook)?(Token|Secret)$/, ""));
        table.push([r.slug, r.ghlLocationId ?? "", r.emailBisonWorkspaceId ? `${r.emailBisonWorkspaceId}${r.emailBisonInstanceUrl ? ` @ ${r.emailBisonInstanceUrl}` : ""}` : "", r.unipileAccountId ?? "", r.instantlyWorkspaceId ?? "", secrets.join(", ")]);
      }
      const head = ["slug", "ghl location", "emailbison ws", "unipile account", "instantly ws", "secrets set"];
      ctx.stdout.write(`${renderTextTable({ head, rows: table, width: outputWidth(ctx) })}\n`);
    });

  addDatabaseOptions(clients.command("import-ghl"))
    .addHelpText("after", `
Examples:
  $ dedupe-cli clients import-ghl acme history.json       # a JSON array of GHL messages
  $ dedupe-cli clients import-ghl acme export.json --database-url "$DATABASE_URL"`)
    .description("import past GHL SMS messages for a client, each deduplicated by its GHL message id (safe to rerun, or run twice at once)")
    .argument("<slug>", "client slug or id")
    .argument("<file>", "JSON array of GHL messages (webhook bodies or the conversations API's message objects), or { \"messages\": [...] }")
    .option("-j, --json", "print the result as JSON", false)
    .action(async (slug: string, file: string, raw) => {
      const opts = parseOptions(jsonSchema, raw);
      const messages = readGhlHistoryFile(file);
      const { db } = await openDatabaseSession(ctx, { databaseUrl: opts.databaseUrl, fresh: opts.fresh, poolSize: 10, quiet: opts.json });
      const client = await db.prisma.client.findFirst({ where: whereSlugOrId(slug), select: { id: true } });
      if (!client) throw new ConfigError(`No client ${JSON.stringify(slug)}.`, { hint: "dedupe-cli clients list shows the slugs." });
      const result = await importGhlHistory(db.prisma, client.id, messages);
      ctx.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : `imported ${result.created} new, ${result.deduped} already present, ${result.skipped} skipped (not SMS)\n`);
    });

  return clients;
}
