// The boundary between the harness and a receiver's database: everything
// the harness asks (the rows for a stored id, the jobs of these messages,
// the leads for an identity, the client for a fixture, row counts scoped to
// a case, how an answer reads, where a provider's deliveries go) goes
// through one ReceiverMapping built from a resolved config. dedupe-cli's own
// receiver is the default config (mapping-default.ts), not a special case.
import type { DbHandle } from "../db/client.js";
import {
  countMappedJobs,
  countMappedLeads,
  findClientsBySql,
  findMappedClients,
  findMappedMessages,
  listMappedJobs,
  type ReceiverSchema,
} from "../db/verify-mapping-sql.js";
import { deleteMappedJobs, listMappedJobStates, readMappedMessageVersion, listMappedLeadIds, readInSnapshot, type JobState } from "../db/verify-state-sql.js";
import type { JobKeyCount, StoredMessage } from "../db/verify-sql.js";
import type { RunJobRow } from "../db/verify-run-sql.js";
import { ConfigError } from "../errors.js";
import { PROVIDER_ROUTES, type DeliveryPlan, type ProviderName } from "../providers/types.js";
import { callConfigFunction } from "./config-load.js";
import type { DeriveContext, JobsConfig, ResolvedConfig, StoredIdConfig } from "./config-schema.js";
import { readBuiltinAnswer, type AnswerReader, type AnswerReading } from "./response.js";
import type { IdForm } from "./shapes.js";

type MessagePlan = Extract<DeliveryPlan, { kind: "message" }>;

/** One place to look for a case's message: a column and the value the receiver should have stored there. */
export interface StoredIdLookup {
  column: string;
  value: string;
  form: "namespaced" | "raw" | "derived";
}

/** What the receiver must enqueue at ingest for one new message. `keys` undefined: key-agnostic. */
export interface ExpectedJobs {
  types: string[];
  keys?: string[];
  /** Where in the config this came from (named in reports). */
  source: string;
}

/** Row counts scoped to one case (the counts invariants compare before and after). */
export interface CaseScope {
  plan: DeliveryPlan;
  lookups: readonly StoredIdLookup[];
}

export interface ReceiverMapping {
  readonly kind: "builtin" | "configured";
  /** The config file, when one was loaded. */
  readonly file?: string;
  readonly config: ResolvedConfig;
  readonly schema: ReceiverSchema;
  /** Follows dedupe-cli's own conventions where the config says nothing (the built-in receiver and apps on its schema). */
  readonly conventions: boolean;
  readAnswer: AnswerReader;
  /** The answer carries nothing the harness can judge: first/duplicate answers are judged from the database alone. */
  readonly answerless: boolean;
  routeFor(provider: ProviderName): string;
  storedIdLookups(plan: MessagePlan, payload: unknown, url: URL, idForm: IdForm): StoredIdLookup[];
  expectedJobs(plan: MessagePlan, payload: unknown, url: URL, message: StoredMessage, storedId: string): ExpectedJobs | undefined;
  findMessages(db: DbHandle, lookup: StoredIdLookup): Promise<StoredMessage[]>;
  countJobs(db: DbHandle, messageIds: readonly string[]): Promise<JobKeyCount[]>;
  listJobs(db: DbHandle, messageIds: readonly string[]): Promise<RunJobRow[]>;
  /** Leads carrying the plan's lead identity; undefined when the identity's column is not mapped. */
  countLeads(db: DbHandle, plan: MessagePlan): Promise<number | undefined>;
  /** Client ids a configured app's clients table holds for the fixture (column or SQL); undefined when not configured. */
  findClientIds(db: DbHandle, plan: MessagePlan): Promise<string[] | undefined>;
  /** Ids of the client's leads carrying the plan's lead identity; undefined when the identity's column is not mapped. */
  listLeadIds(db: DbHandle, plan: MessagePlan, clientId: string): Promise<string[] | undefined>;
  /** Every job of these messages with status, attempts, run-at, lock holder and row version. */
  listJobStates(db: DbHandle, messageIds: readonly string[]): Promise<JobState[]>;
  /** The message row's xmin (the transaction that wrote it), to tell whether its jobs were committed with it. */
  readMessageVersion(db: DbHandle, messageId: string): Promise<string | undefined>;
  /** Removes these messages' jobs (crash-window step; only messages this run created). */
  deleteJobs(db: DbHandle, messageIds: readonly string[]): Promise<number>;
  /** Runs `read` against one REPEATABLE READ snapshot of the receiver's database. */
  readSnapshot<T>(db: DbHandle, read: (db: DbHandle) => Promise<T>): Promise<T>;
}

/** The payload value a client lookup matches: the provider's workspace id, or the ?clientId= value. */
export function describeClientValue(plan: MessagePlan): string {
  const ref = plan.client;
  return ref.by === "emailBisonWorkspace" ? ref.workspaceId : ref.value;
}

function deriveContext(plan: MessagePlan, url: URL): DeriveContext {
  return { provider: plan.provider, eventType: plan.eventType, rawId: plan.unique.rawId, namespaced: plan.unique.value, scope: plan.unique.scope, url };
}

/** The config that applies to this provider/event (an event override wins). */
function providerEntry<K extends "storedId" | "jobs">(config: ResolvedConfig, plan: MessagePlan, key: K): { value: K extends "storedId" ? StoredIdConfig : JobsConfig; at: string } | undefined {
  const provider = config.providers[plan.provider];
  const event = provider?.events?.[plan.eventType]?.[key];
  if (event) return { value: event as never, at: `providers.${plan.provider}.events.${plan.eventType}.${key}` };
  if (provider?.[key]) return { value: provider[key] as never, at: `providers.${plan.provider}.${key}` };
  return undefined;
}

const TEMPLATE_FIELD = /\{(type|messageId|clientId|storedId|rawId|namespaced|scope)\}/g;

function buildAnswerReader(config: ResolvedConfig): { reader: AnswerReader; answerless: boolean } {
  const answer = config.answer;
  if (answer === undefined) return { reader: readBuiltinAnswer, answerless: false };
  if (answer === "none") return { reader: () => ({ deduped: null, ignored: false, messageId: null, error: null }), answerless: true };
  if (typeof answer === "function") {
    return {
      answerless: false,
      reader: (status, text) => {
        const body = parseJson(text);
        const read = callConfigFunction("answer", () => answer(status, body));
        return { deduped: typeof read?.deduped === "boolean" ? read.deduped : null, ignored: read?.ignored === true, messageId: read?.messageId ?? null, error: null };
      },
    };
  }
  return {
    answerless: false,
    reader: (_status, text): AnswerReading => {
      const body = parseJson(text);
      if (body === undefined) return { deduped: null, ignored: false, messageId: null, error: `2xx body is not JSON: ${text.slice(0, 120)}` };
      const deduped = readPath(body, answer.deduped);
      const ignored = answer.ignored ? readPath(body, answer.ignored) === true : false;
      const id = answer.messageId ? readPath(body, answer.messageId) : undefined;
      const messageId = typeof id === "string" || typeof id === "number" ? String(id) : null;
      if (typeof deduped === "boolean") return { deduped, ignored, messageId, error: null };
      if (deduped === undefined && answer.missingDedupedMeansCreated) return { deduped: false, ignored, messageId, error: null };
      return { deduped: null, ignored, messageId, error: `2xx body has no boolean at answer.deduped (${answer.deduped})` };
    },
  };
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** "a.b.c" into a parsed body. */
function readPath(body: unknown, dotted: string): unknown {
  let current = body;
  for (const part of dotted.split(".")) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** Builds the mapping for a resolved config; `conventions` for dedupe-cli's own schema (the default config). */
export function createReceiverMapping(config: ResolvedConfig, options: { file?: string; conventions: boolean }): ReceiverMapping {
  const schema = config.schema as ReceiverSchema;
  const file = options.file;
  const { reader, answerless } = buildAnswerReader(config);
  return {
    kind: options.conventions ? "builtin" : "configured",
    file: options.file,
    config,
    schema,
    conventions: options.conventions,
    readAnswer: reader,
    answerless,
    routeFor: (provider) => config.providers[provider]?.route ?? PROVIDER_ROUTES[provider],

    storedIdLookups(plan, payload, url, idForm) {
      const configured = providerEntry(config, plan, "storedId");
      if (!configured) {
        // dedupe-cli's conventions: the plan's own column; namespaced, or bare, or whichever exists.
        const namespaced: StoredIdLookup = { column: plan.unique.key, value: plan.unique.value, form: "namespaced" };
        const raw: StoredIdLookup = { column: plan.unique.key, value: plan.unique.rawId, form: "raw" };
        return idForm === "raw" ? [raw] : idForm === "namespaced" ? [namespaced] : [namespaced, raw];
      }
      const { value: stored, at } = configured;
      if (stored.derive === "bare") return [{ column: stored.column, value: plan.unique.rawId, form: "raw" }];
      if (stored.derive === "namespaced") return [{ column: stored.column, value: plan.unique.value, form: "namespaced" }];
      const derive = stored.derive;
      const value = callConfigFunction(`${at}.derive`, () => derive(payload, deriveContext(plan, url)));
      if (typeof value !== "string" || value === "") {
        throw new ConfigError(`config key ${at}.derive: returned ${JSON.stringify(value)}, not a non-empty string`, { hint: `Fix the function at ${at}.derive in ${file ?? "your dedupe.config file"}.` });
      }
      return [{ column: stored.column, value, form: "derived" }];
    },

    expectedJobs(plan, payload, url, message, storedId) {
      const configured = providerEntry(config, plan, "jobs");
      if (!configured) {
        if (!options.conventions) return undefined;
        const keys = plan.jobTypes.map((type) => `${message.clientId}:${message.id}:${type}`);
        return { types: [...plan.jobTypes], keys, source: "dedupe-cli's own jobs (one per type, keyed clientId:messageId:type)" };
      }
      const { value: jobs, at } = configured;
      if (jobs.key === "any") return { types: jobs.types, source: `${at} (key-agnostic)` };
      const ctx = { ...deriveContext(plan, url), messageId: message.id, clientId: message.clientId, storedId };
      const key = jobs.key;
      const keys = jobs.types.map((type) => {
        const full: Record<string, unknown> & typeof ctx & { type: string } = { ...ctx, type };
        return typeof key === "function"
          ? String(callConfigFunction(`${at}.key`, () => key(payload, full)))
          : key.replace(TEMPLATE_FIELD, (_m, field: string) => String(full[field]));
      });
      return { types: jobs.types, keys, source: `${at}.key` };
    },

    findMessages: (db, lookup) => findMappedMessages(db.prisma, schema, lookup.column, lookup.value),
    countJobs: (db, ids) => countMappedJobs(db.prisma, schema, ids),
    listJobs: (db, ids) => listMappedJobs(db.prisma, schema, ids),

    async countLeads(db, plan) {
      const column = schema.leads.identity?.[plan.lead.key];
      return column ? countMappedLeads(db.prisma, schema, column, plan.lead.value) : undefined;
    },

    async listLeadIds(db, plan, clientId) {
      const column = schema.leads.identity?.[plan.lead.key];
      return column ? listMappedLeadIds(db.prisma, schema, column, plan.lead.value, clientId) : undefined;
    },
    listJobStates: (db, ids) => listMappedJobStates(db.prisma, schema, ids),
    readMessageVersion: (db, id) => readMappedMessageVersion(db.prisma, schema, id),
    deleteJobs: (db, ids) => deleteMappedJobs(db.prisma, schema, ids),
    readSnapshot: (db, read) => readInSnapshot(db.prisma, (tx) => read({ ...db, prisma: tx })),

    async findClientIds(db, plan) {
      const client = config.providers[plan.provider]?.client;
      if (!client) return undefined;
      const value = describeClientValue(plan);
      return "column" in client ? findMappedClients(db.prisma, schema, client.column, value) : findClientsBySql(db.prisma, client.sql, value);
    },
  };
}
