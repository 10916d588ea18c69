// Retry delay after a failed attempt: capped exponential backoff with jitter.
//
//   delay(n) = min(maxMs, baseMs · 2^(n−1) · (0.75 + 0.5·U)),  U ~ uniform[0, 1)
//
// n is the number of attempts made so far (1 after the first failure). The
// jitter spreads retries of jobs that failed together (a provider outage) so
// they do not all come back in the same instant; ±25% keeps consecutive
// delays strictly growing (2·0.75 > 1.25) until the cap.

export interface BackoffOptions {
  /** Delay after the first failure, before jitter (default 5 s). */
  baseMs: number;
  /** Upper bound for any delay (default 15 min). */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 5_000, maxMs: 15 * 60_000 };

export function computeRetryDelay(attempts: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  // Past 2^30 the product only overflows toward Infinity; the cap wins anyway.
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  const jitter = 0.75 + 0.5 * random();
  return Math.round(Math.min(options.maxMs, options.baseMs * 2 ** exponent * jitter));
}
