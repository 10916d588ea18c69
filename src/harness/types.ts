// Shared shapes of the replay/race harness. Times are milliseconds on the
// performance.now() clock of the process that ran the deliveries, so release
// and response instants of one run are directly comparable.
import type { JobState } from "../db/verify-state-sql.js";
import type { DeliveryPlan, ProviderName } from "../providers/types.js";
import type { DeliveryOutcome } from "./shapes.js";

/** How a round's deliveries leave: all at once, or in waves a few ms apart (defined here so types.ts and schedule.ts do not import each other). */
export type Release = { kind: "all" } | { kind: "waves"; waves: number; gapMs: number };

/** Where deliveries go: the built-in router in this process, or an HTTP receiver. */
export type EngineTarget = { kind: "in-process" } | { kind: "http"; baseUrl?: string; url?: string };


/** One HTTP request, ready to send in-process or over a socket. */
export interface PreparedDelivery {
  slot: number;
  url: URL;
  headers: Record<string, string>;
  body: Buffer;
}

export type { DeliveryOutcome, IdForm } from "./shapes.js";

/** Result of one synchronised release of N deliveries. */
export interface RaceObservation {
  outcomes: DeliveryOutcome[];
  /** First to last release (ms); for a round released in waves, the largest spread within one wave. */
  releaseSpreadMs: number;
  /** How the deliveries were released (all at once unless the schedule said waves). */
  release?: Release;
  /** Deliveries per wave (one entry when all at once). */
  waveSizes?: number[];
  /** Most deliveries observed in flight at once (see concurrencySource). */
  peakConcurrency: number;
  concurrencySource: "db-pool" | "http-overlap";
  /**
   * Statements the database itself ran at the same instant (pg_stat_activity,
   * each connection's latest statement window; an underestimate). Reported,
   * not judged: a receiver that spends more CPU per delivery than its
   * statements take runs them one after another even when every delivery is
   * in flight, and its statements still interleave (which is what a racy
   * check-then-create loses to).
   */
  databaseOverlap?: number;
}

/** The database's own account of a race (begin() before the release, end() after the last response). */
export interface DatabaseObserver {
  begin(): Promise<void>;
  end(): Promise<{ peak: number; statements: number }>;
}

export interface RaceOptions {
  /**
   * Sent (and answered) before the race, one per delivery and over the same
   * connections: a delivery naming an unknown client, so the receiver opens
   * its database connections without writing anything. A cold receiver
   * pool serialises the race behind connection set-up and hides races.
   */
  warmup?: readonly PreparedDelivery[];
  /** Runs after the warm-up and before the release (the harness takes its "before" snapshot here). */
  beforeRelease?: () => Promise<void>;
  /** Called synchronously at the release instant (the first wave's), before any delivery leaves. */
  onRelease?: () => void;
  /** All at once (default) or in small staggered waves, each wave itself released at once. */
  release?: Release;
}

/** Sends prepared deliveries somewhere: an in-process handler or an HTTP receiver. */
export interface DeliveryEngine {
  readonly mode: "in-process" | "http";
  /** Prepares every delivery (Requests built / sockets connected, all but the last byte sent), then releases them together. */
  race(deliveries: readonly PreparedDelivery[], options?: RaceOptions): Promise<RaceObservation>;
  /** Delivers with up to `concurrency` in flight; no synchronisation. */
  send(deliveries: readonly PreparedDelivery[], concurrency: number): Promise<DeliveryOutcome[]>;
  close(): Promise<void>;
}

export type InvariantStatus = "pass" | "fail" | "inconclusive";

export interface InvariantResult {
  /** Stable id, e.g. "one-message-row". */
  name: string;
  expected: string;
  observed: string;
  status: InvariantStatus;
  /** Slots of the deliveries that witnessed a violation. */
  witnesses?: number[];
}

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** One fixture's (or one round's) checks. */
export interface CaseResult {
  /** Fixture path (relative when possible) plus round, e.g. "emailbison/lead_replied.json#2". */
  name: string;
  fixture: string;
  /** "unknown" for a file whose provider could not be told (an unsupported case). */
  provider: ProviderName | "unknown";
  eventType: string;
  round: number;
  /** "unsupported": the file could not be loaded or planned; nothing was delivered (harness/unsupported.ts). */
  kind: DeliveryPlan["kind"] | "unsupported";
  /** Namespaced stored id the case keyed on (null for ignored events). */
  uniqueValue: string | null;
  deliveries: number;
  invariants: InvariantResult[];
  verdict: InvariantStatus;
  latency: LatencySummary;
  statusCounts: Record<string, number>;
  releaseSpreadMs: number | null;
  peakConcurrency: number | null;
  notes: string[];
  outcomes: DeliveryOutcome[];
  /** Ids (as text) of the message rows the case found for its stored id. */
  messageRowIds?: string[];
  /** The case's jobs and leads as judged (for --report-dir and the late/crash-window steps). */
  jobStates?: JobState[];
  leadIds?: string[];
  /** How long the rows took to hold still after the last answer. */
  settledMs?: number;
  /** Races: how the round was released (a spread is judged within one wave). */
  release?: Release;
}

/** One fixture's rounds in a race: how often, and by what, a window was caught. */
export interface RoundsSummary {
  fixture: string;
  schedule: "fixed" | "budget";
  /** The time budget per fixture (budget schedules). */
  budgetMs?: number;
  rounds: number;
  caught: number;
  /** Invariant name -> rounds it failed in. */
  byInvariant: Record<string, number>;
  /** Rounds' N, in order (a budget grows it). */
  ns: number[];
  /** The budget stopped at the first failed round. */
  stoppedEarly: boolean;
  /** Budget rounds left out of the verdict: still too poorly synchronised after their re-races, or grown past --n and answered only 503s wrong. */
  leftOut: number;
  elapsedMs: number;
}

export interface HarnessResult {
  command: "race" | "replay";
  mode: "in-process" | "http";
  target: string;
  strategy: string | null;
  n: number;
  verdict: InvariantStatus;
  cases: CaseResult[];
  /** Invariant name → number of cases (rounds) that violated it. */
  violations: Record<string, number>;
  latency: LatencySummary;
  statusCounts: Record<string, number>;
  durationMs: number;
  thresholds: { maxSpreadRatio: number; minConcurrencyRatio: number };
  /** Race only: per fixture, rounds run and rounds caught ("caught in 7 of 19 rounds"). */
  rounds?: RoundsSummary[];
}
