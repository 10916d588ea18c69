// `race`: N identical deliveries of one fixture released together, then the
// database asked whether the receiver kept its promises. Rounds re-key the
// payload so no round can dedupe against earlier data.
import { countMappedTotals, type MappedTotals } from "../db/verify-mapping-sql.js";
import type { DbHandle } from "../db/client.js";
import { tryStallWrites, type StallRelease, type WriteStall } from "../db/stall-sql.js";
import { ConfigError } from "../errors.js";
import { ensureClientsFor, prepareCase, type PreparedCase } from "./deliveries.js";
import { deliverLateDuplicates, formatOffset, type RoundForLate } from "./late.js";
import { provokeCrashWindow } from "./nemesis.js";
import type { ReceiverMapping } from "./mapping.js";
import type { Fixture } from "./fixtures.js";
import { runHarness, type HarnessRunOptions } from "./run.js";
import { takeBeforeSnapshot, verifyCase, type BeforeSnapshot } from "./verify.js";
import { capStall, describeRelease, describeRounds, planRound, shouldRunRound, STALL_WAITERS, summariseRounds, type RoundSchedule } from "./schedule.js";
import type { CaseResult, HarnessResult, PreparedDelivery, RoundsSummary } from "./types.js";

/** Extra attempts for a round whose race was too poorly synchronised to judge. */
const INCONCLUSIVE_RETRIES = 2;

export interface RunRaceOptions extends HarnessRunOptions {
  /** Deliveries per round (the first round's, under a budget). */
  n: number;
  /** A fixed number of rounds (default 1), unless budgetMs is set. */
  rounds?: number;
  /** Time budget per fixture: rounds (varied release, growing N) until it is spent or a round fails. */
  budgetMs?: number;
  /** Race the fixture's bytes as they are instead of a fresh unique id per round. */
  asIs?: boolean;
  /** Largest concurrency the DB pool can carry (in-process), for the race-quality threshold. */
  concurrencyCap?: number;
  /** Warm the receiver with deliveries naming an unknown client before each round (default true). */
  warmup?: boolean;
  /** After each passed round: delete its message's jobs and require one more duplicate to restore them (default true). */
  crashWindow?: boolean;
  /** Offsets (ms after a fixture's last round) at which one more duplicate of every round is delivered (default none). */
  lateMs?: number[];
  /** Hold the messages table's writes from the release in some rounds, at least STALL_MS and then until writers contend (default true): under a budget, rounds 3-5 of each 6; with `stallLastRound`, the last fixed round. */
  stall?: boolean;
  /**
   * The last of the fixed rounds is stalled: the default schedule (neither
   * --rounds nor --budget). One all-at-once round can miss a plain
   * check-then-create when the machine is loaded (the first delivery's
   * find and create both run before the last one's find: seen in CI, one
   * N=30 and one N=50 in-process round each passed such a receiver). With
   * the inserts held, every delivery's find runs before any insert commits.
   */
  stallLastRound?: boolean;
}

export async function runRace(options: RunRaceOptions): Promise<HarnessResult> {
  const schedule: RoundSchedule = options.budgetMs !== undefined ? { kind: "budget", budgetMs: options.budgetMs } : { kind: "fixed", rounds: options.rounds ?? 1, stallLast: options.stallLastRound };
  const progress = options.onProgress ?? (() => undefined);
  const maxAttempts = 1 + (options.asIs ? 0 : INCONCLUSIVE_RETRIES);
  const summaries: RoundsSummary[] = [];
  const result = await runHarness("race", options, options.n, async ({ fixtures, engine, target, idForm, mapping, settle }) => {
    const cases: CaseResult[] = [];
    const prepare = (fixture: Fixture, round: number) =>
      prepareCase(fixture, { round, freshId: !options.asIs, target, signer: engine.signer, mapping, idForm, clientsFile: options.clientsFile });
    // Clients for every fixture first (a fresh id names the same client): a
    // missing one is a configuration error that must stop the run before
    // any fixture is raced.
    const firstRounds = fixtures.map((fixture) => prepare(fixture, 1));
    await ensureClientsFor(firstRounds, options.db, mapping, { clientsFile: options.clientsFile, create: options.createClients ?? false });
    const step = { db: options.db, mapping, engine: engine.engine, settle, onProgress: progress, signal: options.signal, workersMayRun: target.kind === "http" };
    for (const [index, fixture] of fixtures.entries()) {
      const fixtureRounds: RoundForLate[] = [];
      const fixtureStart = performance.now();
      const timing = { elapsedMs: 0, failed: false };
      const poor: RoundForLate[] = [];
      for (let round = 1; ; round++) {
        const plan = planRound(schedule, round, options.n, { stall: options.stall });
        timing.elapsedMs = performance.now() - fixtureStart;
        if (!shouldRunRound(schedule, round, timing) || options.signal?.aborted) break;
        // A round too poorly synchronised to judge (a GC pause or scheduler
        // hiccup during release) is run again with a fresh id rather than
        // reported inconclusive at once; it can never turn into a pass on its
        // own, since every retry is judged by the same thresholds.
        let result!: CaseResult;
        let prepared!: PreparedCase;
        /** Why the round's stall lock was refused (the round then ran unstalled). */
        let stallRefused: string | undefined;
        /** How long the round's stall held, and why it let go. */
        let stallRelease: StallRelease | undefined;
        for (let attempt = 1; attempt <= maxAttempts; attempt++) {
          prepared = round === 1 && attempt === 1 ? firstRounds[index]! : prepare(fixture, round);
          const deliveries: PreparedDelivery[] = Array.from({ length: plan.n }, (_, slot) => ({ ...prepared.delivery, slot }));
          const warmupDelivery = prepared.warmup;
          const warmup = options.warmup === false || !warmupDelivery ? undefined : deliveries.map((d) => ({ ...warmupDelivery, slot: d.slot }));
          const beforeWarmup = warmup ? await countMappedTotals(options.db.prisma, mapping.schema) : undefined;
          let before: BeforeSnapshot | undefined;
          let stall: WriteStall | undefined;
          stallRefused = undefined;
          const { outcomes, ...observed } = await engine.engine
            .race(deliveries, {
              warmup,
              release: plan.release,
              beforeRelease: async () => {
                // A warm-up must write nothing: one that does is itself a race
                // (and can hide one, by creating the lead the race would contend on).
                if (beforeWarmup) await checkWarmupWroteNothing(options.db, mapping, beforeWarmup, fixture.path);
                before = await takeBeforeSnapshot(options.db, mapping, prepared);
                if (plan.stallMs > 0) {
                  const taken = await tryStallWrites(options.db.pool, mapping.schema.messages.table);
                  if ("stall" in taken) stall = taken.stall;
                  else stallRefused = taken.refused;
                }
              },
              onRelease: () => stall?.endWhenContended({ minMs: plan.stallMs, waiters: STALL_WAITERS, maxMs: capStall(options.timeoutMs) }),
            })
            // Never judge (or leave) a stalled table: the lock ends with the race at the latest.
            .finally(async () => {
              stallRelease = await stall?.end();
            });
          if (!before) throw new Error("the engine released the race without taking the before snapshot");
          result = await verifyCase({
            db: options.db,
            mapping,
            subject: { name: prepared.name, fixture: fixture.path, round, plan: prepared.plan, expectedStatus: prepared.expectedStatus, lookups: prepared.lookups, expectJobs: prepared.expectJobs },
            before,
            outcomes,
            race: { ...observed, concurrencyCap: target.kind === "in-process" ? options.concurrencyCap : undefined },
            notes: [...prepared.notes, ...describeStall(plan.stallMs, mapping.schema.messages.table, stallRefused, stallRelease)],
            settle,
          });
          if (result.verdict !== "inconclusive" || attempt === maxAttempts || options.signal?.aborted) break;
          progress(`inconclusive ${result.name}  spread ${observed.releaseSpreadMs.toFixed(2)} ms: racing again with a fresh id (attempt ${attempt + 1})`);
        }
        if (schedule.kind === "budget" && plan.n > options.n && isOnlyShedLoad(result, prepared.expectedStatus)) {
          // The receiver shed load (503) in a round grown past --n: a
          // correct receiver may do that at 4 x N, so the answers of such a
          // round are not held against it; its rows still are (any other
          // failure, or a 500, is judged as usual), and rounds at --n judge
          // every 5xx.
          poor.push({ prepared, result });
          progress(`overloaded ${result.name}  N=${plan.n}: the receiver answered 503 (shedding load) and nothing else failed; left out of the verdict`);
          continue;
        }
        if (schedule.kind === "budget" && isOnlyPoorlySynchronised(result)) {
          // A budget's rounds are extra chances to catch a window: one that
          // stays too poorly synchronised after its re-races is left out of
          // the verdict (counted, and kept if no round of the fixture could
          // be judged), rather than turning a run of good passes into exit 3.
          poor.push({ prepared, result });
          progress(`poorly synchronised ${result.name}  N=${plan.n} ${describeRelease(plan.release)}, spread ${(result.releaseSpreadMs ?? 0).toFixed(2)} ms: left out of the verdict`);
          continue;
        }
        if (options.crashWindow !== false && !options.signal?.aborted) result = await provokeCrashWindow(step, prepared, result);
        fixtureRounds.push({ prepared, result });
        timing.failed ||= result.verdict === "fail";
        progress(
          `${result.verdict.padEnd(12)} ${result.name}  N=${plan.n} ${describeRelease(plan.release)}${plan.stallMs > 0 ? (stallRefused === undefined ? `, writes stalled ${stallRelease?.heldMs ?? plan.stallMs} ms` : ", writes not stalled (lock refused)") : ""}, spread ${(result.releaseSpreadMs ?? 0).toFixed(2)} ms, concurrency ${result.peakConcurrency}, p50 ${result.latency.p50} ms`,
        );
      }
      // Nothing could be judged: the fixture's verdict is the last poor round's (inconclusive).
      const onlyPoor = fixtureRounds.length === 0 && poor.length > 0;
      if (onlyPoor) fixtureRounds.push(poor.at(-1)!);
      const roundsRun = fixtureRounds.map((r) => r.result);
      // What the budget bought: rounds only (the late step runs after it, on its own schedule).
      const roundsMs = performance.now() - fixtureStart;
      let judged = fixtureRounds.map((r) => r.result);
      if (options.lateMs && options.lateMs.length > 0 && !options.signal?.aborted) {
        progress(`late duplicates of ${fixtureRounds.length} round(s) at ${options.lateMs.map(formatOffset).join(", ")}`);
        judged = await deliverLateDuplicates(step, fixtureRounds, options.lateMs, performance.now());
      }
      cases.push(...judged);
      if (roundsRun.length > 0) {
        const summary = summariseRounds(fixture.path, schedule, judged, roundsRun.map((r) => r.deliveries), timing.failed, roundsMs, poor.length - (onlyPoor ? 1 : 0));
        summaries.push(summary);
        if (judged.length > 1 || schedule.kind === "budget") progress(describeRounds(summary));
      }
    }
    return cases;
  });
  return summaries.length > 0 ? { ...result, rounds: summaries } : result;
}

/** Why a stall let go, as its note says it (w: sessions seen waiting for a lock at the last look). */
const STALL_ENDED: Record<StallRelease["reason"], (w: number) => string> = {
  contended: (w) => `, until ${w} sessions waited for a lock`,
  answered: () => ", until every delivery was answered",
  cap: (w) => `, the most a stall holds (${w} session(s) waited for a lock)`,
  lost: () => ", until its connection failed",
};

/** The note a stalled round carries: how long its writes were held and why they were let go, or why they could not be held. */
function describeStall(stallMs: number, table: string, refused: string | undefined, release: StallRelease | undefined): string[] {
  if (stallMs === 0) return [];
  if (refused !== undefined) return [`writes to ${table} could not be stalled (${refused}); the round ran unstalled`];
  const why = release ? STALL_ENDED[release.reason](release.waiters) : "";
  return [`writes to ${table} stalled ${release?.heldMs ?? stallMs} ms from the release${why} (a slow database, provoked; at least ${stallMs} ms; --no-stall skips)`];
}

/** Inconclusive only because the release was too spread out or too little overlapped (not a settle timeout, not a stored id). */
function isOnlyPoorlySynchronised(result: CaseResult): boolean {
  const open = result.invariants.filter((i) => i.status !== "pass");
  return result.verdict === "inconclusive" && open.length > 0 && open.every((i) => i.name === "race-quality");
}

/** Invariants a 503 (load shed, Retry-After) fails by itself: what the answers said, not what was written. */
const ANSWER_INVARIANTS = new Set(["status", "no-5xx", "first-delivery-once", "duplicates-deduped", "answers-name-the-row"]);

/**
 * Failed only on answers, every 5xx was a 503, and the other answers agree
 * with each other: the receiver was shedding load, not losing a race. Two
 * "first" answers, two message ids, or an unexpected status among the
 * answers that did get through are a race whatever else was shed, and keep
 * the round in the verdict.
 */
export function isOnlyShedLoad(result: CaseResult, expectedStatus: number): boolean {
  const fiveXx = result.outcomes.filter((o) => o.status !== null && o.status >= 500);
  if (fiveXx.length === 0 || fiveXx.some((o) => o.status !== 503)) return false;
  const through = result.outcomes.filter((o) => o.status !== 503);
  if (through.some((o) => o.transportError || o.status !== expectedStatus)) return false;
  if (through.filter((o) => o.deduped === false && !o.ignored).length > 1) return false;
  if (new Set(through.map((o) => o.messageId).filter((id) => id !== null)).size > 1) return false;
  const failed = result.invariants.filter((i) => i.status === "fail");
  return failed.length > 0 && failed.every((i) => ANSWER_INVARIANTS.has(i.name));
}

async function checkWarmupWroteNothing(db: DbHandle, mapping: ReceiverMapping, before: MappedTotals, fixture: string): Promise<void> {
  const after = await countMappedTotals(db.prisma, mapping.schema);
  // Jobs and drafts are left out: an app's workers may still be finishing
  // (and enqueueing follow-up jobs for) the previous round's message.
  const changed = (["clients", "leads", "messages"] as const).filter((k) => after[k] !== before[k]).map((k) => `${k} ${after[k] - before[k] >= 0 ? "+" : ""}${after[k] - before[k]}`);
  if (changed.length === 0) return;
  throw new ConfigError(`The warm-up before racing ${fixture} wrote rows (${changed.join(", ")}): it must be a request your receiver answers without writing.`, {
    hint: mapping.file
      ? `Set warmup in ${mapping.file} to a request your app rejects before writing (for example an unknown client), or warmup: "none"; or pass --no-warmup.`
      : "Your receiver ignored ?clientId=dedupe-warmup-… and ingested the warm-up: pass --no-warmup, or describe your app in a dedupe.config file (warmup: \"none\" by default).",
  });
}
