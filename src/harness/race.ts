// `race`: N identical deliveries of one fixture released together, then the
// database asked whether the receiver kept its promises. Rounds re-key the
// payload so no round can dedupe against earlier data.
import { countMappedTotals, type MappedTotals } from "../db/verify-mapping-sql.js";
import type { DbHandle } from "../db/client.js";
import { ConfigError } from "../errors.js";
import { ensureClientsFor, prepareCase, type PreparedCase } from "./deliveries.js";
import { deliverLateDuplicates, formatOffset, type RoundForLate } from "./late.js";
import { provokeCrashWindow } from "./nemesis.js";
import type { ReceiverMapping } from "./mapping.js";
import type { Fixture } from "./fixtures.js";
import { runHarness, type HarnessRunOptions } from "./run.js";
import { takeBeforeSnapshot, verifyCase, type BeforeSnapshot } from "./verify.js";
import type { CaseResult, HarnessResult, PreparedDelivery } from "./types.js";

/** Extra attempts for a round whose race was too poorly synchronised to judge. */
const INCONCLUSIVE_RETRIES = 2;

export interface RunRaceOptions extends HarnessRunOptions {
  /** Deliveries per round. */
  n: number;
  rounds?: number;
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
}

export async function runRace(options: RunRaceOptions): Promise<HarnessResult> {
  const rounds = options.rounds ?? 1;
  const progress = options.onProgress ?? (() => undefined);
  const maxAttempts = 1 + (options.asIs ? 0 : INCONCLUSIVE_RETRIES);
  return runHarness("race", options, options.n, async ({ fixtures, engine, target, idForm, mapping, settle }) => {
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
      for (let round = 1; round <= rounds; round++) {
        if (options.signal?.aborted) break;
        // A round too poorly synchronised to judge (a GC pause or scheduler
        // hiccup during release) is run again with a fresh id rather than
        // reported inconclusive at once; it can never turn into a pass on its
        // own, since every retry is judged by the same thresholds.
        let result!: CaseResult;
        let prepared!: PreparedCase;
        for (let attempt = 1; attempt <= maxAttempts; attempt++) {
          prepared = round === 1 && attempt === 1 ? firstRounds[index]! : prepare(fixture, round);
          const deliveries: PreparedDelivery[] = Array.from({ length: options.n }, (_, slot) => ({ ...prepared.delivery, slot }));
          const warmupDelivery = prepared.warmup;
          const warmup = options.warmup === false || !warmupDelivery ? undefined : deliveries.map((d) => ({ ...warmupDelivery, slot: d.slot }));
          const beforeWarmup = warmup ? await countMappedTotals(options.db.prisma, mapping.schema) : undefined;
          let before: BeforeSnapshot | undefined;
          const { outcomes, ...observed } = await engine.engine.race(deliveries, {
            warmup,
            beforeRelease: async () => {
              // A warm-up must write nothing: one that does is itself a race
              // (and can hide one, by creating the lead the race would contend on).
              if (beforeWarmup) await checkWarmupWroteNothing(options.db, mapping, beforeWarmup, fixture.path);
              before = await takeBeforeSnapshot(options.db, mapping, prepared);
            },
          });
          if (!before) throw new Error("the engine released the race without taking the before snapshot");
          result = await verifyCase({
            db: options.db,
            mapping,
            subject: { name: prepared.name, fixture: fixture.path, round, plan: prepared.plan, expectedStatus: prepared.expectedStatus, lookups: prepared.lookups, expectJobs: prepared.expectJobs },
            before,
            outcomes,
            race: { ...observed, concurrencyCap: target.kind === "in-process" ? options.concurrencyCap : undefined },
            notes: prepared.notes,
            settle,
          });
          if (result.verdict !== "inconclusive" || attempt === maxAttempts || options.signal?.aborted) break;
          progress(`inconclusive ${result.name}  spread ${observed.releaseSpreadMs.toFixed(2)} ms: racing again with a fresh id (attempt ${attempt + 1})`);
        }
        if (options.crashWindow !== false && !options.signal?.aborted) result = await provokeCrashWindow(step, prepared, result);
        fixtureRounds.push({ prepared, result });
        progress(
          `${result.verdict.padEnd(12)} ${result.name}  spread ${(result.releaseSpreadMs ?? 0).toFixed(2)} ms, concurrency ${result.peakConcurrency}, p50 ${result.latency.p50} ms`,
        );
      }
      let judged = fixtureRounds.map((r) => r.result);
      if (options.lateMs && options.lateMs.length > 0 && !options.signal?.aborted) {
        progress(`late duplicates of ${fixtureRounds.length} round(s) at ${options.lateMs.map(formatOffset).join(", ")}`);
        judged = await deliverLateDuplicates(step, fixtureRounds, options.lateMs, performance.now());
      }
      cases.push(...judged);
      if (judged.length > 1) progress(describeRounds(judged));
    }
    return cases;
  });
}

/** "lead_replied.json: failed in 7 of 19 rounds (one-lead-per-identity 7)", so a user sees how often a window opened. */
function describeRounds(rounds: readonly CaseResult[]): string {
  const failed = rounds.filter((r) => r.verdict === "fail");
  const byInvariant = new Map<string, number>();
  for (const r of failed) for (const i of r.invariants) if (i.status === "fail") byInvariant.set(i.name, (byInvariant.get(i.name) ?? 0) + 1);
  const fixture = rounds[0]!.name.replace(/#\d+$/, "");
  if (failed.length === 0) return `${fixture}: passed ${rounds.filter((r) => r.verdict === "pass").length} of ${rounds.length} rounds`;
  return `${fixture}: caught in ${failed.length} of ${rounds.length} rounds (${[...byInvariant].map(([k, v]) => `${k} ${v}`).join(", ")})`;
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
