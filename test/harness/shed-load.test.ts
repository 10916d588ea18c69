// A budget round grown past --n is left out of the verdict when the receiver
// only shed load (503) there. That exemption must never swallow a race: these
// cases pin what counts as shedding and what stays a failure.
import { describe, expect, it } from "vitest";
import { isOnlyShedLoad } from "../../src/harness/race.js";
import type { DeliveryOutcome } from "../../src/harness/shapes.js";
import type { CaseResult } from "../../src/harness/types.js";

const answer = (slot: number, status: number, deduped: boolean | null, messageId: string | null = "m1"): DeliveryOutcome => ({
  slot,
  releasedAt: 0,
  respondedAt: 1,
  status,
  deduped: status === 503 ? null : deduped,
  ignored: false,
  messageId: status === 503 ? null : messageId,
  error: null,
  transportError: false,
});

function round(outcomes: DeliveryOutcome[], failed: string[]): CaseResult {
  const invariants = ["status", "no-5xx", "duplicates-deduped", "one-message-row", "one-job-per-key"].map((name) => ({
    name,
    expected: "",
    observed: "",
    status: failed.includes(name) ? ("fail" as const) : ("pass" as const),
  }));
  return { outcomes, invariants, verdict: failed.length > 0 ? "fail" : "pass" } as unknown as CaseResult;
}

const shed = [answer(0, 200, false), answer(1, 200, true), answer(2, 503, null), answer(3, 503, null)];

describe("isOnlyShedLoad", () => {
  it("503s and otherwise consistent answers: shedding load", () => {
    expect(isOnlyShedLoad(round(shed, ["status", "no-5xx", "duplicates-deduped"]), 200)).toBe(true);
  });

  it("two deliveries answered as the first (a race in the answers) is not shedding", () => {
    const twoFirsts = [...shed, answer(4, 200, false)];
    expect(isOnlyShedLoad(round(twoFirsts, ["status", "no-5xx", "duplicates-deduped"]), 200)).toBe(false);
  });

  it("answers naming two different messages are not shedding", () => {
    const twoIds = [...shed, answer(4, 200, true, "m2")];
    expect(isOnlyShedLoad(round(twoIds, ["status", "no-5xx"]), 200)).toBe(false);
  });

  it("a 500 among the 503s, or a row invariant failing, is not shedding", () => {
    expect(isOnlyShedLoad(round([...shed, answer(4, 500, null)], ["status", "no-5xx"]), 200)).toBe(false);
    expect(isOnlyShedLoad(round(shed, ["status", "no-5xx", "one-message-row"]), 200)).toBe(false);
    expect(isOnlyShedLoad(round(shed, ["status", "one-job-per-key"]), 200)).toBe(false);
  });

  it("an unexpected status among the answers that got through is not shedding", () => {
    expect(isOnlyShedLoad(round([...shed, answer(4, 409, true)], ["status", "no-5xx"]), 200)).toBe(false);
  });

  it("no 503 at all: nothing to excuse", () => {
    expect(isOnlyShedLoad(round([answer(0, 200, false), answer(1, 200, false)], ["duplicates-deduped"]), 200)).toBe(false);
  });
});
