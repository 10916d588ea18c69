// A real `dedupe-cli serve` child process on a free port, for harness tests
// that deliver over HTTP. Stopped with SIGTERM (graceful) after the file.
import { spawn, type ChildProcess } from "node:child_process";
import { BIN, ROOT } from "./cli.js";

export interface ServeProcess {
  url: string;
  stop(): Promise<void>;
}

export async function startServe(databaseUrl: string, extra: string[] = []): Promise<ServeProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, "serve", "--port", "0", "--database-url", databaseUrl, "--ghl-test-keys", "--pool-size", "50", ...extra],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
    child.stdout!.on("data", (d) => {
      stdout += d;
      const match = /listening on (\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!.replace(/\/$/, ""));
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${stderr}`));
    });
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
