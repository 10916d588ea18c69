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

/**
 * The delivery failed provider authentication: 401. `reason` (never a
 * secret) is for the operator's log and may name the client and how it is
 * configured; `answer` is all the caller is told: what to fix on its side,
 * nothing about which tenants exist or which secrets they have.
 */
export class WebhookAuthError extends Error {
  readonly answer: string;
  constructor(
    readonly reason: string,
    answer?: string,
  ) {
    super(reason);
    this.name = "WebhookAuthError";
    this.answer = answer ?? reason;
  }
}
