// Small pieces every provider adapter shares: zod parsing that names the
// offending field, tolerant scalars for ids and timestamps, the ?clientId=
// override, and building a plan (and the core's ingest input from one).
import { createHash } from "node:crypto";
import { z } from "zod";
import type { IngestInput } from "../core/ingest.js";
import { buildStoredUniqueId, type MessageUniqueKey } from "../core/unique-keys.js";
import { PROVIDER_ENUM, type ClientRef, type DeliveryPlan, type ProviderName, type WorkspaceRef } from "./types.js";
import { PayloadValidationError } from "./errors.js";

export type MessagePlan = DeliveryPlan & { kind: "message" };

/** Parses with `schema`; the first issue becomes a PayloadValidationError naming its path (e.g. data.reply.id). */
export function parsePayload<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new PayloadValidationError(formatIssuePath(issue.path), issue.message);
}

export function formatIssuePath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "body";
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
}

// PostgreSQL text cannot hold U+0000 (error 22021, which would be a 500).
// Identifiers, addresses and secrets containing one are refused with a 400
// naming the field: altering them would key, route or authenticate the
// delivery as something it is not. Free text (bodies, subjects, names) has
// its NULs dropped instead, so one stray byte in a mail does not lose the
// message; every retry drops the same bytes, so dedupe keys stay stable.
const NUL = "\u0000";
const NUL_MESSAGE = "must not contain a NUL character (\\u0000)";

// Identifiers are keys of btree indexes (stored ids, lead keys), whose
// entries PostgreSQL caps at ~2.7 KB: a longer incompressible value is an
// error (54000, a 500 that providers would retry forever). Real ids are
// far shorter; two capped parts of a stored id (scope + id) stay under it.
export const MAX_IDENTIFIER_BYTES = 1024;
const TOO_LONG_MESSAGE = `must be at most ${MAX_IDENTIFIER_BYTES} bytes (UTF-8)`;

// A lone UTF-16 surrogate (JSON allows "\ud800") has no UTF-8 form: it is
// written as U+FFFD, so two ids differing only there would be stored as one
// and the second message silently "deduped". Identifiers with one are refused.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const SURROGATE_MESSAGE = "must not contain a lone UTF-16 surrogate (it cannot be stored as UTF-8)";

/** Why `value` cannot be an identifier, or undefined when it can (also for ?clientId=). */
function findIdentifierProblem(value: string): string | undefined {
  if (value.includes(NUL)) return NUL_MESSAGE;
  if (LONE_SURROGATE.test(value)) return SURROGATE_MESSAGE;
  // UTF-8 is at most 3 bytes per UTF-16 unit: only long strings need counting.
  if (value.length * 3 > MAX_IDENTIFIER_BYTES && Buffer.byteLength(value, "utf8") > MAX_IDENTIFIER_BYTES) return TOO_LONG_MESSAGE;
  return undefined;
}

/** A string PostgreSQL stores exactly and can index (ids, emails, workspace ids, secrets). */
export const plainText = z.string().superRefine((value, ctx) => {
  const problem = findIdentifierProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** Provider ids arrive as numbers (EmailBison) or strings; both are stored as text. */
export const idSchema = z.union([z.number().int().nonnegative(), plainText.trim().min(1, "must not be empty")]).transform(String);

/** An identifier-like string a provider may send as null or leave out (a NUL in it is a 400). */
export const optionalText = plainText.nullish();

/** Message text a provider may send as null or leave out: body, subject, a person's name (NULs dropped). */
export const freeText = z
  .string()
  .transform((value) => (value.includes(NUL) ? value.replaceAll(NUL, "") : value))
  .nullish();

/**
 * A provider timestamp as a Date, or undefined when it is not one we can
 * store. Date.parse accepts years PostgreSQL's timestamp(3) rejects (0,
 * negative, past 9999: 22008, a 500), so only years 1-9999 (UTC) pass.
 */
function parseProviderDate(value: string): Date | undefined {
  // EmailBison's "2024-08-02 02:08:00" style has no zone; treat as UTC so planning is machine-independent.
  const normalised = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(value) ? `${value.replace(" ", "T")}Z` : value;
  const date = new Date(normalised);
  const year = date.getUTCFullYear();
  return Number.isNaN(date.getTime()) || year < 1 || year > 9999 ? undefined : date;
}

/** An ISO (or otherwise Date-parseable) timestamp; invalid strings are a 400, absent ones fall back. */
export const optionalDate = z
  .string()
  .nullish()
  .refine((v) => v === null || v === undefined || v.trim() === "" || parseProviderDate(v) !== undefined, "not a valid date (years 1-9999)");

/** First present, parseable date; else the time of receipt (payloads without any timestamp). */
export function pickDate(...candidates: Array<string | null | undefined>): Date {
  for (const candidate of candidates) {
    if (candidate && candidate.trim() !== "") {
      const date = parseProviderDate(candidate);
      if (date) return date;
    }
  }
  return new Date();
}

export function firstText(...candidates: Array<string | null | undefined>): string | null {
  for (const candidate of candidates) if (typeof candidate === "string" && candidate.trim() !== "") return candidate;
  return null;
}

/** `?clientId=<slug or uuid>`: accepted on every provider route and preferred over payload workspace ids. */
export function readClientIdParam(url: URL): string | undefined {
  const value = url.searchParams.get("clientId")?.trim();
  const problem = value ? findIdentifierProblem(value) : undefined;
  if (problem) throw new PayloadValidationError("clientId", problem);
  return value ? value : undefined;
}

export function slugRef(value: string): ClientRef {
  return { by: "slug", value };
}

/**
 * Client and scope for a payload that names its workspace (`workspaceScope`,
 * undefined when absent): ?clientId= picks the client when present, and
 * stands in as the scope when the payload names none. `field` is what a 400
 * names when neither is there. With both, the slug ref carries the payload's
 * workspace as `claims`: the router refuses the delivery unless the client
 * owns it, or one tenant could squat another's ids under its own secret.
 */
export function resolveWorkspaceClient(url: URL | null, field: string, workspaceScope: string | null | undefined, workspaceRef: () => WorkspaceRef): { client: ClientRef; scope: string } {
  const clientId = url ? readClientIdParam(url) : undefined;
  const scope = workspaceScope || clientId;
  if (!scope) throw new PayloadValidationError(field, "required (or put ?clientId= on the webhook URL)");
  if (!clientId) return { client: workspaceRef(), scope: sanitiseScope(scope) };
  return { client: workspaceScope ? { by: "slug", value: clientId, claims: workspaceRef() } : slugRef(clientId), scope: sanitiseScope(scope) };
}

/** A message plan whose stored id is namespaced by provider and scope (see core/unique-keys.ts). */
export function buildMessagePlan(
  provider: ProviderName,
  id: { key: MessageUniqueKey; rawId: string; scope: string; derivedFrom?: readonly string[] },
  fields: Omit<MessagePlan, "kind" | "provider" | "unique">,
): MessagePlan {
  const unique = { ...id, value: buildStoredUniqueId(PROVIDER_ENUM[provider], id.scope, id.rawId) };
  // Each part is capped by its schema; this catches what lower-casing or
  // joining could still push past the index limit, before PostgreSQL does.
  if (Buffer.byteLength(unique.value, "utf8") > 2 * MAX_IDENTIFIER_BYTES + 64) throw new PayloadValidationError("id", "the id and its workspace together are too long to index");
  if (Buffer.byteLength(fields.lead.value, "utf8") > MAX_IDENTIFIER_BYTES) throw new PayloadValidationError(`lead.${fields.lead.key}`, TOO_LONG_MESSAGE);
  return { kind: "message", provider, unique, ...fields };
}

/** What the core ingests for a planned message of `clientId` (the router, the history import and test receivers all use this). */
export function toIngestInput(plan: MessagePlan, clientId: string): IngestInput {
  return {
    clientId,
    provider: PROVIDER_ENUM[plan.provider],
    channel: plan.channel,
    direction: plan.direction,
    subject: plan.subject,
    body: plan.body,
    sentAt: plan.sentAt,
    unique: { key: plan.unique.key, value: plan.unique.value },
    lead: plan.lead,
    eventType: plan.eventType,
    jobTypes: plan.jobTypes,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** Namespace scopes are joined with ':' in stored ids, so a scope must not contain one. */
export function sanitiseScope(scope: string): string {
  return scope.trim().replace(/:/g, "_");
}

export function sha256Hex(input: string | Buffer): string {
  return createHash("sha256").update(input).digest("hex");
}

/** "Kim Unipile" → { firstName: "Kim", lastName: "Unipile" }. */
export function splitName(full: string | null | undefined): { firstName: string | null; lastName: string | null } {
  const parts = (full ?? "").trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return { firstName: null, lastName: null };
  return { firstName: parts[0]!, lastName: parts.length > 1 ? parts.slice(1).join(" ") : null };
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}
