#!/usr/bin/env node
// drain-jobs throughput and latency, beside graphile-worker on the same
// PostgreSQL in the same run (so machine noise hits both alike).
//
//   npx tsc -p tsconfig.json && node bench/drain.mjs [--jobs 20000] [--concurrency 10]
//
// Uses DATABASE_URL when set (a scratch database is created and dropped),
// else an embedded PostgreSQL in a temp directory. graphile-worker is pinned
// to 0.16.6 (the last release supporting Node 20); it has no localQueue or
// batched completion (those arrived in 0.17), so it runs with its 0.16
// options: concurrency, maxPoolSize, pollInterval, and prepared statements
// (on by default; `preparedStatements` is not a run() option in 0.16).
import { parseArgs } from "node:util";
import pg from "pg";
import { Logger, run as runGraphile, runMigrations as migrateGraphile } from "graphile-worker";
import { openDb } from "../dist/db/client.js";
import { seedMessagesWithJobs } from "../dist/db/job-fixtures-sql.js";
import { drainJobs } from "../dist/jobs/runner.js";
import { enqueueBackgroundJob } from "../dist/core/jobs.js";
import { machine, openBenchDatabase } from "./_db.mjs";

const { values: args } = parseArgs({
  options: {
    jobs: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "10" },
    batch: { type: "string", default: "500" },
    latency: { type: "string", default: "30" },
  },
});
const JOBS = Number(args.jobs);
const CONCURRENCY = Number(args.concurrency);
const BATCH = Number(args.batch);
const LATENCY_SAMPLES = Number(args.latency);
const noop = async () => undefined;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function benchDedupe(db, clientId, round) {
  await seedMessagesWithJobs(db.prisma, { clientId, prefix: `bench-${round}`, messages: JOBS, leads: 100, types: ["EMAIL_INBOUND_POST_PROCESS"] });
  await db.prisma.$executeRaw`VACUUM ANALYZE "BackgroundJob"`;
  const started = performance.now();
  const summary = await drainJobs(db, {
    concurrency: CONCURRENCY,
    batch: BATCH,
    builtins: false,
    handlers: { EMAIL_INBOUND_POST_PROCESS: noop },
  });
  const seconds = (performance.now() - started) / 1000;
  if (summary.totals.succeeded !== JOBS) throw new Error(`dedupe drained ${summary.totals.succeeded}/${JOBS}`);
  return JOBS / seconds;
}

async function benchGraphile(pool, url) {
  await pool.query(
    `SELECT graphile_worker.add_jobs(array(
       SELECT json_populate_record(null::graphile_worker.job_spec, json_build_object('identifier', 'noop', 'payload', json_build_object('i', g)))
       FROM generate_series(1, $1::int) g))`,
    [JOBS],
  );
  await pool.query(`VACUUM ANALYZE graphile_worker._private_jobs`);
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  const started = performance.now();
  const runner = await runGraphile({
    connectionString: url,
    concurrency: CONCURRENCY,
    maxPoolSize: CONCURRENCY + 2,
    pollInterval: 1000,
    noHandleSignals: true,
    logger: silentGraphileLogger(),
    taskList: {
      noop: async () => {
        if (++done === JOBS) finish();
      },
    },
  });
  await finished;
  // job:success fires before the completion write; wait for the table to empty.
  while ((await pool.query(`SELECT count(*)::int AS n FROM graphile_worker._private_jobs`)).rows[0].n > 0) await sleep(5);
  const seconds = (performance.now() - started) / 1000;
  await runner.stop();
  return JOBS / seconds;
}

async function latencyDedupe(db, clientId) {
  const samples = [];
  let resolveStart;
  const stop = new AbortController();
  const draining = drainJobs(db, {
    mode: "watch",
    pollIntervalMs: 10_000,
    signal: stop.signal,
    builtins: false,
    handlers: { SMS_INBOUND_POST_PROCESS: () => resolveStart(performance.now()) },
  });
  await sleep(300);
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const started = new Promise((r) => (resolveStart = r));
    const t0 = performance.now();
    await enqueueBackgroundJob(db.prisma, { type: "SMS_INBOUND_POST_PROCESS", clientId, leadId: null, messageId: null, dedupeKey: `latency:${i}` });
    samples.push((await started) - t0);
    await sleep(20);
  }
  stop.abort();
  await draining;
  return describeLatency(samples);
}

async function latencyGraphile(url) {
  const samples = [];
  let resolveStart;
  const runner = await runGraphile({
    connectionString: url,
    concurrency: CONCURRENCY,
    pollInterval: 10_000,
    noHandleSignals: true,
    logger: silentGraphileLogger(),
    taskList: { ping: async () => resolveStart(performance.now()) },
  });
  await sleep(300);
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const started = new Promise((r) => (resolveStart = r));
    const t0 = performance.now();
    await runner.addJob("ping", {});
    samples.push((await started) - t0);
    await sleep(20);
  }
  await runner.stop();
  return describeLatency(samples);
}

function describeLatency(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: +at(0.5).toFixed(1), p95: +at(0.95).toFixed(1), max: +sorted.at(-1).toFixed(1) };
}

function silentGraphileLogger() {
  // Only errors matter here; its per-job info lines would dominate the output.
  return new Logger(() => (level, message) => {
    if (level === "error") console.error(`graphile-worker: ${message}`);
  });
}

const scratch = await openBenchDatabase("drain");
try {
  await migrateGraphile({ connectionString: scratch.url, logger: silentGraphileLogger() });
  const db = openDb({ url: scratch.url, poolSize: CONCURRENCY + 4 });
  const gwPool = new pg.Pool({ connectionString: scratch.url, max: 2 });
  const client = await db.prisma.client.create({ data: { slug: "bench", name: "bench" } });

  // Warm-up round each (JIT, plan caches), then measured rounds interleaved.
  const rounds = { dedupe: [], graphile: [] };
  for (let round = 0; round < 3; round++) {
    const d = await benchDedupe(db, client.id, round);
    const g = await benchGraphile(gwPool, scratch.url);
    if (round > 0) {
      rounds.dedupe.push(d);
      rounds.graphile.push(g);
    }
    console.error(`round ${round}${round === 0 ? " (warm-up)" : ""}: dedupe ${d.toFixed(0)} jobs/s, graphile-worker ${g.toFixed(0)} jobs/s`);
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const dedupeRate = mean(rounds.dedupe);
  const graphileRate = mean(rounds.graphile);
  const latency = { dedupe: await latencyDedupe(db, client.id), graphile: await latencyGraphile(scratch.url) };
  const result = {
    jobs: JOBS,
    concurrency: CONCURRENCY,
    batch: BATCH,
    machine: machine(),
    database: scratch.server,
    dedupeJobsPerSecond: Math.round(dedupeRate),
    graphileWorkerJobsPerSecond: Math.round(graphileRate),
    ratio: +(dedupeRate / graphileRate).toFixed(2),
    watchLatencyMs: latency,
  };
  console.log(JSON.stringify(result, null, 2));
  await gwPool.end();
  await db.close();
} finally {
  // Dropping the scratch database terminates any connection a stopped
  // graphile-worker pool still has open (57P01); that is expected, not a failure.
  process.on("uncaughtException", (error) => {
    if (error?.code !== "57P01") throw error;
  });
  await scratch.close();
}
