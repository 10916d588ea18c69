// Round schedules: a fixed --rounds stays the classic identical burst; a
// --budget varies the release, grows N and stops at the first caught round.
import { describe, expect, it } from "vitest";
import { capStall, describeRounds, planRound, STALL_MAX_MS, STALL_MS, shouldRunRound, splitWaves, summariseRounds } from "../../src/harness/schedule.js";
import { assessRaceQuality, computeWaveSpread } from "../../src/harness/stats.js";
import type { CaseResult } from "../../src/harness/types.js";
import { buildOutcome } from "../helpers/outcomes.js";

const budget = { kind: "budget", budgetMs: 3_000 } as const;
const fixed = { kind: "fixed", rounds: 3 } as const;

describe("round plans", () => {
  it("--rounds: every round N deliveries, all at once", () => {
    expect([1, 2, 3].map((r) => planRound(fixed, r, 50))).toEqual(Array(3).fill({ n: 50, release: { kind: "all" }, stallMs: 0 }));
  });

  it("the default fixed schedule stalls its last round only; --no-stall none", () => {
    const byDefault = { ...fixed, stallLast: true } as const;
    expect([1, 2, 3].map((r) => planRound(byDefault, r, 50).stallMs)).toEqual([0, 0, STALL_MS]);
    expect(planRound({ kind: "fixed", rounds: 1, stallLast: true }, 1, 50)).toEqual({ n: 50, release: { kind: "all" }, stallMs: STALL_MS });
    expect([1, 2, 3].map((r) => planRound(byDefault, r, 50, { stall: false }).stallMs)).toEqual([0, 0, 0]);
  });

  it("--budget: the classic burst, then the widest round, then both in waves, then in between", () => {
    const plans = [1, 2, 3, 4, 5, 6, 7].map((r) => planRound(budget, r, 50));
    expect(plans.map((p) => p.n)).toEqual([50, 200, 50, 200, 100, 100, 50]);
    expect(plans.map((p) => p.release.kind)).toEqual(["all", "all", "waves", "waves", "all", "waves", "all"]);
    // Rounds 3-5 of each 6 stall the messages table's writes; --no-stall none.
    expect(plans.map((p) => p.stallMs)).toEqual([0, 0, STALL_MS, STALL_MS, STALL_MS, 0, 0]);
    expect([1, 2, 3, 4, 5, 6].map((r) => planRound(budget, r, 50, { stall: false }).stallMs)).toEqual([0, 0, 0, 0, 0, 0]);
    // A large --n is never grown past the ceiling, nor shrunk below itself.
    expect(planRound(budget, 2, 600).n).toBe(1_000);
    expect(planRound(budget, 2, 2_000).n).toBe(2_000);
  });

  it("a stall holds at most 1 s, a quarter of a shorter delivery timeout, never under its 100 ms minimum", () => {
    expect(capStall()).toBe(STALL_MAX_MS);
    expect(capStall(30_000)).toBe(1_000);
    expect(capStall(2_000)).toBe(500);
    expect(capStall(200)).toBe(STALL_MS);
  });

  it("waves split the slots evenly, in order", () => {
    expect(splitWaves(50, { kind: "all" })).toEqual([50]);
    expect(splitWaves(50, { kind: "waves", waves: 4, gapMs: 3 })).toEqual([12, 13, 12, 13]);
    expect(splitWaves(3, { kind: "waves", waves: 4, gapMs: 3 })).toEqual([1, 1, 1]);
  });
});

describe("when a budget stops", () => {
  const state = { elapsedMs: 0, failed: false };
  it("always runs the burst and the widest round (all at once and in waves), then more while time is left", () => {
    expect(shouldRunRound({ kind: "budget", budgetMs: 100 }, 4, { ...state, elapsedMs: 10_000 })).toBe(true);
    expect(shouldRunRound(budget, 5, { ...state, elapsedMs: 2_999 })).toBe(true);
    expect(shouldRunRound(budget, 5, { ...state, elapsedMs: 3_000 })).toBe(false);
  });

  it("stops at the first failed round (negative control: a fixed count does not)", () => {
    expect(shouldRunRound(budget, 2, { ...state, failed: true })).toBe(false);
    expect(shouldRunRound(fixed, 2, { ...state, failed: true })).toBe(true);
    expect(shouldRunRound(fixed, 4, state)).toBe(false);
  });
});

const outcome = buildOutcome;

describe("a round in waves is judged per wave", () => {
  // Two waves of two, 3 ms apart; each released within 0.1 ms.
  const outcomes = [outcome(0, 0), outcome(1, 0.1), outcome(2, 3), outcome(3, 3.1)];
  it("the gap between waves is not a spread", () => {
    expect(computeWaveSpread(outcomes, [2, 2])).toBeCloseTo(0.1);
    expect(computeWaveSpread(outcomes, [4])).toBeCloseTo(3.1);
  });

  it("negative control: a wave itself released slowly is still a poor race", () => {
    const slow = [outcome(0, 0), outcome(1, 9), outcome(2, 12), outcome(3, 12.1)];
    const spread = computeWaveSpread(slow, [2, 2]);
    expect(assessRaceQuality({ n: 2, spreadMs: spread, p50Ms: 20, peakConcurrency: 2, absoluteSpreadMs: 5 }).ok).toBe(false);
    expect(assessRaceQuality({ n: 2, spreadMs: computeWaveSpread(outcomes, [2, 2]), p50Ms: 20, peakConcurrency: 2, absoluteSpreadMs: 5 }).ok).toBe(true);
  });
});

describe("rounds summary", () => {
  const round = (n: number, failed: string[]): CaseResult =>
    ({
      name: `emailbison/lead_replied.json#${n}`,
      verdict: failed.length > 0 ? "fail" : "pass",
      invariants: [{ name: "no-5xx", status: failed.includes("no-5xx") ? "fail" : "pass" }, { name: "one-message-row", status: failed.includes("one-message-row") ? "fail" : "pass" }],
    }) as CaseResult;

  it('says "caught in k of n rounds" with the invariants that fired', () => {
    const rounds = [round(1, []), round(2, ["no-5xx"]), round(3, ["no-5xx", "one-message-row"])];
    const s = summariseRounds("x", fixed, rounds, [50, 50, 50], true, 1234);
    expect(s).toMatchObject({ fixture: "emailbison/lead_replied.json", rounds: 3, caught: 2, byInvariant: { "no-5xx": 2, "one-message-row": 1 }, stoppedEarly: false, leftOut: 0 });
    expect(describeRounds(s)).toBe("emailbison/lead_replied.json: caught in 2 of 3 rounds (no-5xx 2, one-message-row 1)");
  });

  it("names the budget, the grown N and an early stop", () => {
    const s = summariseRounds("x", budget, [round(1, []), round(2, []), round(3, ["no-5xx"])], [50, 50, 100], true, 1_500);
    expect(describeRounds(s)).toBe("emailbison/lead_replied.json: caught in 1 of 3 rounds (no-5xx 1), N 50..100, 1.5 s of a 3 s budget, stopped at the first catch");
    expect(describeRounds(summariseRounds("x", budget, [round(1, [])], [50], false, 900, 2))).toBe(
      "emailbison/lead_replied.json: passed 1 of 1 rounds, 0.9 s of a 3 s budget; 2 more left out (too poorly synchronised, or shedding load past --n)",
    );
  });
});

describe("the in-process engine releases waves in order", () => {
  it("each wave's deliveries start together, after the previous wave's; all at once is one wave", async () => {
    const { createInProcessEngine } = await import("../../src/harness/deliver-inprocess.js");
    const started: number[] = [];
    const engine = createInProcessEngine({
      handler: async () => {
        started.push(performance.now());
        await new Promise((r) => setTimeout(r, 5));
        return new Response(JSON.stringify({ success: true, deduped: true, messageId: null }), { status: 200 });
      },
    });
    const deliveries = Array.from({ length: 8 }, (_, slot) => ({ slot, url: new URL("http://x.internal/api/webhooks/emailbison"), headers: {}, body: Buffer.from("{}") }));
    const waves = await engine.race(deliveries, { release: { kind: "waves", waves: 4, gapMs: 3 } });
    expect(waves.waveSizes).toEqual([2, 2, 2, 2]);
    expect(waves.release).toEqual({ kind: "waves", waves: 4, gapMs: 3 });
    const released = waves.outcomes.map((o) => o.releasedAt);
    // Ordering, not timing: no delivery of wave k+1 is released before the last of wave k.
    for (let w = 1; w < 4; w++) expect(Math.min(...released.slice(w * 2, w * 2 + 2))).toBeGreaterThanOrEqual(Math.max(...released.slice(w * 2 - 2, w * 2)));
    const all = await engine.race(deliveries);
    expect(all.waveSizes).toEqual([8]);
    expect(all.release).toEqual({ kind: "all" });
    await engine.close();
  });
});
