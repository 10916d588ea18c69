#!/usr/bin/env node
// Throughput of `serve` for duplicate deliveries versus a bare node:http
// server answering the same request, same load generator (undici Pool, 50
// keep-alive connections) for both. Runs against the built dist/ (npm run build).
//
//   node bench/serve.mjs [--seconds 5] [--connections 50] [--distinct 50] [--fixture emailbison/lead_replied.json]
//                        [--servers in-process|process] [--no-batch] [--json]
//
// --servers process runs the real `dedupe-cli serve` and a bare server each
// in a child process (the generator stays here); the default keeps both
// servers in this process, sharing the generator's event loop.
//
// --no-batch: serve as `dedupe-cli serve --no-batch`, one statement per
// delivery, instead of serve's default (the deliveries of one event-loop turn
// share a statement: src/db/ingest-batch.ts).
//
// --distinct n: n stored messages (each with its own lead) re-delivered round
// robin, like the ingest bench's duplicates; --distinct 1 is a retry storm on
// one message (before the duplicate path stopped writing the Lead, every
// delivery contended for that row).
// (Variants are made for EmailBison fixtures only; others run with 1.)
//
// Database: DATABASE_URL, else an embedded PostgreSQL in a temp directory.
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { Pool } from "undici";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const dist = (p) => import(path.join(ROOT, "dist", p));

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "50" },
    fixture: { type: "string", default: "emailbison/lead_replied.json" },
    distinct: { type: "string", default: "50" },
    servers: { type: "string", default: "in-process" },
    "no-batch": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
if (!["process", "in-process"].includes(args.servers)) throw new Error("--servers must be process or in-process");
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const BATCH = !args["no-batch"];

const [{ openDb }, { applyMigrations }, { startEmbeddedPostgres }, { createWebhookHandler }, { startNodeServer }, { loadFixtures }, { loadClientsConfig }, { upsertClients }, { buildDeliveryRequest, loadTestGhlKeys }] =
  await Promise.all([
    dist("db/client.js"),
    dist("db/migrate.js"),
    dist("db/embedded.js"),
    dist("providers/router.js"),
    dist("http/node-server.js"),
    dist("harness/fixtures.js"),
    dist("providers/client-config.js"),
    dist("providers/client-store.js"),
    dist("providers/sign.js"),
  ]);

const log = (line) => process.stderr.write(`${line}\n`);

async function prepareDatabase() {
  if (process.env.DATABASE_URL) {
    // A private database beside the given one, so the bench never touches real rows.
    const name = `dedupe_bench_${process.pid}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      source: "DATABASE_URL",
      async stop() {
        await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
        await admin.end();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-bench-"));
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg") });
  return {
    url: embedded.url,
    source: "embedded",
    async stop() {
      await embedded.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a server process that prints "listening on <url>"; returns its URL and a stop(). */
async function spawnServer(args) {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    let stdout = "";
    child.stdout.on("data", (d) => {
      stdout += d;
      const match = /listening on (\S+)/.exec(stdout);
      if (match) resolve(match[1].replace(/\/$/, ""));
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", resolve);
        child.kill("SIGTERM");
      }),
  };
}

/** `connections` workers, each sending back to back on a keep-alive pool, for `seconds` after a 1 s warm-up. */
async function measure(origin, requests) {
  const pool = new Pool(origin, { connections: CONNECTIONS, pipelining: 1 });
  let counting = false;
  let done = 0;
  let bad = 0;
  let stop = false;
  const worker = async (_, w) => {
    const request = requests[w % requests.length];
    while (!stop) {
      const res = await pool.request({ path: request.path, method: "POST", headers: request.headers, body: request.body });
      await res.body.text();
      if (!counting) continue;
      if (res.statusCode === 200) done++;
      else bad++;
    }
  };
  const workers = Array.from({ length: CONNECTIONS }, worker);
  await new Promise((r) => setTimeout(r, 1000));
  counting = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const elapsed = (performance.now() - started) / 1000;
  counting = false;
  stop = true;
  await Promise.all(workers);
  await pool.close();
  return { rps: done / elapsed, ok: done, errors: bad };
}

const database = await prepareDatabase();
const db = openDb({ url: database.url, poolSize: 64 });
try {
  await applyMigrations(database.url);
  const clients = loadClientsConfig(path.join(ROOT, "fixtures/clients.json")).clients;
  await upsertClients(db.prisma, clients);
  const [fixture] = loadFixtures([path.join(ROOT, "fixtures", args.fixture)]);
  const keys = loadTestGhlKeys();
  // The fixture client that owns this provider's workspace (and so its secret).
  const owner = clients.find((c) =>
    ({ emailbison: c.emailBisonWorkspaceId, ghl: c.ghlLocationId, unipile: c.unipileAccountId, smartlead: c.smartleadWebhookSecret, instantly: c.instantlyWorkspaceId })[fixture.provider],
  );

  // process: the real `dedupe-cli serve` and the bare server each in
  // their own process, as in production, with the load generator here;
  // in-process (default): both servers share this process's event loop with the generator.
  const inProcess = args.servers === "in-process";
  const server = inProcess
    ? await startNodeServer({
        // The handler options `dedupe-cli serve` uses (src/cli/serve.ts).
        handler: createWebhookHandler({ db: db.prisma, batchDeliveries: BATCH, ghlEd25519PublicKey: keys.ed25519PublicKey, ghlRsaPublicKey: keys.rsaPublicKey }),
        host: "127.0.0.1",
        port: 0,
        bodyLimit: 1024 * 1024,
      })
    : await spawnServer([path.join(ROOT, "bin/dedupe-cli.js"), "serve", "--port", "0", "--database-url", database.url, "--ghl-test-keys", "--pool-size", "64", ...(BATCH ? [] : ["--no-batch"])]);
  const distinct = fixture.provider === "emailbison" ? Math.max(1, Number(args.distinct)) : 1;
  const bodies = Array.from({ length: distinct }, (_, i) => {
    if (distinct === 1) return fixture.rawBody;
    const body = structuredClone(fixture.body);
    body.data.reply.id = 1_000_000 + i;
    body.data.lead.email = `bench-lead-${i}@example.com`;
    return Buffer.from(JSON.stringify(body));
  });
  const requests = bodies.map((rawBody) => {
    const signed = buildDeliveryRequest({ baseUrl: server.url, provider: fixture.provider, rawBody, client: owner, ghlKeys: keys });
    return { url: signed.url, path: `${signed.url.pathname}${signed.url.search}`, headers: signed.headers, body: signed.body };
  });

  // First deliveries create the messages; everything measured is a duplicate.
  let firstBody;
  for (const request of requests) {
    const first = await fetch(request.url, { method: "POST", headers: request.headers, body: request.body });
    firstBody = await first.json();
    if (first.status !== 200) throw new Error(`first delivery failed: ${first.status} ${JSON.stringify(firstBody)}`);
  }
  log(`serve: ${args.fixture} x${distinct} stored → ${JSON.stringify(firstBody)}; measuring duplicates for ${SECONDS}s at ${CONNECTIONS} connections...`);
  const serve = await measure(server.url, requests);
  await (inProcess ? server.close() : server.stop());
  const messages = await db.prisma.message.count();

  const answer = Buffer.from(JSON.stringify({ success: true, deduped: true, eventType: firstBody.eventType, messageId: firstBody.messageId }));
  let bareUrl;
  let stopBare;
  if (inProcess) {
    const bare = http.createServer((req, res) => {
      // Read the body like serve does, then answer the same bytes serve answers for a duplicate.
      req.on("data", () => undefined);
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json", "content-length": answer.length });
        res.end(answer);
      });
    });
    await new Promise((r) => bare.listen(0, "127.0.0.1", r));
    bareUrl = `http://127.0.0.1:${bare.address().port}`;
    stopBare = async () => {
      bare.closeAllConnections();
      await new Promise((r) => bare.close(r));
    };
  } else {
    const bare = await spawnServer([path.join(ROOT, "bench/_bare-server.mjs"), answer.toString()]);
    bareUrl = bare.url;
    stopBare = bare.stop;
  }
  log(`bare node:http: measuring for ${SECONDS}s at ${CONNECTIONS} connections...`);
  const baseline = await measure(bareUrl, requests);
  await stopBare();

  const result = {
    fixture: args.fixture,
    distinct,
    servers: args.servers,
    batch: BATCH,
    connections: CONNECTIONS,
    seconds: SECONDS,
    database: database.source,
    cpus: os.cpus().length,
    node: process.version,
    serveRps: Math.round(serve.rps),
    serveErrors: serve.errors,
    bareRps: Math.round(baseline.rps),
    ratio: Number((serve.rps / baseline.rps).toFixed(3)),
    messagesAfter: messages,
  };
  if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    process.stdout.write(
      `fixture:            ${args.fixture}, ${distinct} distinct stored message(s), ${CONNECTIONS} connections, ${SECONDS}s, servers ${args.servers}, ${BATCH ? "batched statements (serve default)" : "--no-batch"}\n` +
      `serve (duplicates): ${result.serveRps} req/s (${result.serveErrors} non-200)\n` +
        `bare node:http:     ${result.bareRps} req/s\n` +
        `ratio:              ${result.ratio} (target >= 0.2)\n` +
        `messages in db:     ${messages} (${distinct} stored before measuring; must not grow)\n`,
    );
  }
  if (serve.errors > 0 || messages > distinct) process.exitCode = 1;
} finally {
  await db.close();
  await database.stop();
}
