// Small pieces every provider adapter shares: zod parsing that names the
// offending field, tolerant scalars for ids and timestamps, and the ?clientId=
// override.
import { createHash } from "node:crypto";
import { z } from "zod";
import type { ClientRef } from "./types.js";
import { PayloadValidationError } from "./errors.js";

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

/** Provider ids arrive as numbers (EmailBison) or strings; both are stored as text. */
export const idSchema = z.union([z.number().int().nonnegative(), z.string().trim().min(1, "must not be empty")]).transform(String);

/** A string a provider may send as null or leave out. */
export const optionalText = z.string().nullish();

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
  return value ? value : undefined;
}

export function slugRef(value: string): ClientRef {
  return { by: "slug", value };
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
