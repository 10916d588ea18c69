// One worker process for bench/drain.mjs. Prints "ready" once imported and
// connected enough to start, runs on "go" (stdin), stops on "stop" (stdin)
// and prints {"maxRssKb": ...} before exiting. The parent times the drain
// from "go" until the queue is empty, the same way for every runner.
//
//   node bench/_drain-worker.mjs <runner> <url> <concurrency> [batch]
//
// dedupe-ahead is drain-jobs with --start-ahead <concurrency>; dedupe-wait is
// drain-jobs without its start connections (every handler waits for its
// start write's commit, the default before they existed); dedupe-floor,
// split-floor and split-floor-norec are bare loops (runFloor below).
import readline from "node:readline";
import { Logger, run as runGraphile } from "graphile-worker";
import { openDb } from "../dist/db/client.js";
import { drainJobs } from "../dist/jobs/runner.js";
import { claimJobs, buildStartAndCompleteSql } from "../dist/db/jobs-sql.js";
import { toPgQuery } from "../dist/db/sql.js";
import pg from "pg";
import { claimSplitSql, startAndCompleteSplitSql } from "./_split-queue.mjs";

const [runner, url, concurrencyArg, batchArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const batch = Number(batchArg ?? 500);
const noop = async () => undefined;

const lines = readline.createInterface({ input: process.stdin });
const commands = lines[Symbol.asyncIterator]();
const waitFor = async (word) => {
  for (;;) {
    const { value, done } = await commands.next();
    if (done || value.trim() === word) return;
  }
};

function silentLogger() {
  return new Logger(() => (level, message) => {
    if (level === "error") console.error(`graphile-worker: ${message}`);
  });
}

let cpuAtGo;

async function runDedupe(startAhead, startConnections) {
  const db = openDb({ url, poolSize: concurrency + 4 });
  await db.prisma.$queryRaw`SELECT 1`;
  console.log("ready");
  await waitFor("go");
  cpuAtGo = process.cpuUsage();
  // --once per process: each exits its drain when nothing is due (re-checked after recovery).
  const summary = await drainJobs(db, { concurrency, batch, startAhead, startConnections, builtins: false, handlers: { EMAIL_INBOUND_POST_PROCESS: noop } });
  await waitFor("stop");
  await db.close();
  return summary.totals.succeeded;
}

/**
 * The floor of a design: its claim, start and completion statements sent by
 * a bare loop with none of the runner's bookkeeping (leases, renewals,
 * shutdown, errors, outcomes' fallbacks), no-op handlers run in waves of
 * `concurrency`: every wave's start write (carrying the previous wave's
 * completions) is sent before its handlers run, at most two in flight, as
 * drain-jobs' start connections do. "dedupe-floor": drain-jobs' own
 * statements on its schema. "split-floor", "split-floor-norec": the
 * prototype in bench/_split-queue.mjs. Not a runner anyone should use: it
 * keeps no guarantee when anything fails. It shows what a design costs
 * before any runner code runs.
 */
async function runFloor(runnerName) {
  const split = runnerName.startsWith("split");
  const withRecord = runnerName !== "split-floor-norec";
  const db = openDb({ url, poolSize: 2 });
  await db.prisma.$queryRaw`SELECT 1`;
  const conns = [new pg.Client({ connectionString: url }), new pg.Client({ connectionString: url })];
  await Promise.all(conns.map((c) => c.connect()));
  console.log("ready");
  await waitFor("go");
  cpuAtGo = process.cpuUsage();
  const workerId = `floor-${process.pid}`;
  const attempt = (r) => ({ id: r.id, attempts: r.attempts });
  const queue = [];
  let exhausted = false;
  let claiming;
  const claim = () =>
    (claiming ??= (split ? db.pool.query(claimSplitSql(workerId, batch)).then((r) => r.rows) : claimJobs(db.prisma, workerId, batch, ["EMAIL_INBOUND_POST_PROCESS"], 30_000)).then((rows) => {
      claiming = undefined;
      if (rows.length === 0) exhausted = true;
      queue.push(...rows);
    }));
  const inflight = [];
  let turn = 0;
  let done = 0;
  let finished = [];
  const send = (starts, completions) => {
    const sql = split
      ? startAndCompleteSplitSql(workerId, starts.map(attempt), completions.map(attempt), withRecord)
      : toPgQuery(buildStartAndCompleteSql(workerId, starts.map(attempt), completions.map(attempt), 300_000), true);
    const p = conns[turn++ % 2].query(sql).then((r) => {
      done += r.rows.filter((x) => x.kind === "c").length;
    });
    inflight.push(p);
  };
  for (;;) {
    if (queue.length < batch / 2 && !exhausted) void claim();
    if (queue.length === 0) {
      if (claiming) await claiming;
      if (queue.length === 0 && exhausted) break;
      continue;
    }
    const wave = queue.splice(0, concurrency);
    // The older statement's connection must be idle before it takes the next.
    if (inflight.length >= 2) await inflight.shift();
    // Unlike the runner, a completion does not wait for its start's answer:
    // it rides the next wave's statement, which may reach PostgreSQL on the
    // other connection first. Fine for a floor (the same rows are written).
    send(wave, finished);
    finished = wave; // the no-op handlers ran
  }
  if (finished.length) send([], finished);
  await Promise.all(inflight);
  await waitFor("stop");
  await Promise.all(conns.map((c) => c.end()));
  await db.close();
  return done;
}

async function runGw(batched) {
  console.log("ready");
  await waitFor("go");
  cpuAtGo = process.cpuUsage();
  const worker = {
    connectionString: url,
    concurrentJobs: concurrency,
    maxPoolSize: concurrency + 2,
    pollInterval: 1000,
    ...(batched ? { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } : {}),
  };
  const gw = await runGraphile({ preset: { worker }, noHandleSignals: true, logger: silentLogger(), taskList: { noop } });
  await waitFor("stop");
  await gw.stop();
  return undefined;
}

const FLOORS = ["dedupe-floor", "split-floor", "split-floor-norec"];
const done = FLOORS.includes(runner) ? await runFloor(runner) : runner.startsWith("dedupe") ? await runDedupe(runner === "dedupe-ahead" ? concurrency : 0, runner === "dedupe-wait" ? 0 : undefined) : await runGw(runner === "gw-batched");
const cpu = process.cpuUsage(cpuAtGo);
console.log(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, done, cpuUs: cpu.user + cpu.system }));
process.exit(0);
