// The Fetch-API webhook receiver: one handler per provider (the shape of a
// Next.js route handler) and a router over them, plus POST /api/drafts/:id/send.
//
// Order of checks, chosen so a rejected delivery writes nothing and the cheap
// checks run first: method → content type (415) → body size (413) → GHL
// signature over the raw bytes (401) → JSON (400) → schema/plan (400) →
// ignored events are acknowledged here, without touching the database →
// client lookup (404) → shared-secret (GHL: locationId) check against that client (401) →
// the payload's workspace belongs to that client (401) → the single ingest
// statement. Rejection answers say what the caller must fix; which clients
// exist and how they are configured goes to the log only. Any database failure that means "not there"
// is a 503 with Retry-After, never a 500, so providers retry later.
import { checkDatabaseHealth } from "../db/health.js";
import { ingestMessage } from "../core/ingest.js";
import { createDeliveryBatcher, type DeliveryBatcher } from "../db/ingest-batch.js";
import { DraftNotFoundError, sendAIDraft } from "../core/drafts.js";
import { isStatementTimeoutError, isTransientDbError } from "../core/prisma-errors.js";
import { compareSecret, readBearerToken, resolveGhlKeys, type GhlKeys } from "./auth.js";
import { createClientResolver, describeClientMiss, describeClientUnmatched, describeWorkspaceMismatch, type ClientResolver } from "./clients.js";
import { isUuid, toIngestInput } from "./common.js";
import { PayloadValidationError, WebhookAuthError } from "./errors.js";
import { BodyTooLargeError, DEFAULT_BODY_LIMIT, isJsonContentType, readBodyWithLimit, respondAccepted, respondError, respondUnavailable } from "./http.js";
import { PROVIDER_ADAPTERS, providerForPath } from "./registry.js";
import { PROVIDER_ROUTES, type FetchHandler, type ProviderName, type WebhookDeps } from "./types.js";

export interface HandlerOptions extends WebhookDeps {
  /**
   * Send the deliveries of one event-loop turn as one statement (on-conflict
   * strategy only; see src/db/ingest-batch.ts). serve turns this on.
   */
  batchDeliveries?: boolean;
  /** Client cache lifetime (default 5 s; 0 disables caching). */
  clientCacheTtlMs?: number;
  /** One JSON-able record per rejected delivery or failure (never contains secrets). Default: failures only, on stderr. */
  onEvent?: (event: HandlerEvent) => void;
}

export interface HandlerEvent {
  level: "warn" | "error";
  status: number;
  route: string;
  reason: string;
}

interface HandlerState {
  deps: HandlerOptions;
  ghlKeys: GhlKeys;
  clients: ClientResolver;
  batcher: DeliveryBatcher | undefined;
  bodyLimit: number;
  report: (event: HandlerEvent) => void;
}

const DRAFT_ROUTE = /^\/api\/drafts\/([^/]+)\/send\/?$/;
const KNOWN_ROUTES = [...Object.values(PROVIDER_ROUTES), "/api/drafts/<id>/send", "/healthz"].join(", ");

/** One JSON line per event, as serve and the default reporter print them. */
export function formatHandlerEvent(event: HandlerEvent): string {
  return `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`;
}

function createState(deps: HandlerOptions): HandlerState {
  return {
    deps,
    // Parsing keys once here makes a bad configured key fail at startup, not per request.
    ghlKeys: resolveGhlKeys(deps),
    clients: createClientResolver(deps.db, deps.clientCacheTtlMs),
    batcher: deps.batchDeliveries ? createDeliveryBatcher(deps.db) : undefined,
    bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT,
    report: deps.onEvent ?? ((event) => event.level === "error" && process.stderr.write(formatHandlerEvent(event))),
  };
}

/** Routes by path to the provider handlers and the draft-send endpoint; anything else is a 404. */
export function createWebhookHandler(deps: HandlerOptions): FetchHandler {
  const state = createState(deps);
  return async (request) => {
    const url = parseRequestUrl(request);
    if (!url) return respondBadUrl();
    const provider = providerForPath(url.pathname);
    if (provider) return handleProviderRequest(state, provider, request, url);
    // The raw segment: a uuid never needs decoding, and decoding a malformed escape would throw.
    const draft = DRAFT_ROUTE.exec(url.pathname);
    if (draft) return handleDraftSend(state, request, draft[1]!);
    if (url.pathname === "/healthz") {
      if (request.method !== "GET") return respondError(405, "use GET", { headers: { allow: "GET" } });
      // Health is the database's too: a receiver that cannot reach its tables must not answer 200 here.
      const health = await checkDatabaseHealth(state.deps.db);
      return health.ok ? Response.json({ ok: true }) : Response.json({ ok: false, database: health.error }, { status: 503, headers: { "retry-after": "5" } });
    }
    return respondError(404, `no route for ${url.pathname}; routes: ${KNOWN_ROUTES}`);
  };
}

/** One provider's handler, e.g. `export const POST = createProviderHandler("ghl", deps)` in a Next.js route. */
export function createProviderHandler(provider: ProviderName, deps: HandlerOptions): FetchHandler {
  const state = createState(deps);
  return async (request) => {
    const url = parseRequestUrl(request);
    return url ? handleProviderRequest(state, provider, request, url) : respondBadUrl();
  };
}

/** undefined when the URL does not parse: node-server builds it from the Host header, which the client controls. */
function parseRequestUrl(request: Request): URL | undefined {
  try {
    return new URL(request.url);
  } catch {
    return undefined;
  }
}

function respondBadUrl(): Response {
  return respondError(400, "request URL or Host header is not a valid URL");
}

/** JSON.parse's reason without the excerpt of the body V8 quotes in it (the body may carry a secret_key). */
function describeJsonError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/,\s*(?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, "");
}

async function handleProviderRequest(state: HandlerState, provider: ProviderName, request: Request, url: URL): Promise<Response> {
  const route = url.pathname;
  // `reason` goes to the operator's log; `answer` (default: the reason) to the caller.
  const reject = (status: number, reason: string, field?: string, answer = reason) => {
    state.report({ level: "warn", status, route, reason });
    return respondError(status, answer, { field });
  };
  if (request.method !== "POST") return respondError(405, "use POST", { headers: { allow: "POST" } });
  if (!isJsonContentType(request.headers.get("content-type"))) return reject(415, "content-type must be application/json");

  const adapter = PROVIDER_ADAPTERS[provider];
  let rawBody: Buffer;
  try {
    rawBody = await readBodyWithLimit(request, state.bodyLimit);
  } catch (error) {
    if (error instanceof BodyTooLargeError) return reject(413, `${error.message} (serve --body-limit raises the limit)`);
    return reject(400, "could not read the request body");
  }
  try {
    if (!state.deps.allowUnsigned) adapter.verifySignature?.({ rawBody, headers: request.headers, ghlKeys: state.ghlKeys });

    let body: unknown;
    try {
      body = JSON.parse(rawBody.toString("utf8"));
    } catch (error) {
      return reject(400, `body is not valid JSON: ${describeJsonError(error)}`, "body");
    }
    const plan = adapter.planDelivery(body, url);
    if (plan.kind === "ignored") return respondAccepted({ success: true, deduped: false, eventType: plan.eventType, messageId: null, ignored: true });

    const client = await state.clients.resolve(plan.client);
    if (!client) return reject(404, await describeClientMiss(state.deps.db, plan.client), undefined, describeClientUnmatched(plan.client));
    if (!state.deps.allowUnsigned) adapter.verifySecret?.({ headers: request.headers, url, body, client });
    // The stored id is scoped by the payload's workspace: a tenant
    // authenticated as itself must not write (squat) ids of a workspace
    // that is not its own. Checked with --allow-unsigned too: it is not
    // authentication but which tenant a row belongs to.
    const claimed = plan.client.by === "slug" ? plan.client.claims : undefined;
    const squat = claimed && describeWorkspaceMismatch(client, claimed);
    if (squat) return reject(401, squat, undefined, "the payload's workspace does not belong to the client this webhook URL names (check ?clientId=)");

    const result = await ingestMessage(state.deps.db, toIngestInput(plan, client.id), {
      strategy: state.deps.strategy,
      logger: state.deps.logger,
      batcher: state.batcher,
    });
    return respondAccepted({ success: true, deduped: result.deduped, eventType: plan.eventType, messageId: result.messageId });
  } catch (error) {
    if (error instanceof PayloadValidationError) return reject(400, error.message, error.field);
    if (error instanceof WebhookAuthError) return reject(401, error.reason, undefined, error.answer);
    return respondFailure(state, route, error);
  }
}

/**
 * Sending a draft is an action, not a provider delivery: it needs the
 * server's drafts secret as a bearer token, and a JSON content type so a
 * cross-site form post (which can set neither without a CORS preflight)
 * cannot trigger it.
 */
function checkDraftAuth(state: HandlerState, request: Request): Response | undefined {
  const route = "/api/drafts/:id/send";
  if (!isJsonContentType(request.headers.get("content-type"))) {
    state.report({ level: "warn", status: 415, route, reason: "draft send without a JSON content type" });
    return respondError(415, "content-type must be application/json");
  }
  if (state.deps.allowUnsigned) return undefined;
  const answer = "send the drafts secret as Authorization: Bearer <secret>";
  const expected = state.deps.draftsSecret;
  const reason = !expected
    ? "draft sending is disabled: serve has no --drafts-secret (or DEDUPE_DRAFTS_SECRET)"
    : compareSecret(readBearerToken(request.headers), expected)
      ? undefined
      : "draft send with a missing or wrong bearer secret";
  if (!reason) return undefined;
  state.report({ level: "warn", status: 401, route, reason });
  return respondError(401, answer, { headers: { "www-authenticate": "Bearer" } });
}

async function handleDraftSend(state: HandlerState, request: Request, draftId: string): Promise<Response> {
  const route = "/api/drafts/:id/send";
  if (request.method !== "POST") return respondError(405, "use POST", { headers: { allow: "POST" } });
  // The body is not used, but draining it keeps keep-alive connections reusable.
  await request.arrayBuffer().catch(() => undefined);
  const refused = checkDraftAuth(state, request);
  if (refused) return refused;
  if (!isUuid(draftId)) return respondError(400, `draft id ${JSON.stringify(draftId.slice(0, 100))} is not a UUID`, { field: "id" });
  try {
    const result = await sendAIDraft(state.deps.db, draftId, { strategy: state.deps.strategy, logger: state.deps.logger });
    return respondAccepted({ success: true, deduped: result.deduped, eventType: "AI_DRAFT_SEND", messageId: result.messageId });
  } catch (error) {
    if (error instanceof DraftNotFoundError) return respondError(404, error.message);
    return respondFailure(state, route, error);
  }
}

function respondFailure(state: HandlerState, route: string, error: unknown): Response {
  if (isTransientDbError(error)) {
    const reason = isStatementTimeoutError(error) ? "database statement timed out" : "database unavailable";
    state.report({ level: "error", status: 503, route, reason: `${reason}: ${error instanceof Error ? error.message : String(error)}` });
    return respondUnavailable();
  }
  state.report({ level: "error", status: 500, route, reason: error instanceof Error ? error.message : String(error) });
  return respondError(500, "internal error");
}
