// npm run bench [-- name...]: runs the benchmarks (all by default) one after
// another, each in its own process so they do not disturb each other.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const all = ["ingest", "serve", "race", "drain"].filter((name) => fs.existsSync(`${dir}/${name}.mjs`));
const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const names = wanted.length > 0 ? wanted : all;
let failed = 0;
for (const name of names) {
  if (!all.includes(name)) {
    console.error(`no benchmark named ${name} (have: ${all.join(", ")})`);
    process.exit(2);
  }
  console.log(`\n=== bench/${name}`);
  const result = spawnSync(process.execPath, [`${dir}/${name}.mjs`, ...process.argv.slice(2).filter((a) => a.startsWith("-"))], { stdio: "inherit" });
  if (result.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
