// dedupe-cli serve: the webhook receiver over node:http, on the embedded
// PostgreSQL by default.
import fs from "node:fs";
import type { Command } from "commander";
import { z } from "zod";
import { CONFLICT_STRATEGIES } from "../core/messages.js";
import { createJsonLogger } from "../core/log.js";
import { ConfigError } from "../errors.js";
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT_MS, startNodeServer } from "../http/node-server.js";
import { resolveGhlKeys } from "../providers/auth.js";
import { DEFAULT_BODY_LIMIT } from "../providers/http.js";
import { createWebhookHandler, formatHandlerEvent, type HandlerOptions } from "../providers/router.js";
import { loadTestGhlKeys } from "../providers/sign.js";
import type { CliContext } from "./context.js";
import { durationFlag, sizeFlag } from "./duration.js";
import { describeProviderRoutes, listenError, waitForAbort } from "./listen.js";
import { addDatabaseOptions, databaseOptionsSchema, intFlag, openDatabaseSession, parseOptions } from "./options.js";

const optionsSchema = databaseOptionsSchema.extend({
  port: intFlag(0, 65535).default(3000),
  host: z.string().min(1).default("127.0.0.1"),
  allowUnsigned: z.boolean().default(false),
  draftsSecret: z.string().min(8, "--drafts-secret: use at least 8 characters").optional(),
  strategy: z.enum(CONFLICT_STRATEGIES).default("on-conflict"),
  bodyLimit: sizeFlag().default(DEFAULT_BODY_LIMIT),
  poolSize: intFlag(1, 500).default(64),
  statementTimeout: durationFlag(10, 600_000).default(10_000),
  maxConnections: intFlag(1, 1_000_000).default(DEFAULT_MAX_CONNECTIONS),
  headersTimeout: durationFlag(100, 600_000).default(DEFAULT_HEADERS_TIMEOUT_MS),
  requestTimeout: durationFlag(100, 3_600_000).default(DEFAULT_REQUEST_TIMEOUT_MS),
  migrate: z.boolean().default(false),
  ghlEd25519PublicKey: z.string().min(1).optional(),
  ghlRsaPublicKey: z.string().min(1).optional(),
  ghlTestKeys: z.boolean().default(false),
  clientCacheMs: durationFlag(0, 3_600_000).default(5_000),
  batch: z.boolean().default(true),
  verbose: z.boolean().default(false),
});

const SERVE_HELP = `
From nothing to an accepted signed delivery:
  $ dedupe-cli clients load fixtures/clients.json          # TEST clients + secrets (acme, globex)
  $ dedupe-cli serve --port 3000 --ghl-test-keys &         # trust the TEST GHL keys in fixtures/keys
  $ curl -H 'content-type: application/json' \\
    --data-binary @fixtures/emailbison/lead_replied.json \\
    'http://127.0.0.1:3000/api/webhooks/email?token=test-only-emailbison-token'
  {"success":true,"deduped":false,"eventType":"LEAD_REPLIED","messageId":"..."}      (again: "deduped":true)
  A GHL delivery signed with the TEST Ed25519 key (OpenSSL 3):
  $ SIG=$(openssl pkeyutl -sign -rawin -inkey fixtures/keys/ghl-test-ed25519.private.pem \\
      -in fixtures/ghl/inbound_message.json | base64 -w0)
  $ curl -H 'content-type: application/json' -H "x-ghl-signature: $SIG" \\
      --data-binary @fixtures/ghl/inbound_message.json http://127.0.0.1:3000/api/webhooks/ghl/sms
  Replays sign for you: src/providers/sign.ts (signDelivery) with the same keys.

Routes (POST, application/json):
${describeProviderRoutes()}
  /api/drafts/<id>/send      send an AI draft (one outbound Message however often it is clicked);
                             needs Authorization: Bearer <--drafts-secret> and a JSON content type
  GET /healthz               health: 200 when the database tables answer, else 503
Every provider route also takes ?clientId=<slug or uuid>.

Authentication is on by default: GHL X-GHL-Signature (Ed25519) / X-WH-Signature (RSA) against GHL's
published keys unless --ghl-*-public-key / GHL_ED25519_PUBLIC_KEY / GHL_RSA_PUBLIC_KEY say otherwise,
plus the body's locationId matching the client's --ghl-location-id;
EmailBison ?token=, Unipile Unipile-Auth header, Instantly X-Instantly-Secret header, SmartLead body
secret_key (or x-smartlead-secret), each compared with the client's secret (dedupe-cli clients add).

Answers: 200 accepted (duplicates too: "deduped": true; ignored events: "ignored": true), 400 bad JSON or
schema (names the field), 401 auth (says what to send), 404 unknown client or route, 405 not POST,
413 body too large, 415 not JSON, 503 + Retry-After while the database is unreachable, restarting,
recovering, out of connections, or slower than --statement-timeout.
Deliveries that arrive together share one database statement, duplicates within it resolved by the
statement itself (--no-batch: one statement per delivery).
Failures (5xx) are logged on stderr as JSON lines; --verbose (or DEDUPE_VERBOSE=1) logs every rejected
delivery too, with its status and reason.`;

export function register(program: Command, ctx: CliContext): Command {
  return addDatabaseOptions(program.command("serve"))
    .description("Receive provider webhooks over HTTP and ingest them idempotently (Ctrl-C finishes in-flight requests).")
    .option("--port <port>", "port to listen on (0 picks a free one)", "3000")
    .option("--host <host>", "interface to bind", "127.0.0.1")
    .option("--allow-unsigned", "accept deliveries without provider authentication (DANGEROUS: testing only)", false)
    .option("--drafts-secret <secret>", "bearer secret POST /api/drafts/<id>/send requires (default: $DEDUPE_DRAFTS_SECRET; unset: the route answers 401)")
    .option("--strategy <name>", `conflict strategy: ${CONFLICT_STRATEGIES.join(" | ")}`, "on-conflict")
    .option("--body-limit <size>", "largest accepted body, as 1mb, 512kb or bytes; larger ones get 413", "1mb")
    .option("--pool-size <n>", "database connections", "64")
    .option("--statement-timeout <duration>", "bound on every database statement; past it the delivery gets 503 + Retry-After", "10s")
    .option("--max-connections <n>", "open connections beyond this are closed at once", String(DEFAULT_MAX_CONNECTIONS))
    .option("--headers-timeout <duration>", "a request's headers must arrive within this (else 408)", "10s")
    .option("--request-timeout <duration>", "a whole request must arrive within this (else 408); a body silent for 5s is dropped", "30s")
    .option("--client-cache-ms <duration>", "how long a client's ids and secrets are cached, as 5s, 500ms or milliseconds; a changed secret applies after this (0: look up every delivery)", "5s")
    .option("--no-batch", "one statement per delivery (default: the deliveries that arrive in one event-loop turn share one statement; on-conflict only)")
    .option("--migrate", "apply pending migrations to --database-url first", false)
    .option("--ghl-ed25519-public-key <key>", "PEM, base64 SPKI or @file (default: $GHL_ED25519_PUBLIC_KEY, else GHL's published key)")
    .option("--ghl-rsa-public-key <key>", "PEM, base64 SPKI or @file (default: $GHL_RSA_PUBLIC_KEY, else GHL's published key)")
    .option("--ghl-test-keys", "verify GHL signatures with the TEST keys in fixtures/keys (testing only)", false)
    .option("--verbose", "log every dedupe decision and every rejected delivery as a JSON line on stderr (also DEDUPE_VERBOSE=1)", false)
    .addHelpText("after", SERVE_HELP)
    .action(async (raw, command: Command) => {
      const opts = parseOptions(optionsSchema, raw);
      const verbose = opts.verbose || ctx.env.verbose;
      const warn = (line: string) => ctx.stderr.write(`${line}\n`);
      const ghlKeys = readGhlKeyOptions(opts, ctx);
      if (opts.allowUnsigned) {
        warn("WARNING: --allow-unsigned: provider authentication is OFF. Anyone who can reach this port can write messages.");
      }
      if (opts.ghlTestKeys) warn("WARNING: --ghl-test-keys: trusting the TEST GHL keys from fixtures/keys; their private halves are public.");
      // Open the pool before listening: the first burst of deliveries must
      // meet ready connections, as in a long-running production receiver.
      // Until then a SIGTERM stops at once (nothing is in flight to finish).
      const session = await openDatabaseSession(ctx, {
        databaseUrl: opts.databaseUrl,
        fresh: opts.fresh,
        migrate: opts.migrate,
        poolSize: opts.poolSize,
        poolSizeExplicit: command.getOptionValueSource("poolSize") === "cli",
        warm: opts.poolSize,
        statementTimeoutMs: opts.statementTimeout,
      });
      ctx.shutdown.handleGracefully();
      const deps: HandlerOptions = {
        db: session.db.prisma,
        strategy: opts.strategy,
        batchDeliveries: opts.batch && opts.strategy === "on-conflict",
        allowUnsigned: opts.allowUnsigned,
        draftsSecret: opts.draftsSecret ?? ctx.env.draftsSecret,
        bodyLimit: opts.bodyLimit,
        clientCacheTtlMs: opts.clientCacheMs,
        ...ghlKeys,
        logger: verbose ? createJsonLogger((line) => ctx.stderr.write(line)) : undefined,
        onEvent: (event) => {
          if (event.level === "error" || verbose) ctx.stderr.write(formatHandlerEvent(event));
        },
      };
      const handler = createWebhookHandler(deps);
      const server = await startNodeServer({
        handler,
        host: opts.host,
        port: opts.port,
        bodyLimit: opts.bodyLimit,
        maxConnections: opts.maxConnections,
        headersTimeoutMs: opts.headersTimeout,
        requestTimeoutMs: opts.requestTimeout,
        onError: (error) => warn(`request failed: ${(error as Error)?.message ?? error}`),
      }).catch((error) => {
        throw listenError(opts.host, opts.port, error);
      });
      ctx.stdout.write(`listening on ${server.url}\n`);

      await waitForAbort(ctx.shutdown.signal);
      const pending = server.inFlight();
      if (pending > 0) warn(`waiting for ${pending} in-flight request(s)...`);
      await server.close();
      warn("server closed");
    });
}

function readKeyOption(flag: string, value: string): string {
  if (!value.startsWith("@")) return value;
  try {
    return fs.readFileSync(value.slice(1), "utf8");
  } catch (error) {
    throw new ConfigError(`${flag}: cannot read key file ${value.slice(1)}: ${(error as Error).message}`);
  }
}

function readGhlKeyOptions(opts: z.infer<typeof optionsSchema>, ctx: CliContext): Pick<HandlerOptions, "ghlEd25519PublicKey" | "ghlRsaPublicKey"> {
  const test = opts.ghlTestKeys ? loadTestGhlKeys() : undefined;
  const pick = (flag: string, fromFlag: string | undefined, fromTest: string | undefined, envName: string, fromEnv: string | undefined) =>
    fromFlag !== undefined
      ? { key: readKeyOption(flag, fromFlag), source: flag }
      : fromTest !== undefined
        ? { key: fromTest, source: "--ghl-test-keys (fixtures/keys)" }
        : { key: fromEnv, source: envName };
  const ed25519 = pick("--ghl-ed25519-public-key", opts.ghlEd25519PublicKey, test?.ed25519PublicKey, "GHL_ED25519_PUBLIC_KEY", ctx.env.ghlEd25519PublicKey);
  const rsa = pick("--ghl-rsa-public-key", opts.ghlRsaPublicKey, test?.rsaPublicKey, "GHL_RSA_PUBLIC_KEY", ctx.env.ghlRsaPublicKey);
  // One at a time, so the error names the flag or variable that held the bad key.
  for (const [field, { key, source }] of [["ghlEd25519PublicKey", ed25519], ["ghlRsaPublicKey", rsa]] as const) {
    if (key === undefined) continue;
    try {
      resolveGhlKeys({ [field]: key });
    } catch (error) {
      throw new ConfigError(`The GHL public key from ${source} does not parse: ${(error as Error).message}`, {
        hint: "Give a PEM (-----BEGIN PUBLIC KEY-----), base64 SPKI, or @path/to/key.pem.",
      });
    }
  }
  return { ghlEd25519PublicKey: ed25519.key, ghlRsaPublicKey: rsa.key };
}
