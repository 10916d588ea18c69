// The in-process engine at sizes past its pool: no more calls in flight than
// the pool has connections (the rest queue in the engine, holding nothing),
// every delivery answered in slot order, the meter's counts exact, and error
// texts bounded (identical ones shared, at most ERROR_SAMPLE distinct kept whole).
import { describe, expect, it } from "vitest";
import type pg from "pg";
import { ERROR_SAMPLE, createErrorSampler } from "../../src/harness/answer-sample.js";
import { createInProcessEngine } from "../../src/harness/deliver-inprocess.js";
import { createDeliveryMeter, describeDeliveryMeter } from "../../src/harness/delivery-meter.js";
import type { DeliveryOutcome, PreparedDelivery } from "../../src/harness/types.js";

function deliveries(n: number): PreparedDelivery[] {
  const body = Buffer.from("{}");
  return Array.from({ length: n }, (_, slot) => ({ slot, url: new URL(`http://x.internal/webhooks?slot=${slot}`), headers: {}, body }));
}

/** A stand-in for a pg.Pool: only its size is read (and acquire/release listeners attached). */
const fakePool = (max: number) => ({ options: { max }, on: () => undefined, off: () => undefined }) as unknown as pg.Pool;

describe("in-process engine past its pool", () => {
  it("calls at most pool-size handlers at once, answers all, counts exactly", async () => {
    let inFlight = 0;
    let peak = 0;
    const handler = async (request: Request) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      const slot = Number(new URL(request.url).searchParams.get("slot"));
      return Response.json({ deduped: slot !== 0 }, { status: 200 });
    };
    const meter = createDeliveryMeter();
    const engine = createInProcessEngine({ handler, pool: fakePool(8), meter });
    const observation = await engine.race(deliveries(300), { warmup: deliveries(300) });
    expect(peak).toBeLessThanOrEqual(8);
    expect(peak).toBeGreaterThan(1);
    expect(observation.outcomes.map((o) => o.slot)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(observation.outcomes.filter((o) => o.deduped === false)).toHaveLength(1);
    expect(meter).toEqual({ sent: 300, answered: 300 });
    expect(describeDeliveryMeter(meter)).toBe("sent 300, answered 300, in flight 0");
  });

  it("keeps identical error texts once and at most ERROR_SAMPLE distinct ones whole", async () => {
    const handler = async (request: Request) => {
      const slot = Number(new URL(request.url).searchParams.get("slot"));
      // Slots below 100 each say something different; the rest all say the same.
      return new Response(slot < 100 ? `distinct failure ${slot}` : "database unavailable", { status: 503 });
    };
    const engine = createInProcessEngine({ handler, pool: fakePool(16) });
    const { outcomes } = await engine.race(deliveries(400));
    const texts = new Set(outcomes.map((o) => o.error));
    expect(texts.size).toBeLessThanOrEqual(ERROR_SAMPLE + 2);
    expect(outcomes.filter((o) => o.error?.includes("(text not kept")).length).toBeGreaterThan(0);
    expect(outcomes.every((o) => o.status === 503 && o.error?.startsWith("HTTP 503"))).toBe(true);
  });
});

describe("error sampler", () => {
  it("passes the first distinct texts through and shortens the rest by their head", () => {
    const sample = createErrorSampler(2);
    const outcome = (error: string | null): DeliveryOutcome => ({ slot: 0, releasedAt: 0, respondedAt: 0, status: 500, deduped: null, ignored: false, messageId: null, error, transportError: false });
    expect(sample(outcome("HTTP 500: a")).error).toBe("HTTP 500: a");
    expect(sample(outcome("HTTP 500: b")).error).toBe("HTTP 500: b");
    expect(sample(outcome("HTTP 500: a")).error).toBe("HTTP 500: a");
    expect(sample(outcome("HTTP 500: c")).error).toMatch(/^HTTP 500: \(text not kept/);
    // A transport error keeps its code where classify-setup reads it.
    expect(sample(outcome("ECONNRESET: read ECONNRESET 7")).error).toMatch(/^ECONNRESET: \(text not kept/);
    expect(sample(outcome(null)).error).toBeNull();
  });
});
