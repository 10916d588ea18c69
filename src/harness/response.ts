// Reading a receiver's answer into an outcome. Only a 2xx whose JSON body has
// a boolean `deduped` counts as accepted; anything else is recorded as it is
// so the invariants can name the delivery that saw it.
import type { DeliveryOutcome } from "./types.js";

export function readAnswer(
  slot: number,
  releasedAt: number,
  respondedAt: number,
  status: number,
  bodyText: string,
): DeliveryOutcome {
  const outcome: DeliveryOutcome = {
    slot,
    releasedAt,
    respondedAt,
    status,
    deduped: null,
    ignored: false,
    messageId: null,
    error: null,
    transportError: false,
  };
  if (status < 200 || status >= 300) {
    outcome.error = `HTTP ${status}: ${bodyText.slice(0, 200)}`;
    return outcome;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bodyText);
  } catch {
    outcome.error = `2xx body is not JSON: ${bodyText.slice(0, 120)}`;
    return outcome;
  }
  const body = (parsed ?? {}) as { deduped?: unknown; ignored?: unknown; messageId?: unknown };
  if (typeof body.deduped === "boolean") outcome.deduped = body.deduped;
  else outcome.error = "2xx body has no boolean `deduped`";
  outcome.ignored = body.ignored === true;
  outcome.messageId = typeof body.messageId === "string" ? body.messageId : null;
  return outcome;
}

export function failedDelivery(slot: number, releasedAt: number, respondedAt: number, error: unknown): DeliveryOutcome {
  const e = error as { code?: string; message?: string };
  return {
    slot,
    releasedAt,
    respondedAt,
    status: null,
    deduped: null,
    ignored: false,
    messageId: null,
    error: e?.code ? `${e.code}: ${e.message ?? ""}` : String(e?.message ?? error),
    transportError: true,
  };
}
