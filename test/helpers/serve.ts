// A real `dedupe-cli serve` child process on a free port, for tests that
// deliver over HTTP, and waitForListening for any receiver child (serve,
// capture) that prints "listening on <url>". Stopped with SIGTERM (graceful).
import { spawn, type ChildProcess } from "node:child_process";
import { BIN, ROOT } from "./cli.js";

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Everything serve has written to stderr so far. */
  stderr(): string;
  /** Settles when the process exits. */
  exited: Promise<ChildExit>;
  /** SIGTERM, then wait for the exit (at once if it has already exited). */
  stop(): Promise<void>;
}

/**
 * Resolves with the URL a receiver child prints on stdout ("listening on
 * <url>", without a trailing slash); rejects, with its stderr, if it exits
 * first or has not started after `startupMs`.
 */
export function waitForListening(child: ChildProcess, startupMs = 30_000): Promise<string> {
  let stdout = "";
  let stderr = "";
  return new Promise<string>((resolve, reject) => {
    const onStdout = (d: Buffer) => {
      stdout += d;
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match) settle(() => resolve(match[1]!.replace(/\/$/, "")));
    };
    const onStderr = (d: Buffer) => (stderr += d);
    const onExit = (code: number | null) => settle(() => reject(new Error(`exited with ${code} before listening: ${stderr}`)));
    const timer = setTimeout(() => settle(() => reject(new Error(`did not print "listening on" in time: ${stderr}`))), startupMs);
    function settle(finish: () => void) {
      clearTimeout(timer);
      child.stdout!.off("data", onStdout);
      child.stderr?.off("data", onStderr);
      child.off("exit", onExit);
      finish();
    }
    child.stdout!.on("data", onStdout);
    child.stderr?.on("data", onStderr);
    child.once("exit", onExit);
  });
}

export async function startServe(databaseUrl: string, extra: string[] = []): Promise<ServeProcess> {
  // --database-url decides; an inherited DATABASE_URL must not matter.
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, "serve", "--port", "0", "--database-url", databaseUrl, "--ghl-test-keys", "--pool-size", "50", ...extra],
    { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<ChildExit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const url = await waitForListening(child);
  return {
    url,
    child,
    stderr: () => stderr,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
