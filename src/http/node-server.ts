// node:http in front of the Fetch handlers: IncomingMessage → Request,
// Response → ServerResponse. The body is read here once, capped, and handed
// to the handler's readBodyWithLimit as is; the Request and Response are the
// lazy kind from fetch-objects.ts, so a JSON answer goes from the handler to
// the socket without undici building either. Closing stops accepting at once
// and lets in-flight requests finish.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createPrereadRequest, readUntouchedJsonResponse } from "./fetch-objects.js";
import type { FetchHandler } from "../providers/types.js";

export interface NodeServer {
  server: http.Server;
  url: string;
  port: number;
  /** Requests currently being handled. */
  inFlight(): number;
  /** Stops accepting, waits for in-flight requests (up to graceMs), then drops the remaining connections. */
  close(graceMs?: number): Promise<void>;
}

export interface StartServerOptions {
  /** Gets Requests carrying the (capped) body; readBodyWithLimit (src/providers/http.ts) returns it without streaming. */
  handler: FetchHandler;
  host: string;
  port: number;
  /** Bodies are read up to limit + 1 bytes, enough for the handler to answer 413 without buffering more. */
  bodyLimit: number;
  onError?: (error: unknown) => void;
  /** Open connections beyond this are closed at once (default 1024): slow clients cannot take every fd. */
  maxConnections?: number;
  /** A request whose headers are not complete after this gets 408 (default 10 s). */
  headersTimeoutMs?: number;
  /** A request not completely received after this gets 408 (default 30 s): webhook bodies are small. */
  requestTimeoutMs?: number;
  /** A body that sends nothing for this long is dropped with its connection (default 5 s), freeing what it buffered. */
  bodyIdleTimeoutMs?: number;
}

export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_BODY_IDLE_TIMEOUT_MS = 5_000;

/** A body that stopped arriving: its connection is destroyed, so there is no one to answer. */
class BodyStalledError extends Error {}

interface BodyLimits {
  bodyLimit: number;
  bodyIdleTimeoutMs: number;
}

function createNodeListener(handler: FetchHandler, limits: BodyLimits, onError: (error: unknown) => void = () => undefined) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    serveRequest(handler, limits, req, res).catch((error) => {
      if (error instanceof BodyStalledError) return;
      onError(error);
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ success: false, error: "internal error" }));
    });
  };
}

async function serveRequest(handler: FetchHandler, { bodyLimit, bodyIdleTimeoutMs }: BodyLimits, req: http.IncomingMessage, res: http.ServerResponse) {
  const url = `http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`;
  const method = req.method ?? "GET";
  let request: Request;
  let truncated = false;
  if (method !== "GET" && method !== "HEAD") {
    // limit + 1 bytes at most, so an oversized body still trips the handler's cap.
    let body: Buffer;
    ({ body, truncated } = await readCapped(req, bodyLimit + 1, bodyIdleTimeoutMs));
    // The handler gets the bytes we hold; a stale length would contradict them.
    request = createPrereadRequest(url, method, withoutFramingHeaders(req.rawHeaders), body);
  } else {
    request = createPrereadRequest(url, method, req.rawHeaders, undefined);
  }
  const response = await handler(request);

  // The rest of an oversized body was never read, so this connection cannot carry another request.
  const closing: Record<string, string> = truncated ? { connection: "close" } : {};
  // Webhook answers are a few hundred bytes of JSON: sending them with a
  // Content-Length lets headers and body leave in one write, instead of
  // chunked frames and a write per chunk (measurable on the duplicate path).
  const json = readUntouchedJsonResponse(response);
  if (json) {
    res.writeHead(json.status, { ...json.headers, ...closing, "content-length": String(Buffer.byteLength(json.text)) });
    res.end(json.text);
    return;
  }
  const outHeaders: Record<string, string | string[]> = {};
  response.headers.forEach((value, key) => {
    outHeaders[key] = value;
  });
  const setCookies = response.headers.getSetCookie();
  if (setCookies.length > 0) outHeaders["set-cookie"] = setCookies;
  Object.assign(outHeaders, closing);
  const payload = response.body ? Buffer.from(await response.arrayBuffer()) : undefined;
  if (payload) outHeaders["content-length"] = String(payload.length);
  res.writeHead(response.status, outHeaders);
  res.end(payload);
}

function withoutFramingHeaders(rawHeaders: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (name !== "content-length" && name !== "transfer-encoding") kept.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return kept;
}

/**
 * Reads at most `cap` bytes; `truncated` when the body had more (the rest is
 * left unread). A body that sends nothing for `idleMs` is dropped with its
 * connection: a stalled upload must not pin its buffered bytes until the
 * request timeout.
 */
function readCapped(req: http.IncomingMessage, cap: number, idleMs: number): Promise<{ body: Buffer; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onIdle = () => {
      cleanUp();
      chunks.length = 0;
      req.socket.destroy();
      reject(new BodyStalledError(`request body stalled for ${idleMs} ms`));
    };
    const idle = setTimeout(onIdle, idleMs);
    const cleanUp = () => {
      clearTimeout(idle);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    const finish = (truncated: boolean) => {
      cleanUp();
      resolve({ body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), truncated });
    };
    const onData = (chunk: Buffer) => {
      idle.refresh();
      total += chunk.length;
      if (total >= cap) {
        chunks.push(chunk.subarray(0, chunk.length - (total - cap)));
        req.pause();
        finish(true);
      } else chunks.push(chunk);
    };
    const onEnd = () => finish(false);
    const onError = (error: Error) => {
      cleanUp();
      reject(error);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

export function startNodeServer(options: StartServerOptions): Promise<NodeServer> {
  let active = 0;
  const listener = createNodeListener(options.handler, { bodyLimit: options.bodyLimit, bodyIdleTimeoutMs: options.bodyIdleTimeoutMs ?? DEFAULT_BODY_IDLE_TIMEOUT_MS }, options.onError);
  const idleWaiters: Array<() => void> = [];
  const headersTimeout = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const requestTimeout = Math.max(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, headersTimeout);
  const server = http.createServer({
    keepAliveTimeout: 5_000,
    headersTimeout,
    requestTimeout,
    // node checks both timeouts on this interval (default 30 s, as long as the timeouts themselves).
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeout / 2))),
  }, (req, res) => {
    active++;
    res.on("close", () => {
      active--;
      if (active === 0) idleWaiters.splice(0).forEach((resolve) => resolve());
    });
    listener(req, res);
  });
  // Past the cap node closes new connections at once, so slow or idle
  // clients cannot hold every file descriptor and lock everyone out.
  server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      const address = server.address() as AddressInfo;
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      resolve({
        server,
        port: address.port,
        url: `http://${host}:${address.port}`,
        inFlight: () => active,
        async close(graceMs = 10_000) {
          const closed = new Promise<void>((r) => server.close(() => r()));
          server.closeIdleConnections();
          if (active > 0) {
            const idle = new Promise<void>((r) => idleWaiters.push(r));
            await Promise.race([idle, new Promise((r) => setTimeout(r, graceMs).unref())]);
          }
          server.closeAllConnections();
          await closed;
        },
      });
    });
  });
}
