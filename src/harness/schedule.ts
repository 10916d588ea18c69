// How a fixture's rounds are laid out: a fixed count of identical
// all-at-once rounds (--rounds), or rounds until a time budget is spent
// (--budget), varying the release and N. A narrow window (a 20 ms lease
// that runs out only when the receiver is loaded) opens in about a third of
// N=50 rounds and in most N=200 rounds (test/helpers/escaping-receivers.ts
// "lease-lock": 8 of 20 three-round runs at N=50, 10 of 10 at N=200), so a
// budget always reaches the widest round. Waves catch what only a slightly
// later duplicate meets (a window that opens after the first commit).
import type { CaseResult, Release, RoundsSummary } from "./types.js";

export type { Release };

/** How one round's deliveries are released. */

export type RoundSchedule =
  /**
   * Exactly `rounds` rounds, N each, all released at once (reproducible;
   * every round runs). `stallLast`: the last round's writes are stalled
   * (the default schedule when neither --rounds nor --budget is given).
   */
  | { kind: "fixed"; rounds: number; stallLast?: boolean }
  /** Rounds until `budgetMs` is spent, stopping at the first failed round. */
  | { kind: "budget"; budgetMs: number };

export interface RoundPlan {
  n: number;
  release: Release;
  /** Hold writes to the messages table this long from the release (0: no stall). */
  stallMs: number;
}

/**
 * How long a stalled round holds the receiver's message inserts. A narrow
 * window (a short lease or lock around check-then-create) opens only when an
 * insert outlasts it, which on a quiet machine it rarely does: measured, a
 * 20 ms lease-lock receiver was caught in 2 of 20 default runs at load 0,
 * 19 of 20 on a busy CI machine. A stall is what a production database does
 * now and then (lock queue, autovacuum, failover), provoked.
 */
export const STALL_MS = 100;

/**
 * After STALL_MS, a stall holds on until this many sessions wait for a lock
 * (two deliveries that both looked and found nothing: the race)...
 */
export const STALL_WAITERS = 2;
/**
 * ...or this long from the release at the most (never more than a quarter
 * of the per-delivery timeout). Measured: on a loaded machine a round's
 * deliveries reached the database 300+ ms after the release, past a fixed
 * 100 ms stall, and check-then-create passed (2 of 30 cases under three
 * CPU hogs; once in a full-suite run).
 */
export const STALL_MAX_MS = 1_000;

/** The longest a stall may hold for a run whose deliveries time out after `timeoutMs`. */
export function capStall(timeoutMs = 30_000): number {
  return Math.max(STALL_MS, Math.min(STALL_MAX_MS, Math.floor(timeoutMs / 4)));
}

/** N doubles every two rounds up to this multiple of --n. */
export const BUDGET_MAX_N_FACTOR = 4;
/** Hard ceiling for a grown N (connections a round opens at once). */
export const BUDGET_MAX_N = 1_000;
/** A staggered round: this many waves, this far apart. Small enough that the waves still overlap in the receiver. */
export const WAVES = { kind: "waves", waves: 4, gapMs: 3 } as const satisfies Release;

/**
 * The budget's cycle of rounds, as (multiple of --n, release, stalled): the classic
 * burst first, then the widest round (a narrow window opens when the
 * receiver is loaded), then both again in waves, then in between.
 */
const BUDGET_CYCLE: ReadonlyArray<readonly [number, "all" | "waves", boolean]> = [
  [1, "all", false],
  [BUDGET_MAX_N_FACTOR, "all", false],
  [1, "waves", true],
  [BUDGET_MAX_N_FACTOR, "waves", true],
  [2, "all", true],
  [2, "waves", false],
];

/** Rounds a budget always runs, however long they take: the classic burst and the widest one, each all at once and in waves. */
export const BUDGET_MIN_ROUNDS = 4;

/**
 * Round `round` (1-based) of a schedule. Fixed: N and all-at-once, as
 * always. Budget: BUDGET_CYCLE, N capped at BUDGET_MAX_N (never below --n).
 */
export function planRound(schedule: RoundSchedule, round: number, n: number, options: { stall?: boolean } = {}): RoundPlan {
  if (schedule.kind === "fixed") {
    const stalled = schedule.stallLast === true && round === schedule.rounds && options.stall !== false;
    return { n, release: { kind: "all" }, stallMs: stalled ? STALL_MS : 0 };
  }
  const [factor, release, stall] = BUDGET_CYCLE[(round - 1) % BUDGET_CYCLE.length]!;
  const grown = Math.max(n, Math.min(n * factor, BUDGET_MAX_N));
  return { n: grown, release: release === "all" ? { kind: "all" } : { ...WAVES }, stallMs: stall && options.stall !== false ? STALL_MS : 0 };
}

/**
 * Whether another round starts. Budget: the first BUDGET_MIN_ROUNDS always
 * (a slow receiver must still meet the widest round), then while time is
 * left; a round is never cut short, so the last one may end past the budget.
 */
export function shouldRunRound(schedule: RoundSchedule, round: number, state: { elapsedMs: number; failed: boolean }): boolean {
  if (schedule.kind === "fixed") return round <= schedule.rounds;
  // A caught case need not burn its budget: one failed round is the verdict.
  if (state.failed) return false;
  return round <= BUDGET_MIN_ROUNDS || state.elapsedMs < schedule.budgetMs;
}

/** Deliveries of each wave: slots split as evenly as possible, in order. */
export function splitWaves(count: number, release: Release): number[] {
  if (release.kind === "all") return [count];
  const waves = Math.max(1, Math.min(release.waves, count));
  return Array.from({ length: waves }, (_, w) => Math.floor(((w + 1) * count) / waves) - Math.floor((w * count) / waves));
}

/** "all at once" / "4 waves 3 ms apart", as a report names a round's release. */
export function describeRelease(release: Release | undefined): string {
  if (!release || release.kind === "all") return "all at once";
  return `${release.waves} waves ${release.gapMs} ms apart`;
}

/** How often, and by which invariant, a fixture's rounds were caught. */
export function summariseRounds(
  fixturePath: string,
  schedule: RoundSchedule,
  rounds: readonly CaseResult[],
  ns: number[],
  failedBeforeLate: boolean,
  elapsedMs: number,
  leftOut = 0,
): RoundsSummary {
  const byInvariant: Record<string, number> = {};
  const failed = rounds.filter((r) => r.verdict === "fail");
  for (const r of failed) for (const i of r.invariants) if (i.status === "fail") byInvariant[i.name] = (byInvariant[i.name] ?? 0) + 1;
  return {
    fixture: rounds[0]?.name.replace(/#\d+$/, "") ?? fixturePath,
    schedule: schedule.kind,
    ...(schedule.kind === "budget" ? { budgetMs: schedule.budgetMs } : {}),
    rounds: rounds.length,
    caught: failed.length,
    byInvariant,
    ns,
    stoppedEarly: schedule.kind === "budget" && failedBeforeLate,
    leftOut,
    elapsedMs: Math.round(elapsedMs),
  };
}

/** "emailbison/lead_replied.json: caught in 7 of 19 rounds (no-5xx 7)", so a user sees how often a window opened. */
export function describeRounds(s: RoundsSummary): string {
  const invariants = Object.entries(s.byInvariant).map(([k, v]) => `${k} ${v}`).join(", ");
  const grown = s.ns.some((n) => n !== s.ns[0]) ? `, N ${s.ns[0]}..${Math.max(...s.ns)}` : "";
  const budget = s.budgetMs !== undefined ? `, ${(s.elapsedMs / 1000).toFixed(1)} s of a ${formatSeconds(s.budgetMs)} budget${s.stoppedEarly ? ", stopped at the first catch" : ""}` : "";
  const verdict = s.caught === 0 ? `passed ${s.rounds} of ${s.rounds} rounds` : `caught in ${s.caught} of ${s.rounds} rounds (${invariants})`;
  const poor = s.leftOut > 0 ? `; ${s.leftOut} more left out (too poorly synchronised, or shedding load past --n)` : "";
  return `${s.fixture}: ${verdict}${grown}${budget}${poor}`;
}

const formatSeconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`);
