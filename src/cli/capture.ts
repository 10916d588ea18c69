// dedupe-cli capture: a receiver that writes every delivery as a fixture
// (src/harness/capture.ts) instead of ingesting it, so real provider traffic
// can be replayed and raced later. Needs no database.
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { UsageError } from "../errors.js";
import { DEFAULT_BODY_LIMIT } from "../providers/http.js";
import { PROVIDER_NAMES } from "../providers/types.js";
import type { CliContext } from "./context.js";
import { sizeFlag } from "./duration.js";
import { describeProviderRoutes, listenError, waitForAbort } from "./listen.js";
import { intFlag, parseOptions } from "./options.js";

const optionsSchema = z.object({
  port: intFlag(0, 65535),
  host: z.string().min(1).default("127.0.0.1"),
  out: z.string().min(1),
  provider: z.enum(PROVIDER_NAMES).optional(),
  max: intFlag(1, 1_000_000).optional(),
  bodyLimit: sizeFlag().default(DEFAULT_BODY_LIMIT),
  json: z.boolean().default(false),
});

const CAPTURE_HELP = `
Point a provider's webhook (or a tunnel) at this port, then replay what arrived:
  $ dedupe-cli capture --port 3000 --out captured/ --max 5
  $ dedupe-cli replay captured/

Every POST is answered 200 {"success":true,"captured":"<provider>/<event>.json"} and written as
  <out>/<provider>/<event>[-<n>].json   the body, byte for byte (existing files are never overwritten)
  <out>/<provider>/<event>[-<n>].meta.json   sidecar: query, headers, capture details (fixtures/README.md)
The provider is --provider, else the path (a route below, or /<provider>/...), else the body's shape;
deliveries of no known provider go to <out>/unknown/. Non-JSON bodies are kept as not-json[-<n>].body.

Routes (any path is accepted):
${describeProviderRoutes()}

Secrets are dropped from the sidecar, and only their names are listed under capture.redacted:
signature and secret headers (X-GHL-Signature, X-WH-Signature, Authorization, Unipile-Auth,
X-Instantly-Secret, X-Smartlead-Secret, cookies, anything named *secret*/*token*/*auth*/*signature*)
and ?token=-style query parameters. Replay then signs with the configured client's secret (or the
TEST GHL keys) as for any fixture. A secret inside the body (SmartLead secret_key) stays, because the
bytes must stay exact: it is named under capture.bodySecrets and a warning is printed.

Output: "listening on <url>" on stdout, then one line per capture on stderr (with --json: one JSON
object per capture on stdout). Stops after --max captures, or on Ctrl-C; exit 0 either way.
Answers: 405 for anything but POST, 413 for bodies over --body-limit, 400 for a body that cannot be
read (the upload broke off), 503 with Retry-After: 5 once --max deliveries are captured.`;

export function register(program: Command, ctx: CliContext): Command {
  return program
    .command("capture")
    .description("Receive webhooks and write each one as a fixture (raw body + redacted .meta.json) for replay and race.")
    .requiredOption("--port <port>", "port to listen on (0 picks a free one)")
    .option("--host <host>", "interface to bind", "127.0.0.1")
    .requiredOption("--out <dir>", "folder to write fixtures to (created if missing)")
    .option("--provider <name>", `provider of every delivery: ${PROVIDER_NAMES.join(", ")}`)
    .option("--max <n>", "stop after n captures")
    .option("--body-limit <size>", "largest accepted body, as 1mb, 512kb or bytes; larger ones get 413", "1mb")
    .option("-j, --json", "one JSON object per capture on stdout instead of a line on stderr", false)
    .addHelpText("after", CAPTURE_HELP)
    .action(async (raw) => {
      const opts = parseOptions(optionsSchema, raw);
      const outDir = path.resolve(opts.out);
      if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new UsageError(`--out: ${opts.out} exists and is not a directory.`);
      checkWritableDir(outDir, opts.out);
      const warn = (line: string) => ctx.stderr.write(`${line}\n`);
      ctx.shutdown.handleGracefully();

      const { startCaptureServer } = await import("../harness/capture.js");
      const server = await startCaptureServer({
        outDir,
        host: opts.host,
        port: opts.port,
        provider: opts.provider,
        max: opts.max,
        bodyLimit: opts.bodyLimit,
        onWarning: warn,
        onCapture: (record) => {
          if (opts.json) ctx.stdout.write(`${JSON.stringify(record)}\n`);
          else {
            const redacted = [...record.redacted.headers, ...record.redacted.query.map((q) => `?${q}`)];
            warn(`captured ${record.file} (${record.provider} ${record.event}, ${record.bytes} bytes${redacted.length ? `; redacted ${redacted.join(", ")}` : ""})`);
          }
        },
      }).catch((error) => {
        throw listenError(opts.host, opts.port, error);
      });
      ctx.stdout.write(`listening on ${server.url}\n`);
      warn(`writing fixtures to ${outDir}${opts.max ? ` (stopping after ${opts.max})` : ""}`);

      await Promise.race([waitForAbort(ctx.shutdown.signal), server.done]);
      // The --max-th answer may still be on its way out; close() lets in-flight responses finish.
      await server.close();
      warn(`captured ${server.captured()} deliver${server.captured() === 1 ? "y" : "ies"}; server closed`);
    });
}

/**
 * --out must be a folder we can create and write to, checked before
 * listening: a failure there used to surface as "Cannot listen ... pick
 * another --port", which sent people after the wrong flag.
 */
function checkWritableDir(dir: string, given: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new UsageError(`--out: cannot write fixtures to ${given} (${code}: ${(error as Error).message.replace(/^[A-Z]+: /, "")}).`, {
      hint: "Give a folder you can write to (it is created if missing).",
    });
  }
}
