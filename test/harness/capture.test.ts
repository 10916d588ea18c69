// Issue 12 item 9: capture under hostile or long-running traffic. An
// unparsable Host header is a 400 (not a 500), and the n-th capture of one
// event does not probe n file names.
import fs from "node:fs";
import fsp from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { startCaptureServer, type CaptureServer } from "../../src/harness/capture.js";

const out = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-capture-unit-"));
const warnings: string[] = [];
let server: CaptureServer;

beforeAll(async () => {
  server = await startCaptureServer({ outDir: out, port: 0, onWarning: (line) => warnings.push(line) });
});
afterAll(async () => {
  await server?.close(1_000);
  fs.rmSync(out, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

function send(headers: Record<string, string>, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port: server.port, method: "POST", path: "/api/webhooks/instantly", headers }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () => resolve({ status: response.statusCode!, json: JSON.parse(text) as Record<string, unknown> }));
    });
    request.on("error", reject);
    request.end(body);
  });
}

const BODY = JSON.stringify({ event_type: "reply_received", email_id: "e1", lead_email: "a@example.com", workspace: "w" });

describe("capture server", () => {
  it("answers 400 to a Host header that makes no URL, and writes nothing", async () => {
    const before = fs.readdirSync(out, { recursive: true }).length;
    const response = await send({ host: "a b", "content-type": "application/json" }, BODY);
    expect(response.status).toBe(400);
    expect(String(response.json.error)).toMatch(/Host header/);
    expect(fs.readdirSync(out, { recursive: true }).length).toBe(before);
    expect(warnings.filter((w) => w.startsWith("capture failed"))).toEqual([]);
  });

  it("continues a long series of one event without probing every earlier name", async () => {
    const dir = path.join(out, "instantly");
    fs.mkdirSync(dir, { recursive: true });
    // 200 earlier captures of this event, from an earlier run.
    for (let n = 1; n <= 200; n++) {
      const name = n === 1 ? "reply_received" : `reply_received-${n}`;
      fs.writeFileSync(path.join(dir, `${name}.json`), "{}");
      fs.writeFileSync(path.join(dir, `${name}.meta.json`), "{}");
    }
    const access = vi.spyOn(fsp, "access");
    const first = await send({ "content-type": "application/json" }, BODY);
    expect(first.json.captured).toBe("instantly/reply_received-201.json");
    const second = await send({ "content-type": "application/json" }, BODY);
    expect(second.json.captured).toBe("instantly/reply_received-202.json");
    // One sidecar check per capture, not one per earlier capture.
    expect(access.mock.calls.length).toBeLessThanOrEqual(2);
  });

  it("never overwrites a file that appeared behind its back", async () => {
    const dir = path.join(out, "instantly");
    fs.writeFileSync(path.join(dir, "reply_received-203.json"), "{}");
    const response = await send({ "content-type": "application/json" }, BODY);
    expect(response.json.captured).toBe("instantly/reply_received-204.json");
    expect(fs.readFileSync(path.join(dir, "reply_received-203.json"), "utf8")).toBe("{}");
  });
});
