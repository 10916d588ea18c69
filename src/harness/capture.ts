// Recording live deliveries as fixtures (dedupe-cli capture). Each POST is
// written as <out>/<provider>/<event>[-<n>].json holding the body bytes
// exactly as received (signatures cover those bytes, and re-serialising would
// change key order, whitespace and escapes), plus a <same>.meta.json sidecar
// in the format loadFixtures (src/harness/fixtures.ts) reads (fixtures/README.md):
//
//   {
//     "description": "Captured POST /api/webhooks/email at <ISO time>.",
//     "query":   { "clientId": "acme" },               // what replay appends
//     "headers": { "content-type": "application/json" }, // what replay sends
//     "expect":  { "status": 400, "outcome": "rejected" }, // only when no plan
//     "capture": { "capturedAt", "method", "path", "provider", "providerFrom",
//                  "event", "bytes", "sha256",
//                  "redacted": { "headers": [...], "query": [...] },
//                  "bodySecrets": ["secret_key"] }
//   }
//
// Redaction DROPS secret values and lists only their names under
// capture.redacted. A marker value would be harmful: replay lets a fixture's
// own headers/query win over the ones signing adds, so "[redacted]" would be
// sent as the secret and fail authentication. Dropped, replay re-signs with
// the configured client's secret (or the TEST GHL keys). Secrets inside the
// body (SmartLead secret_key) cannot be removed without changing the bytes;
// they are kept, named in capture.bodySecrets, and a warning is printed.
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { startNodeServer, type NodeServer } from "../http/node-server.js";
import { BodyTooLargeError, DEFAULT_BODY_LIMIT, readBodyWithLimit, respondError } from "../providers/http.js";
import { planDeliveryFor } from "../providers/registry.js";
import type { DeliveryPlan, ProviderName } from "../providers/types.js";
import { eventNameFor, isObject, providerFromBody, providerFromRequestPath } from "./capture-detect.js";

export interface CaptureServerOptions {
  /** Folder the fixtures go to (created if missing). */
  outDir: string;
  host?: string;
  port: number;
  /** Every delivery is this provider (else: path, then body shape). */
  provider?: ProviderName;
  /** Stop after this many captures (`done` resolves). */
  max?: number;
  /** Bytes; larger bodies get 413 (default 1 MiB, as serve). */
  bodyLimit?: number;
  onCapture?: (record: CaptureRecord) => void;
  /** Human-readable warnings (unknown provider, secrets in the body); never contain secret values. */
  onWarning?: (line: string) => void;
}

export interface CaptureRecord {
  /** Body file, relative to outDir with "/" separators (what the response names). */
  file: string;
  meta: string;
  provider: ProviderName | "unknown";
  providerFrom: "flag" | "path" | "body" | "none";
  event: string;
  bytes: number;
  redacted: { headers: string[]; query: string[] };
  bodySecrets: string[];
}

export interface CaptureServer {
  url: string;
  port: number;
  /** Deliveries written so far. */
  captured(): number;
  inFlight(): number;
  /** Resolves once `max` deliveries are written (never without `max`). */
  done: Promise<void>;
  close(graceMs?: number): Promise<void>;
}

/** Headers whose values authenticate a delivery, named by every provider in src/providers (auth.ts, sign.ts). */
const SECRET_HEADERS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-ghl-signature",
  "x-wh-signature",
  "unipile-auth",
  "x-unipile-auth",
  "x-instantly-secret",
  "x-smartlead-secret",
]);
/** Anything else that looks like a credential is treated as one: a leaked secret costs more than a lost header. */
const SECRET_NAME = /secret|signature|token|auth|passw|api[-_]?key|credential|session/i;
const SECRET_QUERY = new Set(["token", "key", "sig", "secret"]);
/** Transport headers: they describe this connection, not the delivery, and would break a replay (host, length). */
const TRANSPORT_HEADERS = new Set([
  "host",
  "content-length",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "expect",
  "proxy-connection",
  "accept-encoding",
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-forwarded-port",
  "x-real-ip",
]);

function isSecretHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return SECRET_HEADERS.has(lower) || SECRET_NAME.test(lower);
}

function isSecretQueryParam(name: string): boolean {
  return SECRET_QUERY.has(name.toLowerCase()) || SECRET_NAME.test(name);
}

/** "InboundMessage" → "inbound_message", "LEAD_REPLIED" → "lead_replied": the style of fixtures/. */
function fixtureBaseName(event: string): string {
  const name = event
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    // No dots: "x.meta" would make x.meta.json, which loaders take for a sidecar.
    .replace(/[^a-z0-9_-]+/g, "_")
    .replace(/^[_-]+|[_-]+$/g, "")
    .slice(0, 80);
  // The loaders skip these names (they are configuration, not deliveries).
  if (["clients", "package", "tsconfig"].includes(name)) return `event_${name}`;
  return name || "event";
}

interface ReceivedDelivery {
  url: URL;
  method: string;
  headers: Headers;
  rawBody: Buffer;
}

interface Written {
  file: string;
  meta: string;
}

/**
 * Claims <dir>/<base>[-n]<ext> with an exclusive create, so neither an
 * existing fixture nor a concurrent capture of the same event is overwritten.
 * Names whose sidecar already exists are skipped too (an orphan sidecar would
 * otherwise be paired with the wrong body).
 */
async function writeUnique(dir: string, base: string, ext: string, rawBody: Buffer, meta: () => string, nextIndex: NextIndex): Promise<Written> {
  await fs.mkdir(dir, { recursive: true });
  // Probing names one by one from 1 made the 3,000th capture of an event
  // 20x slower than the first: each server remembers where a name's series
  // ends, after one directory listing per name.
  const key = path.join(dir, `${base}${ext}`);
  let n = nextIndex.get(key) ?? (await findNextIndex(dir, base, ext));
  for (n = Math.max(n, nextIndex.get(key) ?? 1); ; n++) {
    // Claimed before any await, so concurrent captures of one event try different names.
    nextIndex.set(key, Math.max(nextIndex.get(key) ?? 1, n + 1));
    const name = n === 1 ? base : `${base}-${n}`;
    const bodyPath = path.join(dir, `${name}${ext}`);
    const metaPath = path.join(dir, `${name}.meta.json`);
    if (await exists(metaPath)) continue;
    try {
      await fs.writeFile(bodyPath, rawBody, { flag: "wx" });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") continue;
      throw error;
    }
    await fs.writeFile(metaPath, meta(), { flag: "wx" });
    return { file: bodyPath, meta: metaPath };
  }
}

/** Per capture server: <dir>/<base><ext> → the first index not known to be taken. */
type NextIndex = Map<string, number>;

/** One past the highest <base>[-n] already in `dir` (as a body or a sidecar), or 1. */
async function findNextIndex(dir: string, base: string, ext: string): Promise<number> {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`^${escape(base)}(?:-(\\d+))?(?:${escape(ext)}|\\.meta\\.json)$`);
  let highest = 0;
  for (const entry of await fs.readdir(dir)) {
    const match = pattern.exec(entry);
    if (match) highest = Math.max(highest, match[1] ? Number(match[1]) : 1);
  }
  return highest + 1;
}

const exists = (file: string) =>
  fs.access(file).then(
    () => true,
    () => false,
  );

const BODY_SECRET_NAME = /secret|passw|api[-_]?key|^token$/i;

/** Top-level body fields that carry a credential (SmartLead's secret_key); names only. */
function findBodySecrets(body: unknown): string[] {
  if (!isObject(body)) return [];
  return Object.keys(body).filter((key) => BODY_SECRET_NAME.test(key) && typeof body[key] === "string" && body[key] !== "");
}

interface SplitParts {
  headers: Record<string, string>;
  query: Record<string, string>;
  redacted: { headers: string[]; query: string[] };
}

function splitRequest(delivery: ReceivedDelivery): SplitParts {
  const headers: Record<string, string> = {};
  const query: Record<string, string> = {};
  const redacted = { headers: [] as string[], query: [] as string[] };
  delivery.headers.forEach((value, name) => {
    if (TRANSPORT_HEADERS.has(name)) return;
    if (isSecretHeader(name)) redacted.headers.push(name);
    else headers[name] = value;
  });
  for (const [name, value] of delivery.url.searchParams) {
    if (isSecretQueryParam(name)) {
      if (!redacted.query.includes(name)) redacted.query.push(name);
    } else query[name] = value;
  }
  return { headers, query, redacted };
}

async function captureDelivery(options: CaptureServerOptions, delivery: ReceivedDelivery, nextIndex: NextIndex): Promise<CaptureRecord> {
  let body: unknown;
  let json = true;
  try {
    body = JSON.parse(delivery.rawBody.toString("utf8"));
  } catch {
    json = false;
  }
  let provider: ProviderName | undefined = options.provider;
  let providerFrom: CaptureRecord["providerFrom"] = provider ? "flag" : "none";
  if (!provider && (provider = providerFromRequestPath(delivery.url.pathname))) providerFrom = "path";
  if (!provider && json && (provider = providerFromBody(body, delivery.url))) providerFrom = "body";

  let plan: DeliveryPlan | undefined;
  let planError: string | undefined;
  if (provider && json) {
    try {
      plan = planDeliveryFor(provider, body, delivery.url);
    } catch (error) {
      planError = (error as Error).message;
    }
  }
  const event = json ? eventNameFor(provider, body, plan) : "not-json";
  const parts = splitRequest(delivery);
  const bodySecrets = json ? findBodySecrets(body) : [];
  const capturedAt = new Date().toISOString();
  const folder = provider ?? "unknown";
  const dir = path.join(options.outDir, folder);

  const sidecar = () => {
    const meta: Record<string, unknown> = { description: `Captured ${delivery.method} ${delivery.url.pathname} at ${capturedAt}.` };
    if (Object.keys(parts.query).length > 0) meta.query = parts.query;
    meta.headers = parts.headers;
    // No plan means the receiver answers 400 (bad schema); saying so lets replay check that instead of refusing the fixture.
    if (provider && json && planError !== undefined) meta.expect = { status: 400, outcome: "rejected" };
    meta.capture = {
      capturedAt,
      method: delivery.method,
      path: delivery.url.pathname,
      provider: folder,
      providerFrom,
      event,
      ...(planError !== undefined ? { planError } : {}),
      bytes: delivery.rawBody.length,
      sha256: createHash("sha256").update(delivery.rawBody).digest("hex"),
      redacted: parts.redacted,
      ...(bodySecrets.length > 0 ? { bodySecrets } : {}),
    };
    return `${JSON.stringify(meta, null, 2)}\n`;
  };
  // Non-JSON bodies are kept for inspection but not as *.json, which every loader would choke on.
  const written = await writeUnique(dir, json ? fixtureBaseName(event) : "not-json", json ? ".json" : ".body", delivery.rawBody, sidecar, nextIndex);
  const rel = (file: string) => path.relative(options.outDir, file).split(path.sep).join("/");
  const record: CaptureRecord = {
    file: rel(written.file),
    meta: rel(written.meta),
    provider: folder,
    providerFrom,
    event,
    bytes: delivery.rawBody.length,
    redacted: parts.redacted,
    bodySecrets,
  };
  const warn = options.onWarning ?? (() => undefined);
  if (!provider) warn(`warning: ${record.file}: cannot tell the provider from the path or body; replay it with --provider <name> after moving it into a folder named after its provider.`);
  if (!json) warn(`warning: ${record.file}: body is not valid JSON; kept as is, not as a fixture.`);
  if (bodySecrets.length > 0) {
    warn(`warning: ${record.file}: the body carries ${bodySecrets.join(", ")} (kept: the bytes must stay exact); treat the file as a secret.`);
  }
  return record;
}

/**
 * Retry-After on the 503 past --max, as serve's 503 while the database is
 * down (src/providers/http.ts keeps that constant private, and its
 * respondUnavailable() names the database, which would mislead here).
 */
const LIMIT_RETRY_AFTER_SECONDS = 5;

/** Starts the receiver. Rejects when the port cannot be bound. */
export async function startCaptureServer(options: CaptureServerOptions): Promise<CaptureServer> {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const max = options.max;
  let captured = 0;
  // Deliveries accepted for writing; counted before the write so concurrent ones cannot overshoot --max.
  let reserved = 0;
  let markDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (markDone = resolve));
  await fs.mkdir(options.outDir, { recursive: true });

  const nextIndex: NextIndex = new Map();
  const handler = async (request: Request): Promise<Response> => {
    // node-server builds the URL from the Host header, which the client controls.
    const url = URL.canParse(request.url) ? new URL(request.url) : undefined;
    if (!url) return respondError(400, "request URL or Host header is not a valid URL");
    if (request.method !== "POST") {
      await request.arrayBuffer().catch(() => undefined);
      return respondError(405, "use POST", { headers: { allow: "POST" } });
    }
    let rawBody: Buffer;
    try {
      rawBody = await readBodyWithLimit(request, bodyLimit);
    } catch (error) {
      if (error instanceof BodyTooLargeError) return respondError(413, error.message);
      return respondError(400, "could not read the request body");
    }
    if (max !== undefined && reserved >= max) {
      return respondError(503, `capture limit (${max}) reached`, { headers: { "retry-after": String(LIMIT_RETRY_AFTER_SECONDS) } });
    }
    reserved++;
    let record: CaptureRecord;
    try {
      record = await captureDelivery(options, { url, method: request.method, headers: request.headers, rawBody }, nextIndex);
    } catch (error) {
      reserved--;
      throw error;
    }
    captured++;
    options.onCapture?.(record);
    if (max !== undefined && captured >= max) markDone();
    return Response.json({ success: true, captured: record.file }, { status: 200 });
  };

  const server: NodeServer = await startNodeServer({
    handler,
    host: options.host ?? "127.0.0.1",
    port: options.port,
    bodyLimit,
    onError: (error) => options.onWarning?.(`capture failed: ${(error as Error)?.message ?? error}`),
  });
  return {
    url: server.url,
    port: server.port,
    captured: () => captured,
    inFlight: () => server.inFlight(),
    done,
    close: (graceMs) => server.close(graceMs),
  };
}
