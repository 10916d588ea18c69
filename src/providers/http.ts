// HTTP plumbing for the Fetch handlers: a body reader with a real streaming
// cap, content-type checks and the JSON answers every route shares.
import { createJsonResponse, findPrereadBody } from "../http/fetch-objects.js";
import type { AcceptedResponse } from "./types.js";

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** Seconds a provider should wait before retrying while the database is down. */
const RETRY_AFTER_SECONDS = 5;

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`body is larger than ${limit} bytes`);
  }
}

/**
 * Reads the whole body, stopping as soon as it passes `limit` bytes (a
 * pre-read body is returned as is, after the same check).
 * Content-Length is only a shortcut for an early 413: a chunked body or a
 * lying header is still cut off by the count of bytes actually read.
 */
export async function readBodyWithLimit(request: Request, limit: number): Promise<Buffer> {
  const preread = findPrereadBody(request);
  if (preread) {
    if (preread.length > limit) throw new BodyTooLargeError(limit);
    return preread;
  }
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError(limit);
  if (!request.body) return Buffer.alloc(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLargeError(limit);
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? Buffer.from(chunks[0]!.buffer, chunks[0]!.byteOffset, chunks[0]!.byteLength) : Buffer.concat(chunks, total);
}

/** application/json or any application/*+json, parameters (charset) allowed. */
export function isJsonContentType(value: string | null): boolean {
  if (!value) return false;
  const media = value.split(";")[0]!.trim().toLowerCase();
  return media === "application/json" || (media.startsWith("application/") && media.endsWith("+json"));
}

export function respondAccepted(body: AcceptedResponse): Response {
  return createJsonResponse(body, 200);
}

export function respondError(status: number, error: string, extra: { field?: string; headers?: Record<string, string> } = {}): Response {
  const payload: { success: false; error: string; field?: string } = { success: false, error };
  if (extra.field) payload.field = extra.field;
  return createJsonResponse(payload, status, extra.headers);
}

export function respondUnavailable(): Response {
  return respondError(503, "database unavailable; retry later", { headers: { "retry-after": String(RETRY_AFTER_SECONDS) } });
}
