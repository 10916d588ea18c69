// Reading a receiver's answer into an outcome. By default only a 2xx whose
// JSON body has a boolean `deduped` counts as accepted (a configured app
// brings its own reader); anything else is recorded as it is
// so the invariants can name the delivery that saw it.
import type { DeliveryOutcome } from "./shapes.js";

/** What a 2xx answer says: deduped (null when it does not say), ignored, the row id; error when it is not the shape the receiver promised. */
export interface AnswerReading {
  deduped: boolean | null;
  ignored: boolean;
  messageId: string | null;
  error: string | null;
}

/** Reads a 2xx body (dedupe.config's `answer` supplies one for apps with their own convention). */
export type AnswerReader = (status: number, bodyText: string) => AnswerReading;

/** dedupe-cli's own convention: `{ deduped: boolean, ignored?, messageId? }`, `deduped` required. */
export const readBuiltinAnswer: AnswerReader = (_status, bodyText) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bodyText);
  } catch {
    return { deduped: null, ignored: false, messageId: null, error: `2xx body is not JSON: ${bodyText.slice(0, 120)}` };
  }
  const body = (parsed ?? {}) as { deduped?: unknown; ignored?: unknown; messageId?: unknown };
  return {
    deduped: typeof body.deduped === "boolean" ? body.deduped : null,
    ignored: body.ignored === true,
    messageId: typeof body.messageId === "string" ? body.messageId : null,
    error: typeof body.deduped === "boolean" ? null : "2xx body has no boolean `deduped`",
  };
};

export function readAnswer(
  slot: number,
  releasedAt: number,
  respondedAt: number,
  status: number,
  bodyText: string,
  reader: AnswerReader = readBuiltinAnswer,
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
  return { ...outcome, ...reader(status, bodyText) };
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
