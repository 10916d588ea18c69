// `replay`: every fixture delivered, then delivered again (or k times with up
// to c in flight), checking the documented status, that the first delivery
// wrote exactly the message and jobs the plan says, and that duplicates
// dedupe and write nothing.
import { ensureClientsFor, prepareCase } from "./deliveries.js";
import { runHarness, type HarnessRunOptions } from "./run.js";
import { settleCase, takeBeforeSnapshot, verifyCase } from "./verify.js";
import type { CaseResult, HarnessResult, PreparedDelivery } from "./types.js";

export interface ReplayOptions extends HarnessRunOptions {
  /** Deliveries per fixture (default 2: once, then again). */
  times?: number;
  /** Most deliveries of one fixture in flight (default 1: strictly one after the other). */
  concurrency?: number;
  /** Re-key each fixture with a fresh unique id (default: replay the bytes as they are). */
  freshIds?: boolean;
}

export async function runReplay(options: ReplayOptions): Promise<HarnessResult> {
  const times = options.times ?? 2;
  const concurrency = options.concurrency ?? 1;
  return runHarness("replay", options, times, async ({ fixtures, engine, target, idForm, mapping, settle }) => {
    const cases: CaseResult[] = [];
    const prepared = fixtures.map((fixture) =>
      prepareCase(fixture, { round: 1, freshId: options.freshIds ?? false, target, signer: engine.signer, mapping, idForm, clientsFile: options.clientsFile, showRound: false }),
    );
    // Clients first, all at once: a missing one is a configuration error
    // that must stop the run before any fixture is delivered.
    await ensureClientsFor(prepared, options.db, mapping, { clientsFile: options.clientsFile, create: options.createClients ?? false });
    for (const p of prepared) {
      if (options.signal?.aborted) break;
      const deliveries: PreparedDelivery[] = Array.from({ length: times }, (_, slot) => ({ ...p.delivery, slot }));
      const before = await takeBeforeSnapshot(options.db, mapping, p);
      let outcomes;
      let afterFirst;
      let jobsBeforeDuplicates;
      if (concurrency === 1) {
        // Sequential: the first delivery alone, so what it wrote can be told
        // apart from what the duplicates wrote.
        outcomes = await engine.engine.send(deliveries.slice(0, 1), 1);
        // Settled: a receiver that enqueues after answering is not done yet.
        const first = (await settleCase(options.db, mapping, p, settle)).value;
        afterFirst = first.counts;
        jobsBeforeDuplicates = first.jobStates;
        outcomes.push(...(await engine.engine.send(deliveries.slice(1), 1)));
      } else {
        outcomes = await engine.engine.send(deliveries, concurrency);
      }
      const result = await verifyCase({
        db: options.db,
        mapping,
        subject: { name: p.name, fixture: p.fixturePath, round: 1, plan: p.plan, expectedStatus: p.expectedStatus, lookups: p.lookups, expectJobs: p.expectJobs },
        before,
        outcomes,
        afterFirst,
        notes: p.notes,
        settle,
        // A message stored before the first delivery (verify's late duplicates after the drain): every delivery is a duplicate.
        duplicates: before.preExisting
          ? { jobsBefore: before.jobStates, step: "duplicates of a stored message", workersMayRun: target.kind === "http" }
          : jobsBeforeDuplicates
            ? { jobsBefore: jobsBeforeDuplicates, step: "the duplicate deliveries", workersMayRun: target.kind === "http" }
            : undefined,
      });
      cases.push(result);
      options.onProgress?.(`${result.verdict.padEnd(12)} ${result.name}  (${times} deliveries, p50 ${result.latency.p50} ms)`);
    }
    return cases;
  });
}
