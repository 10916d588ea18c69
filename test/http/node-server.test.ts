// node-server in front of the router: requests a Fetch handler could never
// build (a Host header that makes no URL, escapes that do not decode) must
// still get a 4xx, not the listener's 500.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNodeServer, type NodeServer } from "../../src/http/node-server.js";
import { createWebhookHandler } from "../../src/providers/router.js";
import { useTestDb } from "../helpers/db.js";

const db = await useTestDb(4);
const errors: unknown[] = [];
let served: NodeServer;

beforeAll(async () => {
  const handler = createWebhookHandler({ db: db.prisma, draftsSecret: "s", onEvent: () => undefined });
  served = await startNodeServer({ handler, host: "127.0.0.1", port: 0, bodyLimit: 4096, onError: (error) => errors.push(error) });
});
afterAll(async () => {
  await served?.close(1_000);
});

/** A raw request, so headers such as Host go out exactly as given. */
function send(options: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; headers: http.IncomingHttpHeaders; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port: served.port, method: options.method ?? "GET", path: options.path, headers: options.headers }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers, json: JSON.parse(text) as Record<string, unknown> }));
    });
    request.on("error", reject);
    request.end(options.body);
  });
}

describe("startNodeServer with the webhook router", () => {
  it("answers /healthz", async () => {
    expect(await send({ path: "/healthz" })).toMatchObject({ status: 200, json: { ok: true } });
  });

  it("a Host header that makes no valid URL → 400, not 500", async () => {
    const response = await send({ method: "POST", path: "/api/webhooks/instantly", headers: { host: "a b", "content-type": "application/json" }, body: "{}" });
    expect(response.status).toBe(400);
    expect(response.json).toEqual({ success: false, error: "request URL or Host header is not a valid URL" });
    expect(errors).toEqual([]);
  });

  it("a malformed percent escape in a draft id → 400, not 500", async () => {
    const response = await send({ method: "POST", path: "/api/drafts/%E0%A4%A/send", headers: { "content-type": "application/json", authorization: "Bearer s" }, body: "{}" });
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ success: false, field: "id" });
    expect(errors).toEqual([]);
  });

  it("POST /healthz → 405 with Allow: GET", async () => {
    const response = await send({ method: "POST", path: "/healthz", body: "" });
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe("GET");
  });
});
