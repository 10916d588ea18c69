#!/usr/bin/env node
// The install path a new user takes before dedupe-cli is published:
// `npm pack` this checkout, install the tarball into a fresh project, then
// run `npx dedupe-cli --help` and a short `npx dedupe-cli verify` there.
// Prints each step's wall time; exits non-zero on the first failure.
//   node scripts/check-install.mjs [--keep]
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const work = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-install-"));
const project = path.join(work, "app");
fs.mkdirSync(project);
const env = { ...process.env };
delete env.DATABASE_URL;
delete env.DEDUPE_HOME;

function step(name, command, args, cwd) {
  const began = performance.now();
  const r = spawnSync(command, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const seconds = ((performance.now() - began) / 1000).toFixed(1);
  console.log(`${r.status === 0 ? "ok  " : "FAIL"} ${seconds.padStart(6)} s  ${name}`);
  if (r.status !== 0) {
    console.log(r.stdout.slice(-2000), r.stderr.slice(-2000));
    process.exit(1);
  }
  return r;
}

try {
  const pack = step("npm pack", "npm", ["pack", "--pack-destination", work, "--ignore-scripts", "--silent"], root);
  const tarball = path.join(work, pack.stdout.trim().split("\n").pop());
  step("npm init -y (fresh project)", "npm", ["init", "-y"], project);
  const install = step("npm install --save-dev <tarball>", "npm", ["install", "--save-dev", tarball], project);
  if (/EBADENGINE/.test(install.stderr)) console.log("note: EBADENGINE printed by the install:\n" + install.stderr);
  const help = step("npx dedupe-cli --help", "npx", ["dedupe-cli", "--help"], project);
  if (!/Usage: dedupe-cli/.test(help.stdout)) throw new Error("--help printed no usage");
  step("npx dedupe-cli verify --n 10 --rounds 1", "npx", ["dedupe-cli", "verify", "--n", "10", "--rounds", "1"], project);
  const ignore = fs.readFileSync(path.join(project, ".dedupe", ".gitignore"), "utf8");
  if (!/^\*$/m.test(ignore)) throw new Error(".dedupe/.gitignore does not ignore everything");
  console.log("ok           .dedupe/.gitignore written by the tool");
  execFileSync("git", ["--version"]); // the README's git-URL path needs git; its absence is worth knowing
} finally {
  if (!process.argv.includes("--keep")) fs.rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
