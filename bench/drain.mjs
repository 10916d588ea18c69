#!/usr/bin/env node
// drain-jobs throughput beside graphile-worker 0.18 on the same PostgreSQL,
// rounds interleaved (so machine noise hits every runner alike), each runner
// in its own worker processes (bench/_drain-worker.mjs), ratios per round.
//
//   npm run build && node bench/drain.mjs [--jobs 20000] [--setups 1x10,4x24]
//       [--rounds 3] [--runners dedupe,dedupe-ahead,gw-default,gw-batched] [--batch 500]
//       [--base <built checkout of another commit> --runners dedupe-base,dedupe,...]
//       [--one-way-delay 0.5]
//
// Runners: dedupe (drain-jobs as shipped), dedupe-wait (without start
// connections: every handler waits for its start write's commit),
// dedupe-ahead (--start-ahead <concurrency>), gw-default, gw-batched, and
// three floors (bare loops sending a design's statements, no runner code:
// bench/_drain-worker.mjs runFloor): dedupe-floor (drain-jobs' statements
// and schema), split-floor and split-floor-norec (a prototype of a queue
// table apart from the job record, bench/_split-queue.mjs).
// --one-way-delay d puts a relay that delays each direction by d ms between
// the workers and the database (a database on another host). Each round
// also prints CPU per job: the worker processes', and every PostgreSQL
// process's on this machine (Linux).
//
// --jobs and --setups take lists: --jobs 2000,20000,200000 --setups 1x10,2x10,4x10
// is the scale curve. A setup PxC is P processes at concurrency C each.
// graphile-worker runs in its default configuration (gw-default) and in its
// published best one (gw-batched: localQueue 500, completeJobBatchDelay 0,
// failJobBatchDelay 0). Uses DATABASE_URL when set (a scratch database is
// created and dropped), else an embedded PostgreSQL in a temp directory.
import { spawn } from "node:child_process";
import fs from "node:fs";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { Logger, runMigrations as migrateGraphile } from "graphile-worker";
import { seedMessagesWithJobs } from "../dist/db/job-fixtures-sql.js";
import { openDb } from "../dist/db/client.js";
import { machine, openBenchDatabase } from "./_db.mjs";
import { clearSplitQueue, countSplitQueue, moveJobsToSplitQueue } from "./_split-queue.mjs";

const { values: args } = parseArgs({
  options: {
    jobs: { type: "string", default: "20000" },
    setups: { type: "string", default: "1x10,4x24" },
    rounds: { type: "string", default: "3" },
    runners: { type: "string", default: "dedupe,dedupe-ahead,gw-default,gw-batched" },
    batch: { type: "string", default: "500" },
    // 0 skips the warm-up round (for long runs such as the 200k-job scale point).
    warmup: { type: "string", default: "1" },
    // Another build of this repository (a checkout of an older commit, built):
    // its bench/_drain-worker.mjs runs as the runner "dedupe-base", for an
    // A/B of two versions in the same rounds. Its code runs on this
    // version's schema (the scratch database is migrated from here).
    base: { type: "string" },
    // Workers reach the database through a relay that delays each direction
    // by this many ms (bench/_delay-relay.mjs): a database on another host.
    "one-way-delay": { type: "string", default: "0" },
  },
});
const JOB_COUNTS = args.jobs.split(",").map(Number);
const SETUPS = args.setups.split(",").map((s) => {
  const [p, c] = s.split("x").map(Number);
  return { processes: p, concurrency: c, label: s };
});
const ROUNDS = Number(args.rounds);
const RUNNERS = args.runners.split(",");
const KNOWN_RUNNERS = ["dedupe", "dedupe-wait", "dedupe-ahead", "dedupe-base", "dedupe-floor", "split-floor", "split-floor-norec", "gw-default", "gw-batched"];
for (const runner of RUNNERS) if (!KNOWN_RUNNERS.includes(runner)) throw new Error(`unknown runner ${runner}; known: ${KNOWN_RUNNERS.join(", ")}`);
if (RUNNERS.includes("dedupe-base") && !args.base) throw new Error("--runners dedupe-base needs --base <built checkout>");
const BATCH = Number(args.batch);
// Every drain-jobs runner against every graphile-worker one.
const pairs = RUNNERS.filter((n) => n.startsWith("dedupe") || n.startsWith("split")).flatMap((d) => RUNNERS.filter((n) => n.startsWith("gw")).map((g) => [d, g]));
// And, in an A/B, every other drain-jobs runner against the base build.
if (RUNNERS.includes("dedupe-base")) pairs.push(...RUNNERS.filter((n) => n.startsWith("dedupe") && n !== "dedupe-base").map((d) => [d, "dedupe-base"]));
const WORKER = fileURLToPath(new URL("./_drain-worker.mjs", import.meta.url));
const DELAY_MS = Number(args["one-way-delay"]);

/** The URL workers use: the database itself, or a delaying relay in front of it. */
async function startWorkerUrl(url) {
  if (!(DELAY_MS > 0)) return { url, stop: () => undefined };
  const target = new URL(url);
  const relay = spawn(process.execPath, [fileURLToPath(new URL("./_delay-relay.mjs", import.meta.url)), target.hostname, target.port || "5432", String(DELAY_MS)], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    readline.createInterface({ input: relay.stdout }).once("line", resolve);
    relay.once("exit", (code) => reject(new Error(`delay relay exited (${code})`)));
  });
  const relayed = new URL(url);
  relayed.hostname = "127.0.0.1";
  relayed.port = port;
  return { url: relayed.toString(), stop: () => relay.stdin.end() };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * CPU time (ms) of every PostgreSQL process on this machine, exited backends
 * included (the postmaster's children's time). Linux only; undefined
 * elsewhere. With DATABASE_URL on a shared server it also counts others' work.
 */
function readPostgresCpuMs() {
  if (process.platform !== "linux") return undefined;
  const tick = 10; // ms per clock tick (USER_HZ 100)
  let total = 0;
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "postgres") continue;
      const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      // utime, stime, cutime, cstime (fields 14-17 of stat)
      total += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * tick;
    } catch {
      // The process went away while we read it.
    }
  }
  return total;
}

function silentLogger() {
  return new Logger(() => (level, message) => {
    if (level === "error") console.error(`graphile-worker: ${message}`);
  });
}

/** Starts one worker process and resolves once it printed "ready". */
function startWorker(runner, url, concurrency) {
  const [file, as] = runner === "dedupe-base" ? [`${args.base}/bench/_drain-worker.mjs`, "dedupe"] : [WORKER, runner];
  const child = spawn(process.execPath, [file, as, url, String(concurrency), String(BATCH)], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = readline.createInterface({ input: child.stdout });
  let last;
  const ready = new Promise((resolve, reject) => {
    lines.on("line", (line) => {
      if (line === "ready") resolve();
      else last = line;
    });
    child.on("exit", (code) => reject(new Error(`${runner} worker exited (${code}) before it was ready`)));
  });
  const exited = new Promise((resolve) => child.on("exit", () => resolve(last ? JSON.parse(last) : {})));
  return { child, ready, exited, send: (word) => child.stdin.write(`${word}\n`) };
}

const isSplit = (runner) => runner.startsWith("split");
// Every runner on drain-jobs' schema (the split prototype seeds it, then moves the jobs).
const isDedupe = (runner) => runner.startsWith("dedupe") || isSplit(runner);

async function enqueue(runner, pool, db, clientId, jobs, tag) {
  if (isDedupe(runner)) {
    await seedMessagesWithJobs(db.prisma, { clientId, prefix: `bench-${tag}`, messages: jobs, leads: 100, types: ["EMAIL_INBOUND_POST_PROCESS"] });
    await pool.query(`VACUUM ANALYZE "BackgroundJob"`);
    if (isSplit(runner)) await moveJobsToSplitQueue(pool);
  } else {
    await pool.query(
      `SELECT graphile_worker.add_jobs(array(
         SELECT json_populate_record(null::graphile_worker.job_spec, json_build_object('identifier', 'noop', 'payload', json_build_object('i', g)))
         FROM generate_series(1, $1::int) g))`,
      [jobs],
    );
    await pool.query(`VACUUM ANALYZE graphile_worker._private_jobs`);
  }
}

const remaining = async (runner, pool) =>
  isSplit(runner)
    ? countSplitQueue(pool)
    : isDedupe(runner)
    ? (await pool.query(`SELECT count(*)::int AS n FROM "BackgroundJob" WHERE "status" IN ('PENDING', 'RUNNING')`)).rows[0].n
    : (await pool.query(`SELECT count(*)::int AS n FROM graphile_worker._private_jobs`)).rows[0].n;

/** One timed drain: workers started and ready, "go", until the queue is empty. Returns jobs/s and peak RSS per worker. */
async function drainOnce(runner, setup, jobs, ctx, tag) {
  await enqueue(runner, ctx.pool, ctx.db, ctx.clientId, jobs, tag);
  const workers = Array.from({ length: setup.processes }, () => startWorker(runner, ctx.url, setup.concurrency));
  await Promise.all(workers.map((w) => w.ready));
  const pgCpuBefore = readPostgresCpuMs();
  const started = performance.now();
  for (const w of workers) w.send("go");
  while ((await remaining(runner, ctx.pool)) > 0) await sleep(10);
  const seconds = (performance.now() - started) / 1000;
  const pgCpuMs = pgCpuBefore === undefined ? undefined : readPostgresCpuMs() - pgCpuBefore;
  for (const w of workers) w.send("stop");
  const reports = await Promise.all(workers.map((w) => w.exited));
  if (isDedupe(runner)) {
    const done = reports.reduce((n, r) => n + (r.done ?? 0), 0);
    if (done !== jobs) throw new Error(`dedupe workers report ${done}/${jobs} succeeded`);
    const failed = (await ctx.pool.query(`SELECT count(*)::int AS n FROM "BackgroundJob" WHERE "status" <> 'SUCCEEDED'`)).rows[0].n;
    if (failed > 0) throw new Error(`${failed} dedupe jobs did not succeed`);
    if (isSplit(runner)) await clearSplitQueue(ctx.pool, runner !== "split-floor-norec");
    await ctx.pool.query(`TRUNCATE "BackgroundJob", "AIDraft", "Message", "Lead"`);
  }
  return {
    jobsPerSecond: jobs / seconds,
    maxRssMb: Math.max(...reports.map((r) => (r.maxRssKb ?? 0) / 1024)),
    // CPU per job, worker processes and PostgreSQL: on a machine with few cores this is what caps jobs/s.
    workerCpuUsPerJob: reports.reduce((n, r) => n + (r.cpuUs ?? 0), 0) / jobs,
    pgCpuUsPerJob: pgCpuMs === undefined ? undefined : (pgCpuMs * 1000) / jobs,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x) => Math.round(x).toString();

const scratch = await openBenchDatabase("drain");
// Interrupted: still drop the scratch database and stop the embedded server.
for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => void scratch.close().finally(() => process.exit(130)));
const results = [];
let stopRelay = () => undefined;
try {
  await migrateGraphile({ connectionString: scratch.url, logger: silentLogger() });
  const db = openDb({ url: scratch.url, poolSize: 2 });
  const pool = new pg.Pool({ connectionString: scratch.url, max: 2 });
  const client = await db.prisma.client.create({ data: { slug: "bench", name: "bench" } });
  const workerUrl = await startWorkerUrl(scratch.url);
  stopRelay = workerUrl.stop;
  const ctx = { url: workerUrl.url, pool, db, clientId: client.id };
  let tag = 0;
  for (const jobs of JOB_COUNTS) {
    for (const setup of SETUPS) {
      const rounds = [];
      for (let round = args.warmup === "0" ? 1 : 0; round <= ROUNDS; round++) {
        const r = {};
        // Interleaved: every runner once per round, order rotated so none always goes first.
        const order = RUNNERS.map((_, i) => RUNNERS[(i + round) % RUNNERS.length]);
        for (const runner of order) r[runner] = await drainOnce(runner, setup, jobs, ctx, tag++);
        const line = RUNNERS.map((n) => `${n} ${fmt(r[n].jobsPerSecond)}`).join(", ");
        const ratios = pairs.map(([d, g]) => `${d}/${g} ${(r[d].jobsPerSecond / r[g].jobsPerSecond).toFixed(2)}`).join(", ");
        console.error(`${jobs} jobs ${setup.label} round ${round}${round === 0 ? " (warm-up)" : ""}: ${line} jobs/s; ${ratios}`);
        const cpu = RUNNERS.map((n) => `${n} ${fmt(r[n].workerCpuUsPerJob)}+${r[n].pgCpuUsPerJob === undefined ? "?" : fmt(r[n].pgCpuUsPerJob)}`).join(", ");
        console.error(`  CPU us/job (workers+postgres): ${cpu}`);
        if (round > 0) rounds.push(r);
      }
      const summary = { jobs, setup: setup.label, rounds: rounds.length, medianJobsPerSecond: {}, medianCpuUsPerJob: {}, peakRssMbPerWorker: {}, ratiosPerRound: {} };
      for (const n of RUNNERS) {
        summary.medianJobsPerSecond[n] = Math.round(median(rounds.map((r) => r[n].jobsPerSecond)));
        const pg = rounds.every((r) => r[n].pgCpuUsPerJob !== undefined) ? Math.round(median(rounds.map((r) => r[n].pgCpuUsPerJob))) : undefined;
        summary.medianCpuUsPerJob[n] = { workers: Math.round(median(rounds.map((r) => r[n].workerCpuUsPerJob))), postgres: pg };
        summary.peakRssMbPerWorker[n] = Math.round(Math.max(...rounds.map((r) => r[n].maxRssMb)));
      }
      for (const [d, g] of pairs) summary.ratiosPerRound[`${d}/${g}`] = rounds.map((r) => +(r[d].jobsPerSecond / r[g].jobsPerSecond).toFixed(2));
      results.push(summary);
    }
  }
  console.log(JSON.stringify({ machine: machine(), database: scratch.server, oneWayDelayMs: DELAY_MS, batch: BATCH, results }, null, 2));
  await pool.end();
  await db.close();
} finally {
  stopRelay();
  // Dropping the scratch database terminates connections a stopped pool may still hold (57P01): expected.
  process.on("uncaughtException", (error) => {
    if (error?.code !== "57P01") throw error;
  });
  await scratch.close();
}
