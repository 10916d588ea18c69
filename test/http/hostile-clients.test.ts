// Issue 12 item 8: node-server under hostile clients. Connections past the
// cap are closed at once; a request whose headers or body stall is dropped
// (408 or a closed socket), so slow clients cannot pin fds or buffered bodies.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNodeServer, type NodeServer } from "../../src/http/node-server.js";

let served: NodeServer;
const errors: unknown[] = [];

beforeAll(async () => {
  const handler = async (request: Request) => Response.json({ ok: true, bytes: (await request.arrayBuffer()).byteLength });
  served = await startNodeServer({
    handler,
    host: "127.0.0.1",
    port: 0,
    bodyLimit: 1024 * 1024,
    maxConnections: 3,
    headersTimeoutMs: 300,
    requestTimeoutMs: 60_000,
    bodyIdleTimeoutMs: 300,
    onError: (error) => errors.push(error),
  });
});
afterAll(async () => {
  await served?.close(1_000);
});

/** A raw TCP client; `closed` settles with everything the server sent when it closes the connection. */
function connect(): Promise<{ socket: net.Socket; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(served.port, "127.0.0.1", () => resolve({ socket, closed }));
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (received += chunk));
    const closed = new Promise<string>((r) => socket.on("close", () => r(received)));
    socket.on("error", () => undefined);
    socket.once("error", reject);
  });
}

async function get(): Promise<number> {
  const response = await fetch(`${served.url}/x`, { method: "POST", body: "{}", headers: { connection: "close" } });
  await response.arrayBuffer();
  return response.status;
}

describe("node-server against slow and idle clients", () => {
  it("closes connections past --max-connections at once, and serves again when one frees up", async () => {
    const held = await Promise.all([connect(), connect(), connect()]);
    // Partial requests: the server cannot close these as idle keep-alives.
    for (const { socket } of held) socket.write("POST /x HTTP/1.1\r\nHost: a\r\n");
    const extra = await connect();
    expect(await extra.closed).toBe("");
    for (const { socket } of held) socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    // Positive control: below the cap, a request is served.
    expect(await get()).toBe(200);
  });

  it("answers 408 to headers that never finish", async () => {
    const { socket, closed } = await connect();
    socket.write("POST /x HTTP/1.1\r\nHost: a\r\nX-Slow: ");
    expect(await closed).toMatch(/^HTTP\/1\.1 408/);
  });

  it("drops a body that stalls, and does not count it as a failure", async () => {
    const { socket, closed } = await connect();
    socket.write("POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n");
    socket.write(Buffer.alloc(1000, 0x20));
    expect(await closed).toBe("");
    // The server side of the close lands a moment after the client's.
    while (served.inFlight() > 0) await new Promise((r) => setTimeout(r, 10));
    expect(errors).toEqual([]);
    expect(await get()).toBe(200);
  });
});
