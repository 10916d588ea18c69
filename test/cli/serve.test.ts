// The real CLI: `serve` spawned as a user would run it, every fixture over
// HTTP, SIGTERM ending it with exit 0 after in-flight requests finished; and
// `clients` configuring what deliveries resolve to.
import fs from "node:fs";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countJobsForMessage, countRows } from "../../src/db/sql.js";
import { useTestDb } from "../helpers/db.js";
import { runBin } from "../helpers/cli.js";
import { startServe, type ServeProcess } from "../helpers/serve.js";
import { buildParts, clearMessages, FIXTURES_DIR, loadAllFixtures, loadFixture } from "../providers/support.js";
import type { Fixture } from "../../src/harness/fixtures.js";

const db = await useTestDb(10);
const env = { DATABASE_URL: undefined, DEDUPE_VERBOSE: undefined };

/** serve on this file's database, trusting the TEST GHL keys. */
const serve = (extra: string[] = []) => startServe(db.database.url, extra);

/** `agent`: send on these connections instead of the global pool (keep a burst's sockets out of later tests). */
async function post(served: ServeProcess, fixture: Pick<Fixture, "provider" | "rawBody" | "meta">, overrides = {}, agent?: Agent) {
  const { url, headers, body } = buildParts(fixture, overrides, served.url);
  const response = agent ? await undiciFetch(url, { method: "POST", headers, body, dispatcher: agent }) : await fetch(url, { method: "POST", headers, body });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

let served: ServeProcess;

beforeAll(async () => {
  const loaded = await runBin(["clients", "load", `${FIXTURES_DIR}clients.json`, "--database-url", db.database.url], { env });
  expect(loaded.code, loaded.stderr).toBe(0);
  served = await serve();
});

afterAll(() => {
  if (served && served.child.exitCode === null) served.child.kill("SIGKILL");
});

describe("dedupe-cli serve", () => {
  const fixtures = loadAllFixtures();

  it("prints a loopback URL for --port 0", () => {
    expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(served.url.endsWith(":0")).toBe(false);
  });

  it.each(fixtures.map((f) => [f.path.split("/fixtures/")[1]!, f] as const))("%s over HTTP: one write, then a dedupe", async (_name, fixture) => {
    await clearMessages(db.prisma);
    const before = await countRows(db.prisma);
    const first = await post(served, fixture);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const afterFirst = await countRows(db.prisma);
    if (fixture.meta.expect?.outcome === "ignored") {
      expect(first.body).toMatchObject({ ignored: true, messageId: null, deduped: false });
      expect(afterFirst).toEqual(before);
    } else {
      expect(first.body.deduped).toBe(false);
      expect(afterFirst.messages).toBe(before.messages + 1);
      const jobs = await countJobsForMessage(db.prisma, first.body.messageId as string);
      expect(jobs.map((j) => j.type).sort()).toEqual([...(fixture.meta.expect?.jobs ?? [])].sort());
    }
    const second = await post(served, fixture);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ deduped: fixture.meta.expect?.outcome !== "ignored", messageId: first.body.messageId });
    expect(await countRows(db.prisma)).toEqual(afterFirst);
  });

  it("rejects over HTTP with the documented statuses and writes nothing", async () => {
    const fixture = loadFixture("ghl/inbound_message.json");
    const before = await countRows(db.prisma);
    expect((await post(served, fixture, { sign: false })).status).toBe(401);
    const tampered = Buffer.from(fixture.rawBody);
    tampered[10] = tampered[10]! ^ 1;
    const signature = buildParts(fixture).headers["x-ghl-signature"]!;
    expect((await post(served, fixture, { rawBody: tampered, sign: false, headers: { "x-ghl-signature": signature } })).status).toBe(401);
    expect((await post(served, fixture, { headers: { "content-type": "text/plain" } })).status).toBe(415);
    expect((await post(served, fixture, { rawBody: "{" })).status).toBe(400);
    expect(await countRows(db.prisma)).toEqual(before);
  });

  it("answers 413 to a chunked body over the limit without reading all of it", async () => {
    const fixture = loadFixture("ghl/inbound_message.json");
    const { url, headers } = buildParts(fixture, {}, served.url);
    let sent = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    // The kernel's socket buffers absorb what a paused reader does not take
    // (loopback autotuning grows them to tcp_rmem's max, 32 MiB here), so a
    // loaded machine can see 8 MiB leave the client though the server read
    // only its 1 MiB limit. Offer more than the buffers can hold.
    const offered = socketBufferBytes() + 16 * 1024 * 1024;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        // The server must stop long before the end.
        if (sent >= offered) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(url, { method: "POST", headers, body: stream, duplex: "half" } as RequestInit).catch((error) => error as Error);
    // The server may close the socket mid-upload; what matters is it never accepts the body.
    if (response instanceof Response) expect(response.status).toBe(413);
    else expect(String(response.cause ?? response)).toMatch(/socket|closed|reset|terminated|EPIPE/i);
    // The server stopped reading (the rest was never pulled) and is still up.
    expect(sent).toBeLessThan(offered);
    expect(served.child.exitCode).toBeNull();
  });

  // serve batches the deliveries of one event-loop turn into one statement by
  // default; a burst of mixed new and duplicate deliveries must still leave
  // one Message and one deduped:false per reply, with and without batching.
  it.each([["batched (default)", []], ["--no-batch", ["--no-batch", "--pool-size", "10"]]] as const)(
    "a burst of 10 replies x 5 copies over HTTP, %s: one message and one deduped:false per reply",
    async (_label, flags) => {
      const receiver = flags.length === 0 ? served : await serve([...flags]);
      const agent = new Agent();
      try {
        await clearMessages(db.prisma);
        const fixture = loadFixture("emailbison/lead_replied.json");
        const bodies = Array.from({ length: 10 }, (_, i) => {
          const body = JSON.parse(fixture.rawBody.toString());
          body.data.reply.id = 9_000_000 + i;
          body.data.lead.email = `burst-${i % 3}@example.com`;
          return Buffer.from(JSON.stringify(body));
        });
        const deliveries = bodies.flatMap((rawBody, i) => Array.from({ length: 5 }, () => ({ i, rawBody })));
        const answers = await Promise.all(deliveries.map(async ({ i, rawBody }) => ({ i, ...(await post(receiver, { ...fixture, rawBody }, {}, agent)) })));
        expect(answers.filter((a) => a.status !== 200)).toEqual([]);
        for (let i = 0; i < bodies.length; i++) {
          const mine = answers.filter((a) => a.i === i);
          expect(mine.filter((a) => a.body.deduped === false)).toHaveLength(1);
          expect(new Set(mine.map((a) => a.body.messageId)).size).toBe(1);
        }
        expect(await db.prisma.message.count()).toBe(10);
        expect(await db.prisma.backgroundJob.count()).toBe(10 * (fixture.meta.expect?.jobs ?? []).length);
      } finally {
        await agent.close();
        if (receiver !== served) await receiver.stop();
      }
    },
  );

  it("SIGTERM lets in-flight requests finish, then exits 0", async () => {
    await clearMessages(db.prisma);
    const fixture = loadFixture("emailbison/lead_replied.json");
    const inFlight = Array.from({ length: 20 }, () => post(served, fixture));
    // SIGTERM once the server is answering: a fixed 5 ms was, on a loaded CI
    // machine, before it had accepted any of the 20 (all refused).
    await Promise.race(inFlight.map((p) => p.catch(() => undefined)));
    served.child.kill("SIGTERM");
    const results = await Promise.allSettled(inFlight);
    const statuses = results.map((r) => (r.status === "fulfilled" ? r.value.status : "refused"));
    // Requests the server had accepted complete with 200; none gets a 5xx.
    expect(statuses.filter((s) => s !== 200 && s !== "refused")).toEqual([]);
    expect(statuses).toContain(200);
    const { code, signal } = await served.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(served.stderr()).toContain("server closed");
    expect(await db.prisma.message.count()).toBe(1);
  });
});

describe("dedupe-cli serve configuration errors", () => {
  it("a GHL public key that does not parse names the flag or variable that held it (exit 2)", async () => {
    const unreachable = "postgresql://nobody@127.0.0.1:1/none";
    const flag = await runBin(["serve", "--port", "0", "--ghl-rsa-public-key", "not-a-key", "--database-url", unreachable], { env });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/GHL public key from --ghl-rsa-public-key does not parse/);
    const variable = await runBin(["serve", "--port", "0", "--database-url", unreachable], { env: { ...env, GHL_ED25519_PUBLIC_KEY: "not-a-key" } });
    expect(variable.code).toBe(2);
    expect(variable.stderr).toMatch(/GHL public key from GHL_ED25519_PUBLIC_KEY does not parse/);
  });
});

describe("dedupe-cli clients", () => {
  it("two concurrent loads of the same file leave one row per slug", async () => {
    await db.prisma.client.deleteMany({ where: { slug: { in: ["acme", "globex"] } } });
    const [a, b] = await Promise.all([
      runBin(["clients", "load", `${FIXTURES_DIR}clients.json`, "--database-url", db.database.url, "--json"], { env }),
      runBin(["clients", "load", `${FIXTURES_DIR}clients.json`, "--database-url", db.database.url, "--json"], { env }),
    ]);
    expect([a.code, b.code], a.stderr + b.stderr).toEqual([0, 0]);
    const created = [...JSON.parse(a.stdout), ...JSON.parse(b.stdout)].filter((r: { created: boolean }) => r.created);
    expect(created).toHaveLength(2);
    expect(await db.prisma.client.count({ where: { slug: { in: ["acme", "globex"] } } })).toBe(2);
  });

  it("add updates only the given fields, and list never prints a secret", async () => {
    const added = await runBin(["clients", "add", "--slug", "initech", "--ghl-location-id", "loc-initech", "--unipile-secret", "super-secret-value", "--database-url", db.database.url], { env });
    expect(added.code, added.stderr).toBe(0);
    const updated = await runBin(["clients", "add", "--slug", "initech", "--name", "Initech", "--database-url", db.database.url], { env });
    expect(updated.stdout).toMatch(/^updated initech/);
    const row = await db.prisma.client.findUniqueOrThrow({ where: { slug: "initech" } });
    expect(row).toMatchObject({ name: "Initech", ghlLocationId: "loc-initech", unipileWebhookSecret: "super-secret-value" });
    const listed = await runBin(["clients", "list", "--json", "--database-url", db.database.url], { env });
    expect(listed.stdout).not.toContain("super-secret-value");
    expect(JSON.parse(listed.stdout).find((c: { slug: string }) => c.slug === "initech").secrets.unipileWebhookSecret).toBe(true);
  });

  it("a provider id already owned by another client is a configuration error (exit 2)", async () => {
    const clash = await runBin(["clients", "add", "--slug", "copycat", "--ghl-location-id", "loc-initech", "--database-url", db.database.url], { env });
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/another client already uses/);
    expect(await db.prisma.client.count({ where: { slug: "copycat" } })).toBe(0);
  });

  it("a bad slug is rejected before any database work", async () => {
    const bad = await runBin(["clients", "add", "--slug", "has spaces", "--database-url", "postgresql://nobody@127.0.0.1:1/none"], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--slug/);
  });

  it("a bad value names the flag as typed, not the config field", async () => {
    const bad = await runBin(["clients", "add", "--slug", "ok", "--emailbison-workspace-id", " ", "--database-url", "postgresql://nobody@127.0.0.1:1/none"], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--emailbison-workspace-id:/);
  });
});

/** The most both ends' kernel socket buffers can hold (Linux: tcp_rmem and tcp_wmem maxima), else a generous guess. */
function socketBufferBytes(): number {
  const max = (file: string) => {
    try {
      return Number(fs.readFileSync(file, "utf8").trim().split(/\s+/)[2]) || 0;
    } catch {
      return 0;
    }
  };
  const total = max("/proc/sys/net/ipv4/tcp_rmem") + max("/proc/sys/net/ipv4/tcp_wmem");
  return total > 0 ? total : 64 * 1024 * 1024;
}
