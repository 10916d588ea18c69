#!/usr/bin/env node
// Re-measures issue 12's probe against a real `dedupe-cli serve` on loopback
// (embedded PostgreSQL in a temp DEDUPE_HOME; bounded, nothing leaves the
// machine): hostile payloads (must be 4xx, never 500), a tenant squatting
// another's ids (must write nothing), and database restarts under load
// (terminated backends = fast restart, a SIGKILLed backend = crash recovery:
// 503 only, and every message stored exactly once after providers retry).
// Usage: npm run build && node scripts/probe-hostile.mjs [--rounds 3]
import { spawn, execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { loadFixtures } from "../dist/harness/fixtures.js";
import { buildDeliveryRequest, loadTestGhlKeys } from "../dist/providers/sign.js";
import { loadClientsConfig } from "../dist/providers/client-config.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = path.join(ROOT, "bin/dedupe-cli.js");
const rounds = Number(process.argv[process.argv.indexOf("--rounds") + 1]) || 3;
const home = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-probe-"));
const env = { ...process.env, DEDUPE_HOME: home, DATABASE_URL: "" };
delete env.DATABASE_URL;
const keys = loadTestGhlKeys();
const clients = loadClientsConfig(path.join(ROOT, "fixtures/clients.json")).clients;
const fixtures = loadFixtures([path.join(ROOT, "fixtures")]).filter((f) => f.meta.expect?.outcome !== "ignored");
const MALLORY = {
  slug: "mallory", emailBisonWorkspaceId: "666", emailBisonWebhookToken: "mallory-eb-token", ghlLocationId: "mallory-location",
  unipileAccountId: "mallory-account", unipileWebhookSecret: "mallory-unipile-secret",
  instantlyWorkspaceId: "66666666-6666-4666-8666-666666666666", instantlyWebhookSecret: "mallory-instantly-secret", smartleadWebhookSecret: "mallory-smartlead-secret",
};
const ID_FIELD = { emailbison: ["data", "reply", "id"], ghl: ["messageId"], unipile: ["message_id"], instantly: ["email_id"], smartlead: ["message_id"] };
const DATE_FIELD = { emailbison: ["data", "reply", "date_received"], ghl: ["dateAdded"], unipile: ["timestamp"], instantly: ["timestamp"], smartlead: ["time_replied"] };

function run(args) {
  return execFileSync(process.execPath, [BIN, ...args], { env, cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
function setPath(obj, keysPath, value) {
  let o = obj;
  for (const k of keysPath.slice(0, -1)) o = o[k] ??= {};
  o[keysPath.at(-1)] = value;
}
function clientFor(provider) {
  const field = { emailbison: "emailBisonWorkspaceId", ghl: "ghlLocationId", unipile: "unipileAccountId", smartlead: "smartleadWebhookSecret", instantly: "instantlyWorkspaceId" }[provider];
  return clients.find((c) => c[field] !== undefined);
}
async function deliver(base, fixture, body, opts = {}) {
  const rawBody = typeof body === "string" ? body : JSON.stringify(body);
  const { url, headers, body: bytes } = buildDeliveryRequest({
    baseUrl: base, provider: fixture.provider, rawBody, client: opts.client ?? clientFor(fixture.provider), ghlKeys: keys,
    query: { ...fixture.meta.query, ...opts.query }, headers: fixture.meta.headers,
  });
  try {
    const response = await fetch(url, { method: "POST", headers, body: bytes });
    return { status: response.status, json: await response.json().catch(() => ({})) };
  } catch (error) {
    return { status: 0, json: { error: String(error) } };
  }
}
/** The fixture under a new message id (every field a provider keys on, so no fixture dedupes onto another). */
function fresh(f) {
  const b = structuredClone(f.body);
  const id = `probe-${randomUUID()}`;
  setPath(b, ID_FIELD[f.provider], id);
  if (b.originalMessageId) b.originalMessageId = `${id}-orig`;
  if (b.stats_id) b.stats_id = `${id}-stats`;
  if (b.reply_message?.message_id) b.reply_message.message_id = `${id}-reply`;
  if (b.data?.scheduled_email?.id) b.data.scheduled_email.id = `${id}-sched`;
  // GHL workflow deliveries carry no message id: their stored id is derived
  // from fields including workflow.id, so a fresh one must change that too.
  if (b.workflow && typeof b.workflow === "object") b.workflow.id = `${id}-wf`;
  return b;
}

/** The hostile payload generators: each returns a body (or raw string) for a fixture. */
const HOSTILE = [
  (f) => { const b = fresh(f); setPath(b, ID_FIELD[f.provider], randomBytes(3000).toString("base64")); return b; },
  (f) => { const b = fresh(f); setPath(b, ID_FIELD[f.provider], randomBytes(1500).toString("hex")); return b; },
  ...["+010000-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "-000001-01-01T00:00:00Z", "+275760-09-13T00:00:00Z", "9999-12-31T23:59:59-01:00"].map(
    (d) => (f) => { const b = fresh(f); setPath(b, DATE_FIELD[f.provider], d); return b; }),
  (f) => { const b = fresh(f); setPath(b, ID_FIELD[f.provider], `lone-${randomUUID()}\ud800`); return b; },
  (f) => { const b = fresh(f); setPath(b, ID_FIELD[f.provider], `nul-\u0000-${randomUUID()}`); return b; },
  (f) => { const b = fresh(f); setPath(b, ID_FIELD[f.provider], 2 ** 64); return b; },
  (f) => { const b = fresh(f); setPath(b, ID_FIELD[f.provider], { nested: true }); return b; },
  (f) => { const b = fresh(f); setPath(b, ID_FIELD[f.provider], -5); return b; },
  () => "[1,2,3]",
  () => '{"a":',
  () => JSON.stringify("x".repeat(100)),
  (f) => { const b = fresh(f); b.lead_email = `${randomBytes(2000).toString("base64")}@x.com`; b.contactId = randomBytes(2000).toString("base64"); b.sender = { attendee_provider_id: randomBytes(2000).toString("base64") }; return b; },
  (f) => { const b = fresh(f); b.workspace = "\ud800"; b.account_id = "\udfff"; b.locationId = "\ud800x"; return b; },
];

async function main() {
  run(["clients", "load", path.join(ROOT, "fixtures/clients.json")]);
  const m = MALLORY;
  run(["clients", "add", "--slug", m.slug, "--emailbison-instance-url", "https://dedi.emailbison.com", "--emailbison-workspace-id", m.emailBisonWorkspaceId,
    "--emailbison-token", m.emailBisonWebhookToken, "--ghl-location-id", m.ghlLocationId, "--unipile-account-id", m.unipileAccountId,
    "--unipile-secret", m.unipileWebhookSecret, "--instantly-workspace-id", m.instantlyWorkspaceId, "--instantly-secret", m.instantlyWebhookSecret,
    "--smartlead-secret", m.smartleadWebhookSecret]);
  const serve = spawn(process.execPath, [BIN, "serve", "--port", "0", "--ghl-test-keys", "--pool-size", "16", "--client-cache-ms", "0"], { env, cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  serve.stderr.on("data", (d) => (stderr += d));
  const base = await new Promise((resolve, reject) => {
    let out = "";
    serve.stdout.on("data", (d) => { out += d; const m = /listening on (\S+)/.exec(out); if (m) resolve(m[1]); });
    serve.once("exit", (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  const pidLines = fs.readFileSync(path.join(home, "pg", "postmaster.pid"), "utf8").split("\n");
  const db = new pg.Client({ connectionString: `postgresql://postgres:dedupe-local@127.0.0.1:${pidLines[3]}/dedupe` });
  await db.connect();
  const tally = (map, status) => map.set(status, (map.get(status) ?? 0) + 1);

  // A: hostile payloads.
  const hostile = new Map();
  for (let r = 0; r < rounds; r++) for (const f of fixtures) for (const make of HOSTILE) tally(hostile, (await deliver(base, f, make(f))).status);

  // B: Mallory squats every victim fixture's ids with her own secrets.
  const squats = new Map();
  const squattedIds = [];
  for (const f of fixtures) {
    const b = fresh(f);
    delete b.secret_key;
    const answer = await deliver(base, f, b, { client: MALLORY, query: { clientId: "mallory" } });
    tally(squats, answer.status);
    squattedIds.push({ f, b });
  }
  // The victims' genuine deliveries of the same ids must be new and theirs.
  let crossTenant = 0;
  for (const { f, b } of squattedIds) {
    const genuine = f.provider === "smartlead" ? { ...b, secret_key: clientFor("smartlead").smartleadWebhookSecret } : b;
    const answer = await deliver(base, f, genuine);
    const owner = answer.json.messageId ? (await db.query(`SELECT c.slug FROM "Message" m JOIN "Client" c ON c.id = m."clientId" WHERE m.id = $1`, [answer.json.messageId])).rows[0]?.slug : undefined;
    if (answer.status !== 200 || answer.json.deduped !== false || owner !== clientFor(f.provider).slug) {
      crossTenant++;
      console.log(`  squat not refused: ${path.relative(ROOT, f.path)}: genuine delivery answered ${answer.status} deduped=${answer.json.deduped}, stored under ${owner ?? "nobody"}`);
    }
  }

  // C: database restarts under a stream of valid deliveries.
  const restarts = new Map();
  const sent = [];
  let streaming = true;
  const stream = (async () => {
    const workers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; streaming; i++) {
        const f = fixtures[(w + i) % fixtures.length];
        const b = fresh(f);
        const answer = await deliver(base, f, b);
        tally(restarts, answer.status);
        sent.push({ f, b, status: answer.status });
      }
    });
    await Promise.all(workers);
  })();
  const pause = (ms) => new Promise((r) => setTimeout(r, ms));
  const backends = async () => (await db.query(`SELECT pid FROM pg_stat_activity WHERE application_name = 'dedupe-cli' AND pid <> pg_backend_pid()`)).rows.map((r) => r.pid);
  for (let i = 0; i < 5; i++) {
    await pause(300);
    for (const pid of await backends()) await db.query("SELECT pg_terminate_backend($1)", [pid]).catch(() => undefined);
  }
  await pause(300);
  // Crash recovery: a SIGKILLed backend makes the postmaster reset every session.
  const victim = (await backends())[0];
  await db.end().catch(() => undefined);
  if (victim) process.kill(victim, "SIGKILL");
  await pause(3000);
  streaming = false;
  await stream;

  // Providers retry 503s: every message ends up stored exactly once.
  const db2 = new pg.Client({ connectionString: `postgresql://postgres:dedupe-local@127.0.0.1:${pidLines[3]}/dedupe` });
  for (let i = 0; ; i++) {
    try { await db2.connect(); break; } catch (error) { if (i > 100) throw error; await pause(100); }
  }
  let unhealed = 0;
  for (const s of sent.filter((x) => x.status !== 200)) {
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) { status = (await deliver(base, s.f, s.b)).status; if (status !== 200) await pause(100); }
    if (status !== 200) unhealed++;
  }
  const dupes = (await db2.query(`SELECT count(*)::int AS n FROM (SELECT 1 FROM "Message" GROUP BY "clientId", coalesce("emailBisonReplyId","inboxxiaScheduledEmailId","ghlId","unipileMessageId") HAVING count(*) > 1) d`)).rows[0].n;
  await db2.end();
  serve.kill("SIGTERM");
  await new Promise((r) => serve.once("exit", r));
  fs.rmSync(home, { recursive: true, force: true });

  const show = (m) => JSON.stringify(Object.fromEntries([...m].sort()));
  const total = (m) => [...m.values()].reduce((a, b) => a + b, 0);
  console.log(`hostile payloads: ${total(hostile)} deliveries, statuses ${show(hostile)}, 500s: ${hostile.get(500) ?? 0}`);
  console.log(`squats: ${total(squats)} deliveries, statuses ${show(squats)}; cross-tenant writes: ${crossTenant}`);
  console.log(`restarts (5 terminate-all + 1 crash recovery): ${total(restarts)} deliveries, statuses ${show(restarts)}, 500s: ${restarts.get(500) ?? 0}; after retries: ${unhealed} never stored, ${dupes} duplicated`);
  const bad = (hostile.get(500) ?? 0) + (restarts.get(500) ?? 0) + crossTenant + unhealed + dupes;
  process.exitCode = bad === 0 ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  fs.rmSync(home, { recursive: true, force: true });
  process.exitCode = 2;
});
