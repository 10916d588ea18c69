// bench/memory: peak RSS of a real `dedupe-cli race` (in-process, the built
// CLI in a child process) at N = 1,000 and N = 20,000, and their ratio in
// the same run. Memory must grow far slower than N: the engine keeps one
// small outcome per delivery (the invariants name witness slots), shares
// identical error texts, keeps at most 50 distinct ones whole, and calls at
// most 2 x the pool's size of deliveries at once (src/harness/deliver-*.ts).
//   node bench/memory.mjs [--sizes 1000,20000]      (build first: npm run build)
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { openDb } from "../dist/db/client.js";
import { loadClientsConfig } from "../dist/providers/client-config.js";
import { upsertClient } from "../dist/providers/client-store.js";
import { machine, openBenchDatabase } from "./_db.mjs";

const CLIENTS = fileURLToPath(new URL("../fixtures/clients.json", import.meta.url));
const BIN = fileURLToPath(new URL("../bin/dedupe-cli.js", import.meta.url));
const PRELOAD = fileURLToPath(new URL("./_peak-rss.mjs", import.meta.url));
const at = process.argv.indexOf("--sizes");
const SIZES = at > 0 ? process.argv[at + 1].split(",").map(Number) : [1000, 20000];

const database = await openBenchDatabase("memory");
console.log(`memory: ${machine()}, ${database.server}`);
const rows = [];
try {
  const setup = openDb({ url: database.url, poolSize: 2 });
  for (const client of loadClientsConfig(CLIENTS).clients) await upsertClient(setup.prisma, client);
  await setup.close();
  for (const n of SIZES) rows.push(await raceOnce(n));
} finally {
  await database.close();
}
console.log("\n| N | exit | verdict | status codes | peak RSS MB | wall s |");
console.log("| ---: | ---: | --- | --- | ---: | ---: |");
for (const r of rows) console.log(`| ${r.n} | ${r.code} | ${r.verdict} | ${r.statuses} | ${r.mb} | ${r.seconds} |`);
const [base, big] = [rows[0], rows.at(-1)];
console.log(`\n**peak RSS ratio N=${big.n} / N=${base.n}: ${(big.mb / base.mb).toFixed(2)}** (N ratio ${(big.n / base.n).toFixed(0)}; target: well under it)`);

function raceOnce(n) {
  const args = ["--import", PRELOAD, BIN, "race", "-n", String(n), "--no-crash-window", "--late", "none", "-j", "--database-url", database.url];
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CI: "true" } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) =>
    child.on("close", (code) => {
      const kb = Number(/peak-rss-kb (\d+)/.exec(stderr)?.[1] ?? NaN);
      let result = {};
      try {
        result = JSON.parse(stdout);
      } catch {
        console.error(stderr.slice(-2000));
      }
      if (code !== 0) console.error(`N=${n}: ${stderr.split("\n").filter((l) => /^error|^\S+ \S+ answered/.test(l)).join(" ")}`);
      resolve({
        n,
        code,
        verdict: result.verdict ?? "?",
        statuses: Object.entries(result.statusCounts ?? {}).map(([k, v]) => `${k}: ${v}`).join(", "),
        mb: Math.round(kb / 1024),
        seconds: ((performance.now() - started) / 1000).toFixed(1),
      });
    }),
  );
}
