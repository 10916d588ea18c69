// Late retries. Providers retry seconds to hours after the first delivery,
// not only at the same instant: a receiver whose dedupe is a lock with a TTL
// (or an in-memory cache) passes every burst and takes the first late retry
// for a new message. After a fixture's rounds, one duplicate of each round's
// message is delivered at each offset of the schedule (counted from the end
// of the fixture's last round); it must be answered deduped, write nothing,
// and leave every job as it was.
import type { DbHandle } from "../db/client.js";
import type { PreparedCase } from "./deliveries.js";
import type { ReceiverMapping } from "./mapping.js";
import type { SettleOptions } from "./settle.js";
import { compareJobStates } from "./state-invariants.js";
import { combineVerdicts } from "./stats.js";
import type { CaseResult, DeliveryEngine, InvariantResult } from "./types.js";
import { areAnswersUnreadable, settleCase } from "./verify.js";

export interface LateContext {
  db: DbHandle;
  mapping: ReceiverMapping;
  engine: DeliveryEngine;
  settle: SettleOptions;
  /** The app's own workers may move jobs forward meanwhile (over HTTP). */
  workersMayRun: boolean;
  signal?: AbortSignal;
}

export interface RoundForLate {
  prepared: PreparedCase;
  result: CaseResult;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/** "+1s" for a report. */
export const formatOffset = (ms: number) => (ms % 1000 === 0 ? `+${ms / 1000}s` : `+${ms}ms`);

/** Delivers the late duplicates of a fixture's rounds; returns the rounds with the late invariants folded in. */
export async function deliverLateDuplicates(ctx: LateContext, rounds: readonly RoundForLate[], offsetsMs: readonly number[], endedAt: number): Promise<CaseResult[]> {
  const results = rounds.map((r) => r.result);
  for (const offset of [...offsetsMs].sort((a, b) => a - b)) {
    await sleep(endedAt + offset - performance.now(), ctx.signal);
    if (ctx.signal?.aborted) break;
    for (const [i, round] of rounds.entries()) {
      const result = results[i]!;
      // Only a stored message has something to duplicate (and a passed case something to keep).
      if (round.prepared.plan.kind !== "message" || result.messageRowIds?.length !== 1) continue;
      results[i] = await judgeLateDuplicate(ctx, round.prepared, result, offset);
    }
  }
  return results;
}

async function judgeLateDuplicate(ctx: LateContext, prepared: PreparedCase, result: CaseResult, offset: number): Promise<CaseResult> {
  const before = (await settleCase(ctx.db, ctx.mapping, prepared, { windowMs: 0, timeoutMs: 0 })).value;
  const slot = result.deliveries + 1;
  const [outcome] = await ctx.engine.send([{ ...prepared.delivery, slot }], 1);
  const after = (await settleCase(ctx.db, ctx.mapping, prepared, ctx.settle)).value;
  const at = formatOffset(offset);
  const wrote = (["messages", "leads", "jobs", "aiDrafts", "clients"] as const).filter((k) => after.counts[k] !== before.counts[k]);
  const judgedFromDb = ctx.mapping.answerless || (outcome !== undefined && areAnswersUnreadable(ctx.mapping, [outcome, ...result.outcomes]));
  const answerOk = outcome !== undefined && outcome.status !== null && outcome.status >= 200 && outcome.status < 300 && (judgedFromDb || outcome.deduped === true);
  const checks: InvariantResult[] = [
    {
      name: "late-duplicate-deduped",
      expected: `the duplicate at ${at} answered 2xx${judgedFromDb ? "" : " deduped:true"}`,
      observed: outcome ? `${outcome.status ?? outcome.error}${outcome.deduped === null ? "" : ` deduped:${outcome.deduped}`}` : "not sent",
      status: answerOk ? "pass" : "fail",
      ...(answerOk ? {} : { witnesses: [slot] }),
    },
    {
      name: "late-duplicate-writes-nothing",
      expected: `+0 rows after the duplicate at ${at}`,
      observed: wrote.length === 0 ? "+0" : wrote.map((k) => `${k} ${before.counts[k]} -> ${after.counts[k]}`).join(", "),
      status: wrote.length === 0 ? "pass" : "fail",
      ...(wrote.length === 0 ? {} : { witnesses: [slot] }),
    },
    ...compareJobStates(before.jobStates, after.jobStates, `the duplicate at ${at}`, ctx.workersMayRun),
  ];
  const invariants = checks.map((inv) => ({ ...inv, name: inv.name.startsWith("late-") ? inv.name : `late-${inv.name}` }));
  const merged = [...result.invariants, ...invariants];
  return { ...result, invariants: merged, verdict: combineVerdicts(merged.map((i) => i.status)) };
}
