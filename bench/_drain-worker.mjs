// One worker process for bench/drain.mjs. Prints "ready" once imported and
// connected enough to start, runs on "go" (stdin), stops on "stop" (stdin)
// and prints {"maxRssKb": ...} before exiting. The parent times the drain
// from "go" until the queue is empty, the same way for every runner.
//
//   node bench/_drain-worker.mjs <dedupe|dedupe-ahead|gw-default|gw-batched> <url> <concurrency> [batch]
//
// dedupe-ahead is drain-jobs with --start-ahead <concurrency>.
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

async function runDedupe(startAhead) {
  const db = openDb({ url, poolSize: concurrency + 4 });
  await db.prisma.$queryRaw`SELECT 1`;
  console.log("ready");
  await waitFor("go");
  // --once per process: each exits its drain when nothing is due (re-checked after recovery).
  const summary = await drainJobs(db, { concurrency, batch, startAhead, builtins: false, handlers: { EMAIL_INBOUND_POST_PROCESS: noop } });
  await waitFor("stop");
  await db.close();
  return summary.totals.succeeded;
}

async function runGw(batched) {
  console.log("ready");
  await waitFor("go");
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

const done = runner.startsWith("dedupe") ? await runDedupe(runner === "dedupe-ahead" ? concurrency : 0) : await runGw(runner === "gw-batched");
console.log(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, done }));
process.exit(0);
