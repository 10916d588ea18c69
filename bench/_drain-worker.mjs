// One worker process for bench/drain.mjs. Prints "ready" once imported and
// connected enough to start, runs on "go" (stdin), stops on "stop" (stdin)
// and prints {"maxRssKb": ...} before exiting. The parent times the drain
// from "go" until the queue is empty, the same way for every runner.
//
//   node bench/_drain-worker.mjs <dedupe|dedupe-ahead|gw-default|gw-batched> <url> <concurrency> [batch]
//
// dedupe-ahead is drain-jobs with --start-ahead <concurrency>; dedupe-wait is
// drain-jobs without its start connections (every handler waits for its
// start write's commit, the default before they existed).
import readline from "node:readline";
import { Logger, run as runGraphile } from "graphile-worker";
import { openDb } from "../dist/db/client.js";
import { drainJobs } from "../dist/jobs/runner.js";

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

const done = runner.startsWith("dedupe") ? await runDedupe(runner === "dedupe-ahead" ? concurrency : 0, runner === "dedupe-wait" ? 0 : undefined) : await runGw(runner === "gw-batched");
const cpu = process.cpuUsage(cpuAtGo);
console.log(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, done, cpuUs: cpu.user + cpu.system }));
process.exit(0);
