// What the two long-running receivers (serve, capture) share: the error for
// a port that cannot be bound, waiting for Ctrl-C, and the route list their
// help prints.
import { ConfigError } from "../errors.js";
import { PROVIDER_NAMES, PROVIDER_ROUTES } from "../providers/types.js";

/** A failed bind (port taken, bad --host) as a configuration error: exit 2. */
export function listenError(host: string, port: number, error: unknown): ConfigError {
  return new ConfigError(`Cannot listen on ${host}:${port}: ${(error as Error)?.message ?? error}`, { hint: "Pick another --port (0 picks a free one)." });
}

/** Resolves once `signal` aborts (SIGINT/SIGTERM), at once if it already has. */
export function waitForAbort(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** One line per provider route, "  /api/webhooks/email        emailbison", for --help. */
export function describeProviderRoutes(): string {
  return PROVIDER_NAMES.map((p) => `  ${PROVIDER_ROUTES[p].padEnd(26)} ${p}`).join("\n");
}
