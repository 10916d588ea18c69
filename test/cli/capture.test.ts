// capture as users run it: the real CLI in a child process on a free port,
// real HTTP deliveries, then the files it wrote (and a replay of them).
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT, runBin, spawnBin, type CliResult } from "../helpers/cli.js";
import { createTestDatabase } from "../helpers/db.js";
import { waitForListening } from "../helpers/serve.js";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-capture-"));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

interface Capture {
  child: ChildProcess;
  url: string;
  out: string;
  done: Promise<CliResult>;
}

async function startCapture(args: string[]): Promise<Capture> {
  const out = fs.mkdtempSync(path.join(tmpRoot, "out-"));
  const { child, done } = spawnBin(["capture", "--port", "0", "--out", out, ...args]);
  const url = await waitForListening(child);
  return { child, url, out, done };
}

async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  return { status: response.status, json: (await response.json()) as { success: boolean; captured?: string; error?: string } };
}

const fixture = (rel: string) => fs.readFileSync(path.join(ROOT, "fixtures", rel));
const readMeta = (out: string, rel: string) => JSON.parse(fs.readFileSync(path.join(out, rel.replace(/\.json$/, ".meta.json")), "utf8"));

function allFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

// Unusual whitespace, key order, escapes and non-ASCII: any re-serialisation would change these bytes.
const ODD_BODY = Buffer.from(
  '  {"email_id" : "odd-\\u00e9-1",\r\n\t"lead_email":"Lead@Example.com",   "event_type":"reply_received",\n' +
    '"workspace":"51c0231c-9645-46c3-992a-ec88b782136d","reply_text":"héllo — 🎉 \\"quoted\\"", "n": 1.50e1 }\n\n',
  "utf8",
);
const SECRETS = { header: "hdr-secret-7f3a91", bearer: "bearer-secret-c4e2d8", token: "query-token-5b9e0a", signature: "c2lnbmF0dXJlLXNlY3JldC0x" };

describe("capture CLI", () => {
  it("writes exact bytes and redacted sidecars, detects provider and event, answers 405/413, and exits 0 after --max", async () => {
    const cap = await startCapture(["--max", "6", "--json"]);
    expect(cap.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const odd = await post(`${cap.url}/api/webhooks/instantly?clientId=globex&token=${SECRETS.token}`, ODD_BODY, {
      "x-instantly-secret": SECRETS.header,
      authorization: `Bearer ${SECRETS.bearer}`,
      "x-request-id": "req-1",
    });
    expect(odd).toEqual({ status: 200, json: { success: true, captured: "instantly/reply_received.json" } });

    // Non-POST and oversized bodies are answered, not captured.
    const get = await fetch(`${cap.url}/api/webhooks/email`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    const big = await post(`${cap.url}/`, Buffer.alloc(1024 * 1024 + 10, 0x20)).catch((error) => ({ status: `error ${error}`, json: {} }));
    expect(big.status).toBe(413);

    // Provider from the body alone, from a /<provider> prefix, and the event from the body.
    expect((await post(`${cap.url}/`, fixture("ghl/inbound_message.json"), { "x-ghl-signature": SECRETS.signature })).json.captured).toBe("ghl/inbound_message.json");
    expect((await post(`${cap.url}/hooks`, fixture("emailbison/lead_replied.json"))).json.captured).toBe("emailbison/lead_replied.json");
    expect((await post(`${cap.url}/unipile/x`, fixture("unipile/message_received_inbound.json"), { "unipile-auth": SECRETS.header })).json.captured).toBe(
      "unipile/message_received.json",
    );
    expect((await post(`${cap.url}/`, fixture("smartlead/email_reply.json"))).json.captured).toBe("smartlead/email_reply.json");
    // The same event again gets a suffix instead of overwriting.
    expect((await post(`${cap.url}/`, fixture("ghl/inbound_message.json"))).json.captured).toBe("ghl/inbound_message-2.json");

    const result = await cap.done;
    expect(result.code, result.stderr).toBe(0);

    // Byte-for-byte.
    expect(fs.readFileSync(path.join(cap.out, "instantly/reply_received.json")).equals(ODD_BODY)).toBe(true);
    expect(fs.readFileSync(path.join(cap.out, "ghl/inbound_message-2.json")).equals(fixture("ghl/inbound_message.json"))).toBe(true);

    // Sidecar: replayable parts kept, secrets dropped and named.
    const meta = readMeta(cap.out, "instantly/reply_received.json");
    expect(meta.query).toEqual({ clientId: "globex" });
    expect(meta.headers).toMatchObject({ "content-type": "application/json", "x-request-id": "req-1" });
    expect(Object.keys(meta.headers)).not.toContain("authorization");
    expect(Object.keys(meta.headers)).not.toContain("x-instantly-secret");
    expect(Object.keys(meta.headers)).not.toContain("host");
    expect(meta.capture).toMatchObject({ method: "POST", path: "/api/webhooks/instantly", provider: "instantly", providerFrom: "path", event: "reply_received", bytes: ODD_BODY.length });
    expect(meta.capture.redacted.headers.sort()).toEqual(["authorization", "x-instantly-secret"]);
    expect(meta.capture.redacted.query).toEqual(["token"]);
    expect(readMeta(cap.out, "ghl/inbound_message.json").capture).toMatchObject({ providerFrom: "body", event: "InboundMessage", redacted: { headers: ["x-ghl-signature"] } });
    expect(readMeta(cap.out, "unipile/message_received.json").capture).toMatchObject({ providerFrom: "path", redacted: { headers: ["unipile-auth"] } });
    expect(readMeta(cap.out, "smartlead/email_reply.json").capture).toMatchObject({ event: "EMAIL_REPLY", bodySecrets: ["secret_key"] });
    expect(result.stderr).toMatch(/smartlead\/email_reply\.json: the body carries secret_key/);

    // No header or query secret anywhere on disk or in the output.
    for (const file of allFiles(cap.out)) {
      const text = fs.readFileSync(file, "utf8");
      for (const secret of Object.values(SECRETS)) expect(text, file).not.toContain(secret);
    }
    for (const secret of Object.values(SECRETS)) expect(result.stdout + result.stderr).not.toContain(secret);

    // --json: one object per capture after the listening line.
    const lines = result.stdout.trim().split("\n");
    expect(lines[0]).toBe(`listening on ${cap.url}`);
    expect(lines.slice(1).map((l) => JSON.parse(l).file)).toEqual([
      "instantly/reply_received.json",
      "ghl/inbound_message.json",
      "emailbison/lead_replied.json",
      "unipile/message_received.json",
      "smartlead/email_reply.json",
      "ghl/inbound_message-2.json",
    ]);
  });

  it("puts deliveries of no known provider in unknown/ with a warning, and stops on SIGTERM with exit 0", async () => {
    const cap = await startCapture([]);
    expect((await post(`${cap.url}/somewhere`, '{"hello":"world"}')).json.captured).toBe("unknown/event.json");
    cap.child.kill("SIGTERM");
    const result = await cap.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/unknown\/event\.json: cannot tell the provider/);
    expect(fs.readFileSync(path.join(cap.out, "unknown/event.json"), "utf8")).toBe('{"hello":"world"}');
  });

  it("rejects bad flags with exit 2", async () => {
    const result = await runBin(["capture", "--port", "0", "--out", path.join(tmpRoot, "x"), "--provider", "nope"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--provider/);
  });

  it("captured fixtures replay and race without editing", async () => {
    const cases: Array<[string, string, Record<string, string>]> = [
      ["/api/webhooks/ghl/sms", "ghl/inbound_message.json", { "x-ghl-signature": SECRETS.signature }],
      ["/api/webhooks/email?token=wrong-token", "emailbison/lead_replied.json", {}],
      ["/", "emailbison/email_opened.json", {}],
      ["/api/webhooks/linkedin", "unipile/message_received_inbound.json", { "unipile-auth": "wrong-secret" }],
      ["/", "smartlead/email_reply.json", {}],
      ["/", "instantly/email_sent.json", { "x-instantly-secret": SECRETS.header }],
      // A GHL workflow Webhook action: recognised by its shape, its secret dropped, re-sent with the client's on replay.
      [`/?secret=${SECRETS.token}`, "ghl/workflow_inbound_sms.json", { "x-webhook-secret": SECRETS.header }],
    ];
    const cap = await startCapture(["--max", String(cases.length + 1)]);
    for (const [route, file, headers] of cases) expect((await post(`${cap.url}${route}`, fixture(file), headers)).status).toBe(200);
    expect((await post(`${cap.url}/api/webhooks/instantly?clientId=globex`, ODD_BODY)).status).toBe(200);
    expect((await cap.done).code).toBe(0);
    expect(readMeta(cap.out, "ghl/workflow_webhook.json").capture.redacted).toEqual({ headers: ["x-webhook-secret"], query: ["secret"] });

    const database = await createTestDatabase();
    try {
      const env = { DATABASE_URL: undefined, CI: "true" };
      const load = await runBin(["clients", "load", "fixtures/clients.json", "--database-url", database.url], { env });
      expect(load.code, load.stderr).toBe(0);
      const replay = await runBin(["replay", cap.out, "--database-url", database.url, "--json"], { env });
      expect(replay.code, `${replay.stdout}\n${replay.stderr}`).toBe(0);
      const report = JSON.parse(replay.stdout) as { verdict: string; cases: unknown[] };
      expect(report.verdict).toBe("pass");
      expect(report.cases.length).toBeGreaterThanOrEqual(cases.length + 1);
      // And race: fresh ids each round, re-signed (the captured GHL signature was dropped).
      const race = await runBin(["race", "--fixture", path.join(cap.out, "ghl/inbound_message.json"), "--n", "10", "--database-url", database.url, "--json"], { env });
      // Exit 3 (inconclusive) only means this machine could not line the deliveries up; every other invariant must hold.
      expect([0, 3], `${race.stdout}\n${race.stderr}`).toContain(race.code);
      const raced = JSON.parse(race.stdout) as { cases: Array<{ invariants: Array<{ name: string; status: string }> }> };
      const invariants = raced.cases.flatMap((c) => c.invariants).filter((i) => i.name !== "race-quality");
      expect(invariants.length).toBeGreaterThan(0);
      expect(invariants.filter((i) => i.status !== "pass")).toEqual([]);
    } finally {
      await database.drop();
    }
  });
});
