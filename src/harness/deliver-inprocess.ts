// In-process delivery: the receiver's FetchHandler called directly on the
// resolved database. For a race every Request is built first, then one
// synchronous loop calls the handler N times, so no delivery starts before
// all are ready. Concurrency is observed where it matters, at the database:
// the peak number of pool connections checked out at once.
import pLimit from "p-limit";
import type pg from "pg";
import type { FetchHandler } from "../providers/types.js";
import { failedDelivery, readAnswer, type AnswerReader } from "./response.js";
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
}

export function createInProcessEngine(options: InProcessEngineOptions): DeliveryEngine {
  const { handler, pool } = options;
  const inUse = trackPoolUse(pool);

  async function invoke(delivery: PreparedDelivery, request: Request, releasedAt: number): Promise<DeliveryOutcome> {
    try {
      const response = await handler(request);
      const text = await response.text();
      return readAnswer(delivery.slot, releasedAt, performance.now(), response.status, text, options.answer);
    } catch (error) {
      // A handler that throws is what a framework turns into a 500.
      const outcome = failedDelivery(delivery.slot, releasedAt, performance.now(), error);
      return { ...outcome, status: 500, transportError: false, error: `handler threw: ${outcome.error}` };
    }
  }

  return {
    mode: "in-process",
    async race(deliveries, raceOptions = {}) {
      if (raceOptions.warmup) {
        await Promise.all(raceOptions.warmup.map((w) => handler(buildRequest(w)).then((r) => r.arrayBuffer()).catch(() => undefined)));
      }
      await raceOptions.beforeRelease?.();
      const requests = deliveries.map(buildRequest);
      await options.observer?.begin();
      inUse.resetPeak();
      const pending: Promise<DeliveryOutcome>[] = new Array(deliveries.length);
      // The barrier: nothing above awaits between building and calling (a
      // round in waves awaits only between waves).
      const waveSizes = splitWaves(deliveries.length, raceOptions.release ?? { kind: "all" });
      let i = 0;
      for (const [wave, size] of waveSizes.entries()) {
        if (wave > 0) await new Promise((r) => setTimeout(r, raceOptions.release?.kind === "waves" ? raceOptions.release.gapMs : 0));
        for (const end = i + size; i < end; i++) pending[i] = invoke(deliveries[i]!, requests[i]!, performance.now());
      }
      const outcomes = await Promise.all(pending);
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
