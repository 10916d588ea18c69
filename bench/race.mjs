// bench/race: time to verdict and release spread of `race` for N = 50, 500
// and 5000, in-process and over HTTP against a real `serve`; and the HTTP
// engine's raw delivery rate against a bare node:http server, beside
// autocannon against the same server in the same run.
//   node bench/race.mjs [--quick]      (build first: npm run build)
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { openDb } from "../dist/db/client.js";
import { createHttpEngine } from "../dist/harness/deliver-http.js";
import { DEFAULT_RACE_FIXTURE } from "../dist/harness/deliveries.js";
import { runRace } from "../dist/harness/race.js";
import { loadClientsConfig } from "../dist/providers/client-config.js";
import { upsertClient } from "../dist/providers/client-store.js";
import { machine, openBenchDatabase } from "./_db.mjs";

const quick = process.argv.includes("--quick");
const SIZES = quick ? [50, 500] : [50, 500, 5000];
const MAX_POOL = 500;
const BIN = fileURLToPath(new URL("../bin/dedupe-cli.js", import.meta.url));
const CLIENTS = fileURLToPath(new URL("../fixtures/clients.json", import.meta.url));

const database = await openBenchDatabase("race");
console.log(`race: ${machine()}, ${database.server}`);
const rows = [];
try {
  const setup = openDb({ url: database.url, poolSize: 2 });
  for (const client of loadClientsConfig(CLIENTS).clients) await upsertClient(setup.prisma, client);
  await setup.close();

  for (const n of SIZES) rows.push(await raceInProcess(n));
  const serve = await startServe(database.url);
  try {
    for (const n of SIZES) rows.push(await raceHttp(n, serve.url));
  } finally {
    await serve.stop();
  }
  console.log("\n| mode | N | verdict | time to verdict ms | release spread ms | concurrency | p50 ms | p99 ms |");
  console.log("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
  for (const r of rows) console.log(`| ${r.mode} | ${r.n} | ${r.verdict} | ${r.ms} | ${r.spread} | ${r.concurrency} | ${r.p50} | ${r.p99} |`);

  const rate = await compareDeliveryRate();
  console.log(`\n| client vs bare node:http (${rate.connections} connections, ${rate.total} POSTs, best of 3) | requests/s |`);
  console.log("| --- | ---: |");
  console.log(`| autocannon | ${rate.autocannon} |`);
  console.log(`| harness HTTP engine | ${rate.harness} |`);
  console.log(`| **ratio harness / autocannon** | **${(rate.harness / rate.autocannon).toFixed(2)}** (target >= 0.8) |`);
} finally {
  await database.close();
}

function summarise(mode, n, started, result) {
  const c = result.cases[0];
  return {
    mode,
    n,
    verdict: result.verdict,
    ms: Math.round(performance.now() - started),
    spread: c?.releaseSpreadMs?.toFixed(2),
    concurrency: c?.peakConcurrency,
    p50: c?.latency.p50,
    p99: c?.latency.p99,
  };
}

async function raceInProcess(n) {
  const poolSize = Math.min(n + 10, MAX_POOL);
  const started = performance.now();
  const db = openDb({ url: database.url, poolSize });
  try {
    // Time to verdict includes opening and warming the pool, as the CLI does.
    const warm = await Promise.all(Array.from({ length: Math.min(n, poolSize) }, () => db.pool.connect()));
    for (const c of warm) c.release();
    const result = await runRace({ db, paths: [DEFAULT_RACE_FIXTURE], n, concurrencyCap: poolSize });
    return summarise("in-process", n, started, result);
  } finally {
    await db.close();
  }
}

async function raceHttp(n, target) {
  const started = performance.now();
  const db = openDb({ url: database.url, poolSize: 4 });
  try {
    const result = await runRace({ db, paths: [DEFAULT_RACE_FIXTURE], n, target: { kind: "http", baseUrl: target }, timeoutMs: 120_000 });
    return summarise("http (serve)", n, started, result);
  } finally {
    await db.close();
  }
}

function startServe(url) {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--database-url", url, "--ghl-test-keys", "--pool-size", "64"], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const match = /listening on (\S+)/.exec(out);
      if (match) resolve({ url: match[1], stop: () => new Promise((r) => (child.once("exit", r), child.kill("SIGTERM"))) });
    });
    child.once("exit", (code) => reject(new Error(`serve exited ${code}`)));
  });
}

/** A bare server in a child process, so the two clients share the CPU with it the same way. */
function startBareServer() {
  const code = `
    const http = require("node:http");
    const answer = JSON.stringify({ success: true, deduped: true, eventType: "X", messageId: null });
    http.createServer((req, res) => { req.resume(); req.on("end", () => { res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(answer) }); res.end(answer); }); })
      .listen(0, "127.0.0.1", function () { console.log(this.address().port); });`;
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve) => child.stdout.once("data", (d) => resolve({ url: `http://127.0.0.1:${String(d).trim()}`, stop: () => child.kill() })));
}

async function compareDeliveryRate() {
  const server = await startBareServer();
  const connections = 50;
  const total = quick ? 20_000 : 50_000;
  const body = Buffer.from(JSON.stringify({ event: { type: "LEAD_REPLIED" }, data: { reply: { id: 1 } } }));
  const best = { autocannon: 0, harness: 0 };
  try {
    for (let round = 0; round < 3; round++) {
      // Both timed by wall clock around the whole run, counting 2xx answers only.
      const acStarted = performance.now();
      const ac = await autocannon({ url: `${server.url}/x`, method: "POST", connections, amount: total, body, headers: { "content-type": "application/json" } });
      const acSeconds = (performance.now() - acStarted) / 1000;
      best.autocannon = Math.max(best.autocannon, Math.round(ac["2xx"] / acSeconds));
      const engine = createHttpEngine();
      const deliveries = Array.from({ length: total }, (_, slot) => ({ slot, url: new URL(`${server.url}/x`), headers: { "content-type": "application/json" }, body }));
      const started = performance.now();
      const outcomes = await engine.send(deliveries, connections);
      const seconds = (performance.now() - started) / 1000;
      await engine.close();
      const ok = outcomes.filter((o) => o.status === 200).length;
      best.harness = Math.max(best.harness, Math.round(ok / seconds));
    }
  } finally {
    server.stop();
  }
  return { ...best, connections, total };
}
