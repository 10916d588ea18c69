// Runs the real bin/ (built dist) and captures its output. CLI tests read
// what a user would see; nothing is called in-process.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../bin/dedupe-cli.js", import.meta.url));
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface BinOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  input?: string;
}

export interface BinRun {
  /** For tests that signal the process or watch its output while it runs. */
  child: ChildProcessByStdio<Writable, Readable, Readable>;
  done: Promise<CliResult>;
}

/** Starts the CLI; `done` settles with everything it printed once it exits. */
export function spawnBin(args: string[], options: BinOptions = {}): BinRun {
  const env = { ...process.env, ...options.env };
  // Each test chooses its database explicitly; an inherited DATABASE_URL
  // must not leak into tests of the embedded default.
  if (options.env && "DATABASE_URL" in options.env && options.env.DATABASE_URL === undefined) delete env.DATABASE_URL;
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
  const done = new Promise<CliResult>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  child.stdin.end(options.input ?? "");
  return { child, done };
}

export function runBin(args: string[], options: BinOptions = {}): Promise<CliResult> {
  return spawnBin(args, options).done;
}
