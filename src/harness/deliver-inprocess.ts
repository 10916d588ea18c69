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
import { computeReleaseSpread } from "./stats.js";
import type { DeliveryMeter } from "./delivery-meter.js";
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
      // A queued delivery's release is still the barrier instant, so its
      // latency includes the wait, as when it waited in the pool's own queue.
      const cap = Math.min(deliveries.length, inFlightCap());
      const requests = deliveries.slice(0, cap).map(buildRequest);
      await options.observer?.begin();
      inUse.resetPeak();
      const pending: Promise<DeliveryOutcome>[] = new Array(deliveries.length);
      let next = cap;
      const releasedAt = new Array<number>(deliveries.length);
      const startNext = (): Promise<DeliveryOutcome> | undefined => {
        if (next >= deliveries.length) return undefined;
        const i = next++;
        pending[i] = invoke(deliveries[i]!, buildRequest(deliveries[i]!), releasedAt[i]!);
        return pending[i];
      };
      const chain = (outcome: DeliveryOutcome): DeliveryOutcome => {
        void startNext()?.then(chain);
        return outcome;
      };
      // The barrier: nothing above awaits between building and calling.
      for (let i = 0; i < cap; i++) pending[i] = invoke(deliveries[i]!, requests[i]!, performance.now()).then(chain);
      releasedAt.fill(performance.now(), cap);
      requests.length = 0;
      const outcomes: DeliveryOutcome[] = [];
      for (let i = 0; i < deliveries.length; i++) outcomes.push(await pending[i]!);
      const poolPeak = inUse.peak();
      const database = await options.observer?.end();
      const observation: RaceObservation = {
        outcomes,
        releaseSpreadMs: computeReleaseSpread(outcomes),
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
