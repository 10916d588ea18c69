// --help for every command and subcommand through bin/, laid out for an
// 80-column terminal: no line wider than 80 (a single token too long to
// break stands alone), each default shown once and plainly, required
// options marked, exit codes and examples everywhere, short flags.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import { runBin, spawnBin } from "../helpers/cli.js";
import { waitForListening } from "../helpers/serve.js";

const COMMANDS = [
  [], ["race"], ["replay"], ["verify"], ["serve"], ["capture"], ["status"], ["migrate"], ["drain-jobs"],
  ["clients"], ["clients", "add"], ["clients", "load"], ["clients", "list"], ["clients", "import-ghl"],
];
const env = { COLUMNS: "80", DATABASE_URL: undefined };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-help-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Lines wider than the terminal that could have been broken (more than one token). */
export function findOverwideLines(text: string, width = 80): string[] {
  return text.split("\n").filter((line) => line.length > width && line.trim().includes(" "));
}

describe.each(COMMANDS.map((c) => [c.join(" ") || "(root)", c] as const))("%s --help", (_name, command) => {
  it("fits 80 columns, shows defaults plainly, ends with exit codes and has examples", async () => {
    const r = await runBin([...command, "--help"], { env });
    expect(r.code).toBe(0);
    expect(findOverwideLines(r.stdout)).toEqual([]);
    expect(r.stdout).not.toMatch(/\(default: (false|true)\)/);
    expect(r.stdout).not.toMatch(/\(default: "/);
    expect(r.stdout).toMatch(/Exit codes: 0/);
    if (command.length > 0) expect(r.stdout).toMatch(/\n {2}\$ dedupe-cli /);
    // A default is stated once: never "(default: x) (default: y)".
    expect(r.stdout).not.toMatch(/default:[^\n]*\(default:/);
  });
});

describe("help details", () => {
  it("marks required options and shows plain numeric defaults", async () => {
    const capture = await runBin(["capture", "--help"], { env });
    expect(capture.stdout).toMatch(/--port <port>\s+port to listen on \(0 picks a free one\)\s+\(required\)/);
    expect(capture.stdout).toMatch(/--out <dir>[^\n]*\n?[^\n]*\(required\)/);
    const add = await runBin(["clients", "add", "--help"], { env });
    expect(add.stdout).toMatch(/--slug <slug>[\s\S]*?\(required\)/);
    const race = await runBin(["race", "--help"], { env });
    expect(race.stdout).toMatch(/-n, --n <n>\s+deliveries per round \(default: 50\)/);
    expect(race.stdout).toMatch(/-j, --json/);
  });

  it("every --json has -j as its short form (drain-jobs and drain-jobs stats too)", { timeout: 240_000 }, async () => {
    for (const args of [["drain-jobs"], ["drain-jobs", "stats"], ["race"], ["replay"], ["verify"], ["status"], ["migrate"], ["capture"], ["clients", "list"], ["config", "check"], ["db", "stop"]]) {
      const r = await runBin([...args, "--help"], { env });
      expect(r.stdout, args.join(" ")).toMatch(/--json/);
      expect(r.stdout, args.join(" ")).not.toMatch(/^ {2}--json/m);
      expect(r.stdout, args.join(" ")).toMatch(/-j, --json/);
    }
  });

  it("-n and -j work as the short forms", async () => {
    const r = await runBin(["race", "-n", "1", "-j"], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--n: must be at least 2/);
  });

  it("sizes and durations take units: --body-limit 1kb refuses a 2 KiB body with 413", async () => {
    const run = spawnBin(["capture", "--port", "0", "--out", tmp, "--body-limit", "1kb"], { env });
    try {
      const url = await waitForListening(run.child);
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(`${url}/api/webhooks/email`, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on("error", reject);
        req.end(JSON.stringify({ pad: "x".repeat(2048) }));
      });
      expect(status).toBe(413);
    } finally {
      run.child.kill("SIGTERM");
      await run.done;
    }
    const bad = await runBin(["serve", "--client-cache-ms", "5 parsecs"], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--client-cache-ms: must be a duration like 500ms, 30s/);
  });
});
