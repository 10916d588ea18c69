// One keep-alive HTTP/1.1 connection over a raw socket, with a minimal
// response parser (status line, Content-Length or chunked bodies). Raw
// sockets, not an HTTP client, because the race needs to write every request
// except its final byte, then release all final bytes from one synchronous
// loop: no client library exposes that, and their per-request overhead would
// widen the release spread.
import net from "node:net";
import tls from "node:tls";
import type { PreparedDelivery } from "./types.js";

export interface RawResponse {
  status: number;
  body: string;
  /** performance.now() when the last byte of the response arrived. */
  at: number;
}

interface Pending {
  resolve(response: RawResponse): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

const HEAD_END = Buffer.from("\r\n\r\n");

export class HttpConnection {
  private socket: net.Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: Pending | undefined;
  private closed = false;

  constructor(
    readonly origin: URL,
    private readonly timeoutMs = 30_000,
  ) {}

  get usable(): boolean {
    return Boolean(this.socket) && !this.closed;
  }

  /** Opens the TCP (or TLS) connection; resolves once it can carry a request. */
  async connect(): Promise<void> {
    const port = Number(this.origin.port) || (this.origin.protocol === "https:" ? 443 : 80);
    const host = this.origin.hostname.replace(/^\[|\]$/g, "");
    const socket =
      this.origin.protocol === "https:"
        ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host })
        : net.connect({ host, port });
    this.socket = socket;
    this.closed = false;
    this.buffer = Buffer.alloc(0);
    socket.setNoDelay(true);
    socket.setKeepAlive(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (error) => this.fail(error));
    socket.on("close", () => {
      this.closed = true;
      this.fail(Object.assign(new Error("connection closed before a complete response"), { code: "ECONNRESET" }));
    });
    await new Promise<void>((resolve, reject) => {
      socket.once(this.origin.protocol === "https:" ? "secureConnect" : "connect", () => resolve());
      socket.once("error", reject);
    });
  }

  /**
   * Writes the request. With holdLastByte, everything but the final byte is
   * written now and the returned `release` writes it (synchronously).
   */
  send(delivery: PreparedDelivery, holdLastByte: boolean): { response: Promise<RawResponse>; release: () => void } {
    const socket = this.socket;
    if (!socket || this.closed) throw Object.assign(new Error("connection is not open"), { code: "ECONNRESET" });
    if (this.pending) throw new Error("one request at a time per connection");
    const bytes = serialiseRequest(delivery, this.origin);
    const response = new Promise<RawResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(Object.assign(new Error(`no response within ${this.timeoutMs} ms`), { code: "ETIMEDOUT" }));
        socket.destroy();
      }, this.timeoutMs);
      this.pending = { resolve, reject, timer };
    });
    if (!holdLastByte) {
      socket.write(bytes);
      return { response, release: () => undefined };
    }
    socket.write(bytes.subarray(0, bytes.length - 1));
    const last = bytes.subarray(bytes.length - 1);
    return { response, release: () => void socket.write(last) };
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
  }

  private fail(error: Error): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.reject(error);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const parsed = parseResponse(this.buffer);
    if (!parsed) return;
    this.buffer = this.buffer.subarray(parsed.consumed);
    const pending = this.pending;
    this.pending = undefined;
    if (parsed.close) {
      this.closed = true;
      this.socket?.end();
    }
    if (!pending) return;
    clearTimeout(pending.timer);
    pending.resolve({ status: parsed.status, body: parsed.body, at: performance.now() });
  }
}

function serialiseRequest(delivery: PreparedDelivery, origin: URL): Buffer {
  const lines = [`POST ${delivery.url.pathname}${delivery.url.search} HTTP/1.1`];
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(delivery.headers)) {
    const lower = name.toLowerCase();
    // We frame the body ourselves; a captured header must not contradict it.
    if (lower === "content-length" || lower === "transfer-encoding" || lower === "connection") continue;
    seen.add(lower);
    lines.push(`${name}: ${value}`);
  }
  if (!seen.has("host")) lines.push(`Host: ${origin.host}`);
  if (!seen.has("content-type")) lines.push("Content-Type: application/json");
  lines.push(`Content-Length: ${delivery.body.length}`, "Connection: keep-alive", "", "");
  return Buffer.concat([Buffer.from(lines.join("\r\n"), "latin1"), delivery.body]);
}

interface ParsedResponse {
  status: number;
  body: string;
  consumed: number;
  close: boolean;
}

/** A complete response at the start of `buf`, or undefined when more bytes are needed. */
export function parseResponse(buf: Buffer): ParsedResponse | undefined {
  const headEnd = buf.indexOf(HEAD_END);
  if (headEnd < 0) return undefined;
  const head = buf.toString("latin1", 0, headEnd).split("\r\n");
  const status = Number(head[0]!.split(" ")[1]);
  if (!Number.isInteger(status)) throw new Error(`malformed status line: ${head[0]}`);
  let length: number | undefined;
  let chunked = false;
  let close = head[0]!.startsWith("HTTP/1.0");
  for (const line of head.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (name === "content-length") length = Number(value);
    else if (name === "transfer-encoding") chunked = value.includes("chunked");
    else if (name === "connection") close = value.includes("close");
  }
  const start = headEnd + 4;
  // 1xx (100 Continue) carry no body and precede the real answer.
  if (status >= 100 && status < 200) {
    const rest = parseResponse(buf.subarray(start));
    return rest ? { ...rest, consumed: start + rest.consumed } : undefined;
  }
  if (status === 204 || status === 304) return { status, body: "", consumed: start, close };
  if (chunked) {
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const lineEnd = buf.indexOf("\r\n", at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(buf.toString("latin1", at, lineEnd), 16);
      if (Number.isNaN(size)) throw new Error("malformed chunk size");
      if (size === 0) {
        // Trailers are not expected; the terminating CRLF ends the message.
        const end = buf.indexOf(HEAD_END, lineEnd);
        if (end < 0) return undefined;
        return { status, body: Buffer.concat(parts).toString("utf8"), consumed: end + 4, close };
      }
      if (buf.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  if (length === undefined) {
    // Body runs until the server closes: only complete once the socket ends,
    // which this harness does not wait for. Treat what we have as the body.
    return { status, body: buf.toString("utf8", start), consumed: buf.length, close: true };
  }
  if (buf.length < start + length) return undefined;
  return { status, body: buf.toString("utf8", start, start + length), consumed: start + length, close };
}
