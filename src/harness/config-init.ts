// `dedupe-cli init`: a first dedupe.config.ts from the app's Prisma schema,
// read with Prisma's own parser (@prisma/prisma-schema-wasm get_dmmf), not
// regexes. What can be inferred (tables and columns through @map/@@map,
// unique stored-id columns per provider, relations) is written; what cannot
// (routes, how ids are derived, job keys, answers) becomes a TODO.
import { createRequire } from "node:module";
import { ConfigError } from "../errors.js";

interface DmmfField {
  name: string;
  dbName: string | null;
  kind: "scalar" | "object" | "enum" | "unsupported";
  type: string;
  isId: boolean;
  isUnique: boolean;
  relationFromFields?: string[] | null;
}

interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
  /** @@unique([a, b]) groups, by field name. */
  uniqueFields?: string[][];
}

/** Models of a Prisma schema, parsed by Prisma's own schema engine (wasm). */
export function readPrismaModels(schemaText: string, file: string): DmmfModel[] {
  const require = createRequire(import.meta.url);
  const wasm = require("@prisma/prisma-schema-wasm") as { get_dmmf(params: string): string };
  try {
    return (JSON.parse(wasm.get_dmmf(JSON.stringify({ prismaSchema: schemaText }))) as { datamodel: { models: DmmfModel[] } }).datamodel.models;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`${file} is not a valid Prisma schema: ${message.split("\n").slice(0, 3).join(" ")}`, { cause: error });
  }
}

const column = (f: DmmfField) => f.dbName ?? f.name;

/** Scalar columns a unique index covers: @unique ones, then those of @@unique groups (a stored id unique per client, say). */
function listUniqueColumns(m: DmmfModel): DmmfField[] {
  const single = m.fields.filter((f) => f.kind === "scalar" && f.isUnique && !f.isId);
  const grouped = (m.uniqueFields ?? []).flat().map((name) => m.fields.find((f) => f.name === name && f.kind === "scalar" && !f.isId));
  return [...new Set([...single, ...grouped.filter((f): f is DmmfField => f !== undefined)])];
}

/** The other fields of the smallest @@unique group holding `field` (none when it is @unique itself). */
function compoundPartners(m: DmmfModel, field: DmmfField): DmmfField[] {
  if (field.isUnique) return [];
  const group = (m.uniqueFields ?? []).filter((g) => g.includes(field.name)).sort((a, b) => a.length - b.length)[0] ?? [];
  return group.filter((name) => name !== field.name).map((name) => m.fields.find((f) => f.name === name)!).filter(Boolean);
}
const table = (m: DmmfModel) => m.dbName ?? m.name;
const scalar = (m: DmmfModel, test: RegExp) => m.fields.find((f) => f.kind === "scalar" && test.test(f.name));

function pickModel(models: DmmfModel[], test: RegExp, exclude: DmmfModel[] = []): DmmfModel | undefined {
  return models.find((m) => test.test(m.name) && !exclude.includes(m));
}

/** The scalar column holding the foreign key of `from`'s relation to `to`. */
function relationColumn(from: DmmfModel, to: DmmfModel | undefined): string | undefined {
  if (!to) return undefined;
  const relation = from.fields.find((f) => f.kind === "object" && f.type === to.name && f.relationFromFields?.length);
  const fk = relation?.relationFromFields?.[0];
  const field = from.fields.find((f) => f.name === fk);
  return field ? column(field) : undefined;
}

const PROVIDER_HINTS: Record<string, RegExp> = {
  emailbison: /bison|inboxxia/i,
  ghl: /ghl|highlevel/i,
  unipile: /unipile|linkedin/i,
  smartlead: /smartlead/i,
  instantly: /instantly/i,
};

/** The commented dedupe.config.ts text for these models. */
export function renderInitialConfig(models: DmmfModel[], source: string): { text: string; todos: number } {
  // A model named like *Message* first; an app that calls them replies or inbound items, second.
  const messages = pickModel(models, /message/i) ?? pickModel(models, /repl(y|ies)|inbound/i);
  const leads = pickModel(models, /lead|contact|person|prospect/i);
  const clients = pickModel(models, /client|workspace|tenant|account|organi[sz]ation|team/i, [messages, leads].filter(Boolean) as DmmfModel[]);
  const jobs = pickModel(models, /job|task|queue/i);
  let todos = 0;
  const todo = (what: string) => {
    todos++;
    return `// TODO: ${what}`;
  };
  // Inside an object literal a line comment would swallow the rest of the line.
  const q = (v: string | undefined, what: string) => {
    if (v) return JSON.stringify(v);
    todos++;
    return `"TODO" /* TODO: ${what} */`;
  };
  const idOf = (m: DmmfModel | undefined) => (m ? m.fields.find((f) => f.isId) : undefined);
  const lines: string[] = [
    `// dedupe.config.ts, written by \`dedupe-cli init\` from ${source}.`,
    "// Fill in each TODO, then: dedupe-cli config check --database-url <url>",
    'import { defineConfig } from "dedupe-cli/config";',
    "",
    "export default defineConfig({",
    "  target: {",
    `    baseUrl: process.env.APP_URL ?? "http://127.0.0.1:3000", ${todo("where your app listens")}`,
    `    // secrets: { emailBisonWebhookToken: process.env.BISON_TOKEN }, ${todo("the webhook secrets your app checks")}`,
    "  },",
    "  schema: {",
  ];
  if (messages) {
    const clientId = relationColumn(messages, clients);
    lines.push(
      `    messages: { table: ${q(table(messages), "messages table")}, id: ${q(idOf(messages) && column(idOf(messages)!), "message id column")}, leadId: ${q(relationColumn(messages, leads), "the message's lead column")}${clientId ? `, clientId: ${JSON.stringify(clientId)}` : ""} },`,
    );
    if (!clientId) lines.push("    // No client column on messages: the client is reached through the lead.");
  } else lines.push(`    messages: { table: "TODO", id: "id", leadId: "TODO" }, ${todo("no model named like *Message* was found")}`);
  if (leads) {
    const email = scalar(leads, /email/i);
    const phone = scalar(leads, /phone/i);
    const identity = [email && `email: ${JSON.stringify(column(email))}`, phone && `phone: ${JSON.stringify(column(phone))}`].filter(Boolean).join(", ");
    lines.push(
      `    leads: { table: ${JSON.stringify(table(leads))}, id: ${q(idOf(leads) && column(idOf(leads)!), "lead id column")}, clientId: ${q(relationColumn(leads, clients), "the lead's client column")}${identity ? `, identity: { ${identity} }` : ""} },`,
    );
  } else lines.push(`    leads: { table: "TODO", id: "id", clientId: "TODO" }, ${todo("no model named like *Lead*/*Contact* was found")}`);
  lines.push(clients ? `    clients: { table: ${JSON.stringify(table(clients))}, id: ${q(idOf(clients) && column(idOf(clients)!), "client id column")} },` : `    clients: { table: "TODO", id: "id" }, ${todo("no client/workspace model was found")}`);
  if (jobs) {
    const field = (test: RegExp) => {
      const f = scalar(jobs, test);
      return f ? JSON.stringify(column(f)) : undefined;
    };
    const parts = [
      `table: ${JSON.stringify(table(jobs))}`,
      `id: ${JSON.stringify(column(idOf(jobs) ?? jobs.fields[0]!))}`,
      `type: ${field(/^(type|kind|name)$/i) ?? q(undefined, "job type column")}`,
      `messageId: ${relationColumn(jobs, messages) ? JSON.stringify(relationColumn(jobs, messages)) : (field(/message/i) ?? q(undefined, "job's message column"))}`,
      field(/key/i) && `dedupeKey: ${field(/key/i)}`,
      field(/status|state/i) && `status: ${field(/status|state/i)}`,
      field(/attempt|tries|retr/i) && `attempts: ${field(/attempt|tries|retr/i)}`,
    ].filter(Boolean);
    lines.push(`    jobs: { ${parts.join(", ")} },`);
    lines.push(`    ${todo("if your status values are not PENDING/RUNNING/SUCCEEDED/FAILED, add statusValues: { pending: [...], ... }")}`);
  }
  lines.push("  },", "  providers: {");
  const uniqueColumns = messages ? listUniqueColumns(messages) : [];
  const clientColumns = clients?.fields.filter((f) => f.kind === "scalar" && f.isUnique && !f.isId) ?? [];
  for (const [provider, hint] of Object.entries(PROVIDER_HINTS)) {
    const stored = uniqueColumns.find((f) => hint.test(f.name));
    if (!stored) continue;
    const client = clientColumns.find((f) => hint.test(f.name));
    const scope = messages ? compoundPartners(messages, stored) : [];
    lines.push(
      `    ${provider}: {`,
      `      route: "/api/webhooks/${provider}", ${todo("your app's path for these webhooks")}`,
      ...(scope.length > 0 ? [`      // unique together with ${scope.map(column).join(", ")} (@@unique): one row per id within that scope`] : []),
      `      storedId: { column: ${JSON.stringify(column(stored))}, derive: "bare" }, ${todo('"bare", "namespaced" or (payload, ctx) => string: how your app builds this id')}`,
      `      // jobs: { types: ["TODO"], key: "any" }, ${todo("job types enqueued at ingest, and their key template (or \"any\")")}`,
      client ? `      client: { column: ${JSON.stringify(column(client))} },` : `      // client: { column: "TODO" }, ${todo("the client column holding this provider's workspace id")}`,
      "    },",
    );
  }
  if (!uniqueColumns.some((f) => Object.values(PROVIDER_HINTS).some((h) => h.test(f.name)))) {
    lines.push(`    ${todo(`map each provider's stored-id column; unique columns on messages: ${uniqueColumns.map(column).join(", ") || "none"}`)}`);
  }
  lines.push(
    "  },",
    `  answer: { deduped: "deduped", missingDedupedMeansCreated: true }, ${todo('how your answers say "duplicate" (or answer: "none")')}`,
    '  warmup: "none",',
    "});",
    "",
  );
  return { text: lines.join("\n"), todos };
}
