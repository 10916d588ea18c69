// `race`: N identical deliveries of one fixture released together, then the
// database asked whether the receiver kept its promises. Rounds re-key the
// payload so no round can dedupe against earlier data.
import type { ConflictStrategy } from "../core/messages.js";
import type { DbHandle } from "../db/client.js";
import type { ProviderName } from "../providers/types.js";
import { createEngine, type EngineTarget } from "./engine.js";
import { ensureClientsFor, loadCaseFixtures, prepareCase } from "./deliveries.js";
import { buildHarnessResult } from "./result.js";
import { takeBeforeSnapshot, verifyCase, type BeforeSnapshot, type IdForm } from "./verify.js";
import type { CaseResult, HarnessResult, PreparedDelivery } from "./types.js";

/** Extra attempts for a round whose race was too poorly synchronised to judge. */
const INCONCLUSIVE_RETRIES = 2;

export interface RaceOptions {
  /** Verification database; in-process it is also the receiver's database. */
  db: DbHandle;
  /** Fixture files or directories (directories are searched recursively). */
  fixtures: string[];
  /** Override the provider otherwise taken from each fixture's parent folder. */
  provider?: ProviderName;
  /** Deliveries per round. */
  n: number;
  rounds?: number;
  /** in-process (default) or an HTTP receiver. */
  target?: EngineTarget;
  /** In-process only: the core's conflict strategy. */
  strategy?: ConflictStrategy;
  /** Race the fixture's bytes as they are instead of a fresh unique id per round. */
  asIs?: boolean;
  idForm?: IdForm;
  /** clients.json used to create (embedded) or check (external) the clients fixtures reference. */
  clientsFile?: string;
  /** Create missing clients (true on the embedded database; false: a missing client is a ConfigError). */
  createClients?: boolean;
  /** Largest concurrency the DB pool can carry (in-process), for the race-quality threshold. */
  concurrencyCap?: number;
  timeoutMs?: number;
  /** Warm the receiver with deliveries naming an unknown client before each round (default true). */
  warmup?: boolean;
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

export async function runRace(options: RaceOptions): Promise<HarnessResult> {
  const startedAt = performance.now();
  const rounds = options.rounds ?? 1;
  const idForm = options.idForm ?? "auto";
  const progress = options.onProgress ?? (() => undefined);
  const target: EngineTarget = options.target ?? { kind: "in-process" };
  const fixtures = await loadCaseFixtures(options.fixtures, options.provider);
  const engine = await createEngine(target, options.db, { strategy: options.strategy, timeoutMs: options.timeoutMs });
  const cases: CaseResult[] = [];
  try {
    for (const fixture of fixtures) {
      for (let round = 1; round <= rounds; round++) {
        if (options.signal?.aborted) break;
        // A round too poorly synchronised to judge (a GC pause or scheduler
        // hiccup during release) is run again with a fresh id rather than
        // reported inconclusive at once; it can never turn into a pass on its
        // own, since every retry is judged by the same thresholds.
        let result!: CaseResult;
        for (let attempt = 1; attempt <= 1 + (options.asIs ? 0 : INCONCLUSIVE_RETRIES); attempt++) {
          const prepared = prepareCase(fixture, { round, freshId: !options.asIs, target, signer: engine.signer, clientsFile: options.clientsFile });
          await ensureClientsFor([prepared], options.db, { clientsFile: options.clientsFile, create: options.createClients ?? false });
          const deliveries: PreparedDelivery[] = Array.from({ length: options.n }, (_, slot) => ({ ...prepared.delivery, slot }));
          const warmup = options.warmup === false ? undefined : deliveries.map((d) => ({ ...prepared.warmup, slot: d.slot }));
          let before: BeforeSnapshot | undefined;
          const observation = await engine.engine.race(deliveries, {
            warmup,
            // After the warm-up: a receiver that wrote something for it is not blamed for the race.
            beforeRelease: async () => {
              before = await takeBeforeSnapshot(options.db, prepared.plan, idForm);
            },
          });
          if (!before) throw new Error("the engine released the race without taking the before snapshot");
          result = await verifyCase({
            db: options.db,
            subject: { name: prepared.name, fixture: fixture.path, round, plan: prepared.plan, expectedStatus: prepared.expectedStatus },
            before,
            outcomes: observation.outcomes,
            idForm,
            race: {
              releaseSpreadMs: observation.releaseSpreadMs,
              peakConcurrency: observation.peakConcurrency,
              concurrencySource: observation.concurrencySource,
              databaseOverlap: observation.databaseOverlap,
              concurrencyCap: target.kind === "in-process" ? options.concurrencyCap : undefined,
            },
            notes: prepared.notes,
          });
          if (result.verdict !== "inconclusive" || attempt > INCONCLUSIVE_RETRIES || options.asIs || options.signal?.aborted) break;
          progress(`inconclusive ${result.name}  spread ${observation.releaseSpreadMs.toFixed(2)} ms: racing again with a fresh id (attempt ${attempt + 1})`);
        }
        cases.push(result);
        progress(
          `${result.verdict.padEnd(12)} ${result.name}  spread ${(result.releaseSpreadMs ?? 0).toFixed(2)} ms, concurrency ${result.peakConcurrency}, p50 ${result.latency.p50} ms`,
        );
      }
    }
  } finally {
    await engine.close();
  }
  return buildHarnessResult({
    command: "race",
    mode: engine.engine.mode,
    target: engine.description,
    strategy: target.kind === "in-process" ? (options.strategy ?? "on-conflict") : null,
    n: options.n,
    cases,
    startedAt,
  });
}
