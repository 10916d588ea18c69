// Why a delivery was refused, as typed errors the router maps to statuses.
// PayloadValidationError extends ConfigError so that a harness planning a
// broken fixture stops with "bad fixture" (exit 2), not a crash.
import { ConfigError } from "../errors.js";

/** The body is not what the provider sends: 400, naming the offending field (a zod issue path like data.reply.id). */
export class PayloadValidationError extends ConfigError {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

/** The delivery failed provider authentication: 401. `reason` never contains a secret. */
export class WebhookAuthError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "WebhookAuthError";
  }
}
