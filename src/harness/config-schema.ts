// The dedupe.config.{ts,mts,mjs,js,json} file: how the harness reaches a
// receiver (routes, query, headers, secrets) and how it reads that
// receiver's database (tables, columns, stored ids, answers, jobs, clients,
// warm-up). One zod schema; every error names the key to fix. The built-in
// receiver is described by the same shape (src/harness/mapping-default.ts).
import { z } from "zod";
import { PROVIDER_NAMES, type ProviderName } from "../providers/types.js";

/** What a stored-id or job-key function is given besides the payload. */
export interface DeriveContext {
  provider: ProviderName;
  eventType: string;
  /** The provider's own id for the message, as in the payload. */
  rawId: string;
  /** dedupe-cli's namespaced form, `<provider>:<scope>:<id>`. */
  namespaced: string;
  /** The workspace/scope the provider id is unique within. */
  scope: string;
  url: URL;
}

export interface JobKeyContext extends DeriveContext {
  type: string;
  /** The stored message row's id and client (as text). */
  messageId: string;
  clientId: string;
  storedId: string;
}

export type StoredIdFunction = (payload: unknown, ctx: DeriveContext) => string;
export type JobKeyFunction = (payload: unknown, ctx: JobKeyContext) => string;
export interface ReadAnswer {
  deduped: boolean | null;
  ignored?: boolean;
  messageId?: string | null;
}
export type AnswerFunction = (status: number, body: unknown) => ReadAnswer;

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === "function", `must be a function (${what})`);
const ident = z
  .string()
  .min(1)
  .max(63, "PostgreSQL identifiers are at most 63 bytes")
  .refine((v) => !v.includes("\0"), "must not contain NUL");
/** "table" or "schema.table". */
const tableName = z.string().min(1).regex(/^[^.\0]{1,63}(\.[^.\0]{1,63})?$/, 'a table name, or "schema.table"');
/** A dotted path into the JSON answer ("deduped", "result.duplicate"). */
const jsonPath = z.string().min(1);

const storedIdSchema = z.strictObject({
  /** The messages column holding this provider's stored id (a unique index should back it). */
  column: ident,
  /** bare: the provider's id as is; namespaced: dedupe-cli's `<provider>:<scope>:<id>`; or a function. */
  derive: z.union([z.enum(["bare", "namespaced"]), fn<StoredIdFunction>("(payload, ctx) => string")]).default("bare"),
});

const jobsSchema = z.strictObject({
  /** Job types enqueued at ingest for one new message (jobs enqueued later by other jobs are not listed). */
  types: z.array(z.string().min(1)),
  /**
   * How each job's dedupe key is built: a template over {type} {messageId}
   * {clientId} {storedId} {rawId} {namespaced} {scope}, a function, or
   * "any": key-agnostic (exactly one job per message and type, no key twice).
   */
  key: z.union([z.string().min(1), fn<JobKeyFunction>("(payload, ctx) => string")]).default("any"),
});

const eventSchema = z.strictObject({
  storedId: storedIdSchema.optional(),
  jobs: jobsSchema.optional(),
});

const providerSchema = z.strictObject({
  /** The app's path for this provider's webhooks ("/api/hooks/bison"). */
  route: z.string().startsWith("/", "must be a path starting with /").optional(),
  storedId: storedIdSchema.optional(),
  jobs: jobsSchema.optional(),
  /** Per event type ("LEAD_REPLIED"): overrides of storedId and jobs. */
  events: z.record(z.string(), eventSchema).optional(),
  /** How a fixture's client is found in the clients table: a column matched with the payload's workspace id, or SQL returning the id ($1 = that value). */
  client: z.union([z.strictObject({ column: ident }), z.strictObject({ sql: z.string().min(1) })]).optional(),
});

export const dedupeConfigSchema = z.strictObject({
  target: z
    .strictObject({
      /** Base URL of the receiver; --target overrides it. */
      baseUrl: z.string().url().optional(),
      /** Added to every delivery's query string. */
      query: z.record(z.string(), z.string()).optional(),
      /** Added to every delivery's headers. */
      headers: z.record(z.string(), z.string()).optional(),
      /** The app's webhook secrets (read them from process.env in a .ts config), used to authenticate deliveries. */
      secrets: z
        .strictObject({
          emailBisonWebhookToken: z.string().min(1).optional(),
          unipileWebhookSecret: z.string().min(1).optional(),
          instantlyWebhookSecret: z.string().min(1).optional(),
          smartleadWebhookSecret: z.string().min(1).optional(),
        })
        .optional(),
    })
    .optional(),
  schema: z.strictObject({
    messages: z.strictObject({
      table: tableName,
      id: ident,
      leadId: ident,
      /** Absent: the message reaches its client through its lead. */
      clientId: ident.optional(),
    }),
    leads: z.strictObject({
      table: tableName,
      id: ident,
      clientId: ident,
      /** Lead identity columns by kind: email, phone, ghlContactId, linkedinId. */
      identity: z.strictObject({ email: ident.optional(), phone: ident.optional(), ghlContactId: ident.optional(), linkedinId: ident.optional() }).optional(),
    }),
    clients: z.strictObject({ table: tableName, id: ident }),
    /** Rows a job derives from one message (an AI draft): at most one per new message is explained. */
    drafts: z.strictObject({ table: tableName, messageId: ident }).optional(),
    jobs: z
      .strictObject({
        table: tableName,
        id: ident,
        type: ident,
        messageId: ident,
        dedupeKey: ident.optional(),
        status: ident.optional(),
        attempts: ident.optional(),
        lastError: ident.optional(),
        /** When the job is due, and who holds it: compared before and after a duplicate (the row version, xmin, always is). */
        runAt: ident.optional(),
        lockedBy: ident.optional(),
        /** The app's status values (compared as text). */
        statusValues: z
          .strictObject({
            pending: z.array(z.string()).default(["PENDING"]),
            running: z.array(z.string()).default(["RUNNING"]),
            succeeded: z.array(z.string()).default(["SUCCEEDED"]),
            failed: z.array(z.string()).default(["FAILED"]),
          })
          .optional(),
      })
      .optional(),
  }),
  providers: z.partialRecord(z.enum(PROVIDER_NAMES), providerSchema).default({}),
  /**
   * How an answer reads: JSON paths (deduped absent on a 2xx = first
   * delivery, when firstAnswerHasNoDeduped), a function, or "none" (the
   * answer carries nothing: the verdict comes from the database alone).
   */
  answer: z
    .union([
      z.literal("none"),
      fn<AnswerFunction>("(status, body) => { deduped, ignored?, messageId? }"),
      z.strictObject({
        deduped: jsonPath.default("deduped"),
        ignored: jsonPath.optional(),
        messageId: jsonPath.optional(),
        /** A 2xx without the deduped field is a first delivery (deduped: false). */
        missingDedupedMeansCreated: z.boolean().default(false),
      }),
    ])
    .optional(),
  /** none (default for a configured app), or a request to send before each race round; it must write nothing. */
  warmup: z
    .union([
      z.literal("none"),
      z.strictObject({
        query: z.record(z.string(), z.string()).optional(),
        headers: z.record(z.string(), z.string()).optional(),
      }),
    ])
    .default("none"),
  /** Fail (instead of warn) when no unique index backs a stored-id column or job dedupe key. */
  strict: z.boolean().default(false),
});

export type DedupeConfig = z.input<typeof dedupeConfigSchema>;
export type ResolvedConfig = z.output<typeof dedupeConfigSchema>;
export type ProviderConfig = z.output<typeof providerSchema>;
export type JobsConfig = z.output<typeof jobsSchema>;
export type StoredIdConfig = z.output<typeof storedIdSchema>;
