// In-process delivery: the receiver's FetchHandler called directly on the
// resolved database. For a race every Request is built first, then one
// synchronous loop calls the handler N times, so no delivery starts before
// all are ready. Concurrency is observed where it matters, at the database:
// the peak number of pool connections checked out at once.
import pLimit from "p-limit";
import type pg from "pg";
import type { FetchHandler } from "../providers/types.js";
import { failedDelivery, readAnswer, type AnswerReader } from "./response.js";
import { createErrorSampler } from "./answer-sample.js";
import type { DeliveryMeter } from "./delivery-meter.js";
import { splitWaves } from "./schedule.js";
import { computeWaveSpread } from "./stats.js";
import type { DatabaseObserver, DeliveryEngine, DeliveryOutcome, PreparedDelivery, RaceObservation } from "./types.js";

export interface InProcessEngineOptions {
  handler: FetchHandler;
  /** The pool the handler's database client uses; watched for checked-out connections. */
  pool?: pg.Pool;
  observer?: DatabaseObserver;
  /** How 2xx bodies read (default: dedupe-cli's own `{ deduped }`). */
  answer?: AnswerReader;
  /** Counts sent/answered as they happen (the CLI's progress line). */
  meter?: DeliveryMeter;
}

export function createInProcessEngine(options: InProcessEngineOptions): DeliveryEngine {
  const { handler, pool } = options;
  const inUse = trackPoolUse(pool);
  const meter = options.meter;
  /**
   * Calls in flight at once: one per pool connection. A call past that could
   * only wait in pg's queue, where past the 5 s acquire timeout the router
   * answers 503 (the engine's overload reported as the receiver's).
   */
  const inFlightCap = () => Math.max(1, (pool as { options?: { max?: number } } | undefined)?.options?.max ?? 64);

  let sample = createErrorSampler();

  async function invoke(delivery: PreparedDelivery, request: Request, releasedAt: number): Promise<DeliveryOutcome> {
    if (meter) meter.sent++;
    try {
      const response = await handler(request);
      const text = await response.text();
      return sample(readAnswer(delivery.slot, releasedAt, performance.now(), response.status, text, options.answer));
    } catch (error) {
      // A handler that throws is what a framework turns into a 500.
      const outcome = failedDelivery(delivery.slot, releasedAt, performance.now(), error);
      return sample({ ...outcome, status: 500, transportError: false, error: `handler threw: ${outcome.error}` });
    } finally {
      if (meter) meter.answered++;
    }
  }

  return {
    mode: "in-process",
    async race(deliveries, raceOptions = {}) {
      if (raceOptions.warmup) {
        // Its job is to open the pool's connections: a pool's worth at a time does that (20,000 at once held 800 MB).
        const limit = pLimit(inFlightCap());
        await Promise.all(raceOptions.warmup.map((w) => limit(() => handler(buildRequest(w)).then((r) => r.arrayBuffer()).catch(() => undefined))));
      }
      await raceOptions.beforeRelease?.();
      sample = createErrorSampler();
      // Past what the pool can carry, a delivery could only wait for a
      // connection, holding its Request, parsed body and query state meanwhile,
      // and those past pg's 5 s acquire timeout were answered 503. So at most
      // `inFlightCap` are called at the barrier; each answer starts the next.
      // A queued delivery's release is still its wave's instant, so its
      // latency includes the wait, as when it waited in the pool's own queue.
      const cap = Math.min(deliveries.length, inFlightCap());
      const waveSizes = splitWaves(deliveries.length, raceOptions.release ?? { kind: "all" });
      // Requests built ahead for the calls each wave starts at its release (at most `cap` a wave).
      const prebuilt = new Map<number, Request>();
      for (let w = 0, offset = 0; w < waveSizes.length; offset += waveSizes[w]!, w++) {
        for (let k = offset; k < offset + Math.min(waveSizes[w]!, cap); k++) prebuilt.set(k, buildRequest(deliveries[k]!));
      }
      await options.observer?.begin();
      raceOptions.onRelease?.();
      inUse.resetPeak();
      const pending: Promise<DeliveryOutcome>[] = new Array(deliveries.length);
      const releasedAt = new Array<number>(deliveries.length);
      const queued: number[] = [];
      let inFlight = 0;
      const start = (i: number) => {
        inFlight++;
        const request = prebuilt.get(i) ?? buildRequest(deliveries[i]!);
        prebuilt.delete(i);
        pending[i] = invoke(deliveries[i]!, request, releasedAt[i]!).then((outcome) => {
          inFlight--;
          const next = queued.shift();
          if (next !== undefined) start(next);
          return outcome;
        });
      };
      // The barrier: nothing above awaits between building and calling (a
      // round in waves awaits only between waves). A delivery past the cap is
      // released with its wave and starts when a call ends.
      let i = 0;
      for (const [wave, size] of waveSizes.entries()) {
        if (wave > 0) await new Promise((r) => setTimeout(r, raceOptions.release?.kind === "waves" ? raceOptions.release.gapMs : 0));
        for (const end = i + size; i < end; i++) {
          releasedAt[i] = performance.now();
          if (inFlight < cap) start(i);
          else queued.push(i);
        }
      }
      // Index order: every delivery before i has ended by then, and each end
      // starts the oldest queued one, so pending[i] exists when it is awaited.
      const outcomes: DeliveryOutcome[] = [];
      for (let k = 0; k < deliveries.length; k++) outcomes.push(await pending[k]!);
      const poolPeak = inUse.peak();
      const database = await options.observer?.end();
      const observation: RaceObservation = {
        outcomes,
        releaseSpreadMs: computeWaveSpread(outcomes, waveSizes),
        release: raceOptions.release ?? { kind: "all" },
        waveSizes,
        // Statements outstanding at once on the pool: issued together and
        // waiting on the database together.
        peakConcurrency: poolPeak,
        concurrencySource: "db-pool",
        databaseOverlap: database?.peak,
      };
      return observation;
    },
    async send(deliveries, concurrency) {
      sample = createErrorSampler();
      const limit = pLimit(concurrency);
      return Promise.all(deliveries.map((d) => limit(() => invoke(d, buildRequest(d), performance.now()))));
    },
    async close() {
      inUse.stop();
    },
  };
}

function buildRequest(delivery: PreparedDelivery): Request {
  return new Request(delivery.url, { method: "POST", headers: delivery.headers, body: delivery.body });
}

/** Peak of (acquired - released) pool connections since the last reset. */
function trackPoolUse(pool: pg.Pool | undefined) {
  let current = 0;
  let peak = 0;
  const onAcquire = () => {
    current++;
    if (current > peak) peak = current;
  };
  const onRelease = () => {
    current = Math.max(0, current - 1);
  };
  pool?.on("acquire", onAcquire);
  pool?.on("release", onRelease);
  return {
    resetPeak: () => {
      peak = current;
    },
    peak: () => peak,
    stop: () => {
      pool?.off("acquire", onAcquire);
      pool?.off("release", onRelease);
    },
  };
}
