// Numbers the verdict rests on: latency percentiles, status counts and how
// much the deliveries of one race really overlapped.
import type { DeliveryOutcome, InvariantStatus, LatencySummary } from "./types.js";

/** Nearest-rank percentile of an ascending array (0 when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function summariseLatency(outcomes: readonly DeliveryOutcome[]): LatencySummary {
  const sorted = outcomes.map((o) => o.respondedAt - o.releasedAt).sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 100) / 100;
  return {
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? 0),
  };
}

/** "200": 49, "500": 1, "error": 0 ... (transport errors count as "error"). */
export function countStatuses(outcomes: readonly DeliveryOutcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const key = o.status === null ? "error" : String(o.status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

export function mergeCounts(into: Record<string, number>, from: Record<string, number>): Record<string, number> {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  return into;
}

export function computeReleaseSpread(outcomes: readonly DeliveryOutcome[]): number {
  if (outcomes.length === 0) return 0;
  let first = Infinity;
  let last = -Infinity;
  for (const o of outcomes) {
    first = Math.min(first, o.releasedAt);
    last = Math.max(last, o.releasedAt);
  }
  return last - first;
}

/**
 * The largest release spread within one wave; waves are consecutive runs of
 * outcomes (in delivery order) of the given sizes. The gap between waves is
 * the schedule's, not a synchronisation failure, so it is not judged.
 */
export function computeWaveSpread(outcomes: readonly DeliveryOutcome[], waveSizes: readonly number[]): number {
  let start = 0;
  let worst = 0;
  for (const size of waveSizes) {
    worst = Math.max(worst, computeReleaseSpread(outcomes.slice(start, start + size)));
    start += size;
  }
  return worst;
}

/**
 * The most [releasedAt, respondedAt] intervals that overlap at one instant:
 * a sweep over start/end events. An end at the same instant as a start is
 * processed first, so back-to-back requests do not count as concurrent.
 */
export function computePeakOverlap(outcomes: readonly DeliveryOutcome[]): number {
  return computePeakWindowOverlap(outcomes.map((o) => [o.releasedAt, Math.max(o.respondedAt, o.releasedAt)] as const));
}

export function computePeakWindowOverlap(windows: ReadonlyArray<readonly [number, number]>): number {
  const events: Array<[number, number]> = [];
  for (const [start, end] of windows) events.push([start, 1], [end, -1]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let peak = 0;
  for (const [, delta] of events) {
    current += delta;
    peak = Math.max(peak, current);
  }
  return peak;
}

/**
 * When is a race good enough to trust a pass?
 *  - spread: the last delivery must be released before the median delivery
 *    could have finished, i.e. spread <= maxSpreadRatio x p50 latency (with a
 *    1 ms floor, below which timer resolution dominates);
 *  - concurrency: at least minConcurrencyRatio of the deliveries (capped by
 *    what the DB pool can carry), and never fewer than 2, were in flight at
 *    once: in-process, statements outstanding together on the pool (the
 *    pool is pre-warmed, so none waits for a connect); over HTTP, requests
 *    whose [release, response] intervals overlap (the receiver is warmed
 *    first, so a cold receiver pool cannot serialise the race behind
 *    connection set-up).
 * A failure found in a poor race is still a failure; only a pass is demoted.
 */
export const RACE_THRESHOLDS = { maxSpreadRatio: 0.5, minConcurrencyRatio: 0.5, spreadFloorMs: 1 } as const;

/**
 * The spread can never exceed this, however slow the receiver: a bound that
 * only scales with p50 accepted HTTP rounds released over 1.8-11 ms (the
 * usual is 0.2-0.7 ms), and most single-round misses of fixed-window bugs
 * were such rounds. Over HTTP the release is one last byte per socket; in
 * process it is N handler calls started on one event loop turn, whose
 * synchronous prologue (parsing, signing checks) makes it slower on a busy
 * machine, hence the looser bound.
 */
export const ABSOLUTE_SPREAD_MS = { http: 5, "in-process": 25 } as const;

/**
 * The absolute bound for a wave of `n` deliveries. Over HTTP the release
 * writes one byte per socket, so its spread grows with N: measured on this
 * project's 2-core machine (busy, load 6-9) over 217 attempts at N=50 and
 * 113 at N=200, the median was 0.58 ms and 5.8 ms, p90 3.9 ms and 26 ms;
 * a fixed 5 ms re-raced about half of the N=200 rounds. So 5 ms per 50
 * deliveries (never less than 5 ms). In process the spread is the handlers'
 * synchronous prologue and stayed under the 25 ms bound at both sizes
 * (max 16.8 ms at N=50, 21.7 ms at N=200, first rounds included): fixed.
 */
export function absoluteSpreadBound(engine: keyof typeof ABSOLUTE_SPREAD_MS, n: number): number {
  if (engine === "in-process") return ABSOLUTE_SPREAD_MS["in-process"];
  return ABSOLUTE_SPREAD_MS.http * Math.max(1, n / SPREAD_BOUND_PER_N);
}

/** The HTTP bound is ABSOLUTE_SPREAD_MS.http per this many deliveries. */
export const SPREAD_BOUND_PER_N = 50;

export function assessRaceQuality(input: {
  n: number;
  spreadMs: number;
  p50Ms: number;
  peakConcurrency: number;
  /** Upper bound the environment allows (in-process: the pool size). */
  concurrencyCap?: number;
  /** The engine's absolute spread bound (ABSOLUTE_SPREAD_MS). */
  absoluteSpreadMs?: number;
}): { ok: boolean; reasons: string[]; requiredConcurrency: number; maxSpreadMs: number } {
  const reasons: string[] = [];
  const cap = Math.min(input.n, input.concurrencyCap ?? input.n);
  const requiredConcurrency = input.n < 2 ? 1 : Math.max(2, Math.ceil(cap * RACE_THRESHOLDS.minConcurrencyRatio));
  const relative = Math.max(RACE_THRESHOLDS.spreadFloorMs, input.p50Ms * RACE_THRESHOLDS.maxSpreadRatio);
  const maxSpreadMs = Math.min(relative, input.absoluteSpreadMs ?? Infinity);
  if (input.spreadMs > maxSpreadMs) {
    const why = maxSpreadMs < relative ? "the engine's absolute bound" : `${RACE_THRESHOLDS.maxSpreadRatio} x p50 latency`;
    reasons.push(`release spread ${input.spreadMs.toFixed(2)} ms exceeds ${maxSpreadMs.toFixed(2)} ms (${why})`);
  }
  if (input.peakConcurrency < requiredConcurrency) {
    reasons.push(`achieved concurrency ${input.peakConcurrency} is below the required ${requiredConcurrency}`);
  }
  return { ok: reasons.length === 0, reasons, requiredConcurrency, maxSpreadMs };
}

/** fail beats inconclusive beats pass. */
export function combineVerdicts(statuses: Iterable<InvariantStatus>): InvariantStatus {
  let verdict: InvariantStatus = "pass";
  for (const s of statuses) {
    if (s === "fail") return "fail";
    if (s === "inconclusive") verdict = "inconclusive";
  }
  return verdict;
}
