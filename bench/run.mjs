// npm run bench [-- name... [--flag value...]]: runs the benchmarks (all by
// default) one after another, each in its own process so they do not disturb
// each other. Everything from the first --flag on goes to each benchmark as
// is, values included (`npm run bench -- drain --jobs 5000`).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const all = ["ingest", "serve", "race", "drain", "memory"].filter((name) => fs.existsSync(`${dir}/${name}.mjs`));
const args = process.argv.slice(2);
const firstFlag = args.findIndex((a) => a.startsWith("-"));
const wanted = firstFlag < 0 ? args : args.slice(0, firstFlag);
const passed = firstFlag < 0 ? [] : args.slice(firstFlag);
const names = wanted.length > 0 ? wanted : all;
let failed = 0;
for (const name of names) {
  if (!all.includes(name)) {
    console.error(`no benchmark named ${name} (have: ${all.join(", ")})`);
    process.exit(2);
  }
  console.log(`\n=== bench/${name}`);
  const result = spawnSync(process.execPath, [`${dir}/${name}.mjs`, ...passed], { stdio: "inherit" });
  if (result.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
