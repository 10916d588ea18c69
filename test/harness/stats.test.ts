import { describe, expect, it } from "vitest";
import { assessRaceQuality, combineVerdicts, computePeakOverlap, computeReleaseSpread, percentile } from "../../src/harness/stats.js";
import { buildOutcome } from "../helpers/outcomes.js";

const outcome = buildOutcome;

describe("race statistics", () => {
  it("nearest-rank percentiles", () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(sorted, 50), percentile(sorted, 95), percentile(sorted, 99), percentile(sorted, 100)]).toEqual([50, 95, 99, 100]);
    expect(percentile([], 50)).toBe(0);
  });

  it("peak overlap counts intervals in flight together, not back-to-back ones", () => {
    expect(computePeakOverlap([outcome(0, 0, 10), outcome(1, 1, 11), outcome(2, 2, 12)])).toBe(3);
    expect(computePeakOverlap([outcome(0, 0, 10), outcome(1, 10, 20), outcome(2, 20, 30)])).toBe(1);
    expect(computeReleaseSpread([outcome(0, 5, 10), outcome(1, 7.5, 11)])).toBe(2.5);
  });

  it("a slow receiver does not widen the spread past the engine's absolute bound", () => {
    // p50 400 ms allowed a 200 ms spread; the HTTP bound holds it at 5 ms.
    expect(assessRaceQuality({ n: 50, spreadMs: 11, p50Ms: 400, peakConcurrency: 50 }).ok).toBe(true);
    const bounded = assessRaceQuality({ n: 50, spreadMs: 11, p50Ms: 400, peakConcurrency: 50, absoluteSpreadMs: 5 });
    expect(bounded).toMatchObject({ ok: false, maxSpreadMs: 5 });
    expect(bounded.reasons.join()).toMatch(/absolute bound/);
    expect(assessRaceQuality({ n: 50, spreadMs: 0.6, p50Ms: 400, peakConcurrency: 50, absoluteSpreadMs: 5 }).ok).toBe(true);
  });

  it("a serialised or widely spread race is not good enough for a pass", () => {
    expect(assessRaceQuality({ n: 50, spreadMs: 0.3, p50Ms: 10, peakConcurrency: 50 }).ok).toBe(true);
    const serial = assessRaceQuality({ n: 50, spreadMs: 0.3, p50Ms: 10, peakConcurrency: 1 });
    expect(serial.ok).toBe(false);
    expect(serial.reasons.join()).toMatch(/concurrency 1 is below the required 25/);
    const spread = assessRaceQuality({ n: 50, spreadMs: 40, p50Ms: 10, peakConcurrency: 50 });
    expect(spread.ok).toBe(false);
    expect(spread.reasons.join()).toMatch(/release spread/);
    // The pool caps what in-process can reach; the threshold follows it.
    expect(assessRaceQuality({ n: 5000, spreadMs: 2, p50Ms: 100, peakConcurrency: 250, concurrencyCap: 500 }).ok).toBe(true);
    expect(assessRaceQuality({ n: 5000, spreadMs: 2, p50Ms: 100, peakConcurrency: 249, concurrencyCap: 500 }).ok).toBe(false);
    expect(assessRaceQuality({ n: 2, spreadMs: 0, p50Ms: 1, peakConcurrency: 1 }).ok).toBe(false);
  });

  it("fail beats inconclusive beats pass", () => {
    expect(combineVerdicts(["pass", "inconclusive", "pass"])).toBe("inconclusive");
    expect(combineVerdicts(["inconclusive", "fail"])).toBe("fail");
    expect(combineVerdicts([])).toBe("pass");
  });
});
