// How a fixture's rounds are laid out: a fixed count of identical
// all-at-once rounds (--rounds), or rounds until a time budget is spent
// (--budget), varying the release and growing N. A narrow window (a 20 ms
// lease that runs out only when the insert is slow) opens in a fraction of
// rounds at N=50 and in most at N=200: measured against
// test/helpers/escaping-receivers.ts "lease-lock", 8 of 20 three-round runs
// at N=50, 10 of 10 at N=200. Waves catch what only a slightly later
// duplicate meets (a window that opens after the first commit).
import type { CaseResult, RoundsSummary } from "./types.js";

/** How one round's deliveries are released. */
export type Release = { kind: "all" } | { kind: "waves"; waves: number; gapMs: number };

export type RoundSchedule =
  /** Exactly `rounds` rounds, N each, all released at once (reproducible; every round runs). */
  | { kind: "fixed"; rounds: number }
  /** Rounds until `budgetMs` is spent, stopping at the first failed round. */
  | { kind: "budget"; budgetMs: number };

export interface RoundPlan {
  n: number;
  release: Release;
}

/** N doubles every two rounds up to this multiple of --n. */
export const BUDGET_MAX_N_FACTOR = 4;
/** Hard ceiling for a grown N (connections a round opens at once). */
export const BUDGET_MAX_N = 1_000;
/** A staggered round: this many waves, this far apart. Small enough that the waves still overlap in the receiver. */
export const WAVES = { kind: "waves", waves: 4, gapMs: 3 } as const satisfies Release;

/**
 * Round `round` (1-based) of a schedule. Fixed: N and all-at-once, as
 * always. Budget: all-at-once and waves alternate (odd rounds all at once,
 * so round 1 is the classic burst), N doubles every two rounds up to
 * BUDGET_MAX_N_FACTOR x n.
 */
export function planRound(schedule: RoundSchedule, round: number, n: number): RoundPlan {
  if (schedule.kind === "fixed") return { n, release: { kind: "all" } };
  const cap = Math.max(n, Math.min(n * BUDGET_MAX_N_FACTOR, BUDGET_MAX_N));
  const grown = Math.min(cap, n * 2 ** Math.floor((round - 1) / 2));
  return { n: grown, release: round % 2 === 1 ? { kind: "all" } : { ...WAVES } };
}

/**
 * Whether another round fits the budget: the next round is predicted to
 * take as long as the last one, scaled by its N. The first round always
 * runs; a budget never cuts a round short.
 */
export function shouldRunRound(schedule: RoundSchedule, round: number, state: { elapsedMs: number; lastRoundMs: number; lastN: number; nextN: number; failed: boolean }): boolean {
  if (schedule.kind === "fixed") return round <= schedule.rounds;
  if (round === 1) return true;
  // A caught case need not burn its budget: one failed round is the verdict.
  if (state.failed) return false;
  const predicted = state.lastRoundMs * (state.nextN / Math.max(1, state.lastN));
  return state.elapsedMs + predicted <= schedule.budgetMs;
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
    elapsedMs: Math.round(elapsedMs),
  };
}

/** "emailbison/lead_replied.json: caught in 7 of 19 rounds (no-5xx 7)", so a user sees how often a window opened. */
export function describeRounds(s: RoundsSummary): string {
  const invariants = Object.entries(s.byInvariant).map(([k, v]) => `${k} ${v}`).join(", ");
  const grown = s.ns.some((n) => n !== s.ns[0]) ? `, N ${s.ns[0]}..${Math.max(...s.ns)}` : "";
  const budget = s.budgetMs !== undefined ? `, ${(s.elapsedMs / 1000).toFixed(1)} s of a ${formatSeconds(s.budgetMs)} budget${s.stoppedEarly ? ", stopped at the first catch" : ""}` : "";
  const verdict = s.caught === 0 ? `passed ${s.rounds} of ${s.rounds} rounds` : `caught in ${s.caught} of ${s.rounds} rounds (${invariants})`;
  return `${s.fixture}: ${verdict}${grown}${budget}`;
}

const formatSeconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`);
