// Delivery to a receiver over HTTP. A race opens one connection per delivery,
// sends each request except its final byte, waits for the receiver to have
// read the partial requests, then writes every final byte from one
// synchronous loop: the receiver can finish parsing no request before all
// are released. Concurrency is the peak overlap of [release, response].
import pLimit from "p-limit";
import { HttpConnection } from "./http-connection.js";
import { failedDelivery, readAnswer, type AnswerReader } from "./response.js";
import { createErrorSampler } from "./answer-sample.js";
import type { DeliveryMeter } from "./delivery-meter.js";
import { splitWaves } from "./schedule.js";
import { computePeakOverlap, computeWaveSpread } from "./stats.js";
import type { DatabaseObserver, DeliveryEngine, DeliveryOutcome, PreparedDelivery } from "./types.js";

export interface HttpEngineOptions {
  /** Per-request timeout (ms). */
  timeoutMs?: number;
  /** Connections opened at once while arming a race (the listen backlog is finite). */
  connectConcurrency?: number;
  /** The receiver's database, watched during the release. */
  observer?: DatabaseObserver;
  /** How 2xx bodies read (default: dedupe-cli's own `{ deduped }`). */
  answer?: AnswerReader;
  /** Counts sent/answered as they happen (the CLI's progress line). */
  meter?: DeliveryMeter;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createHttpEngine(options: HttpEngineOptions = {}): DeliveryEngine {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const connectLimit = pLimit(options.connectConcurrency ?? 128);
  const idle = new Map<string, HttpConnection[]>();
  const open = new Set<HttpConnection>();
  const meter = options.meter;
  let sample = createErrorSampler();

  async function acquire(origin: URL): Promise<HttpConnection> {
    const list = idle.get(origin.origin) ?? [];
    idle.set(origin.origin, list);
    for (let c = list.pop(); c; c = list.pop()) if (c.usable) return c;
    const connection = new HttpConnection(origin, timeoutMs);
    open.add(connection);
    await connection.connect();
    return connection;
  }

  function putBack(connection: HttpConnection) {
    if (connection.usable) idle.get(connection.origin.origin)?.push(connection);
    else open.delete(connection);
  }

  async function sendOne(delivery: PreparedDelivery): Promise<DeliveryOutcome> {
    let releasedAt = performance.now();
    let connection: HttpConnection | undefined;
    try {
      connection = await acquire(delivery.url);
      releasedAt = performance.now();
      if (meter) meter.sent++;
      const { response } = connection.send(delivery, false);
      const answer = await response;
      return sample(readAnswer(delivery.slot, releasedAt, answer.at, answer.status, answer.body, options.answer));
    } catch (error) {
      if (meter && !connection) meter.sent++;
      return sample(failedDelivery(delivery.slot, releasedAt, performance.now(), error));
    } finally {
      if (meter) meter.answered++;
      if (connection) putBack(connection);
    }
  }

  return {
    mode: "http",
    async race(deliveries, raceOptions = {}) {
      sample = createErrorSampler();
      const connections = new Array<HttpConnection>(deliveries.length);
      const armed: Array<{ release: () => void; response: Promise<{ status: number; body: string; at: number }> } | Error> = [];
      // 1. Open and warm every connection (TCP handshake done, Nagle off).
      await Promise.all(
        deliveries.map((d, i) =>
          connectLimit(async () => {
            const c = new HttpConnection(d.url, timeoutMs);
            connections[i] = c;
            open.add(c);
            try {
              await c.connect();
            } catch (error) {
              armed[i] = error as Error;
            }
          }),
        ),
      );
      // 1b. Warm the receiver over the same keep-alive connections.
      if (raceOptions.warmup) {
        await Promise.all(
          deliveries.map(async (_, i) => {
            const warm = raceOptions.warmup![i % raceOptions.warmup!.length]!;
            if (armed[i] instanceof Error) return;
            try {
              await connections[i]!.send(warm, false).response;
            } catch (error) {
              armed[i] = error as Error;
            }
            // A receiver that closes after answering gets a fresh connection.
            if (!(armed[i] instanceof Error) && !connections[i]!.usable) {
              await connections[i]!.connect().catch((error) => (armed[i] = error as Error));
            }
          }),
        );
      }
      await raceOptions.beforeRelease?.();
      // 2. Everything but the last byte.
      deliveries.forEach((d, i) => {
        if (armed[i] instanceof Error) return;
        try {
          armed[i] = connections[i]!.send(d, true);
        } catch (error) {
          armed[i] = error as Error;
        }
      });
      // 3. Let the receiver read and parse the partial requests, so that the
      //    release is the only thing between it and N complete requests.
      await new Promise((r) => setTimeout(r, 20 + deliveries.length * 0.05));
      await options.observer?.begin();
      raceOptions.onRelease?.();
      // 4. The release: one synchronous loop per wave, nothing awaited
      //    inside a wave (all at once is a single wave).
      const waveSizes = splitWaves(deliveries.length, raceOptions.release ?? { kind: "all" });
      const releasedAt = new Array<number>(deliveries.length);
      let i = 0;
      for (const [wave, size] of waveSizes.entries()) {
        if (wave > 0) await sleep(raceOptions.release?.kind === "waves" ? raceOptions.release.gapMs : 0);
        for (const end = i + size; i < end; i++) {
          releasedAt[i] = performance.now();
          const a = armed[i];
          if (a && !(a instanceof Error)) a.release();
        }
      }
      if (meter) meter.sent += deliveries.length;
      const outcomes = await Promise.all(
        deliveries.map(async (d, i): Promise<DeliveryOutcome> => {
          const a = armed[i];
          try {
            if (!a || a instanceof Error) return sample(failedDelivery(d.slot, releasedAt[i]!, releasedAt[i]!, a ?? new Error("not armed")));
            const answer = await a.response;
            return sample(readAnswer(d.slot, releasedAt[i]!, answer.at, answer.status, answer.body, options.answer));
          } catch (error) {
            return sample(failedDelivery(d.slot, releasedAt[i]!, performance.now(), error));
          } finally {
            if (meter) meter.answered++;
          }
        }),
      );
      const database = await options.observer?.end();
      for (const c of connections) {
        c?.close();
        if (c) open.delete(c);
      }
      return {
        outcomes,
        releaseSpreadMs: computeWaveSpread(outcomes, waveSizes),
        release: raceOptions.release ?? { kind: "all" },
        waveSizes,
        peakConcurrency: computePeakOverlap(outcomes),
        concurrencySource: "http-overlap",
        databaseOverlap: database?.peak,
      };
    },
    async send(deliveries, concurrency) {
      sample = createErrorSampler();
      const limit = pLimit(concurrency);
      return Promise.all(deliveries.map((d) => limit(() => sendOne(d))));
    },
    async close() {
      for (const c of open) c.close();
      open.clear();
      idle.clear();
    },
  };
}
