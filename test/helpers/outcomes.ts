// Delivery outcomes for unit tests of the race statistics: a 200 deduped
// answer by default, with only the times a test cares about set.
import type { DeliveryOutcome } from "../../src/harness/types.js";

/** One answered delivery; `respondedAt` defaults to 20 ms after the release. */
export function buildOutcome(slot: number, releasedAt: number, respondedAt = releasedAt + 20): DeliveryOutcome {
  return { slot, releasedAt, respondedAt, status: 200, deduped: true, ignored: false, messageId: null, error: null, transportError: false };
}
