// Small pieces every provider adapter shares: zod parsing that names the
// offending field, tolerant scalars for ids and timestamps, the ?clientId=
// override, and building a plan (and the core's ingest input from one).
import { createHash } from "node:crypto";
import { z } from "zod";
import type { IngestInput } from "../core/ingest.js";
import { buildStoredUniqueId, type MessageUniqueKey } from "../core/unique-keys.js";
import { PROVIDER_ENUM, type ClientRef, type DeliveryPlan, type ProviderName } from "./types.js";
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

/** A string with no NUL in it (ids, emails, workspace ids, secrets). */
export const plainText = z.string().refine((value) => !value.includes(NUL), NUL_MESSAGE);

/** Provider ids arrive as numbers (EmailBison) or strings; both are stored as text. */
export const idSchema = z.union([z.number().int().nonnegative(), plainText.trim().min(1, "must not be empty")]).transform(String);

/** An identifier-like string a provider may send as null or leave out (a NUL in it is a 400). */
export const optionalText = plainText.nullish();

/** Message text a provider may send as null or leave out: body, subject, a person's name (NULs dropped). */
export const freeText = z
  .string()
  .transform((value) => (value.includes(NUL) ? value.replaceAll(NUL, "") : value))
  .nullish();

/** An ISO (or otherwise Date-parseable) timestamp; invalid strings are a 400, absent ones fall back. */
export const optionalDate = z
  .string()
  .nullish()
  .refine((v) => v === null || v === undefined || v.trim() === "" || !Number.isNaN(Date.parse(v)), "not a valid date");

/** First present, parseable date; else the time of receipt (payloads without any timestamp). */
export function pickDate(...candidates: Array<string | null | undefined>): Date {
  for (const candidate of candidates) {
    if (candidate && candidate.trim() !== "") {
      // EmailBison's "2024-08-02 02:08:00" style has no zone; treat as UTC so planning is machine-independent.
      const normalised = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(candidate) ? `${candidate.replace(" ", "T")}Z` : candidate;
      const date = new Date(normalised);
      if (!Number.isNaN(date.getTime())) return date;
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
  if (value?.includes(NUL)) throw new PayloadValidationError("clientId", NUL_MESSAGE);
  return value ? value : undefined;
}

export function slugRef(value: string): ClientRef {
  return { by: "slug", value };
}

/**
 * Client and scope for a payload that names its workspace (`workspaceScope`,
 * undefined when absent): ?clientId= picks the client when present, and
 * stands in as the scope when the payload names none. `field` is what a 400
 * names when neither is there.
 */
export function resolveWorkspaceClient(url: URL | null, field: string, workspaceScope: string | null | undefined, workspaceRef: () => ClientRef): { client: ClientRef; scope: string } {
  const clientId = url ? readClientIdParam(url) : undefined;
  const scope = workspaceScope || clientId;
  if (!scope) throw new PayloadValidationError(field, "required (or put ?clientId= on the webhook URL)");
  return { client: clientId ? slugRef(clientId) : workspaceRef(), scope: sanitiseScope(scope) };
}

/** A message plan whose stored id is namespaced by provider and scope (see core/unique-keys.ts). */
export function buildMessagePlan(
  provider: ProviderName,
  id: { key: MessageUniqueKey; rawId: string; scope: string; derivedFrom?: readonly string[] },
  fields: Omit<MessagePlan, "kind" | "provider" | "unique">,
): MessagePlan {
  const unique = { ...id, value: buildStoredUniqueId(PROVIDER_ENUM[provider], id.scope, id.rawId) };
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
