// Before/after evidence for one case, read from the database the receiver
// writes to, and the case verdict built from it.
import type { DbHandle } from "../db/client.js";
import { countRows, type RowCounts } from "../db/sql.js";
import { countJobsForMessages, findMessagesByKey, type StoredMessage } from "../db/verify-sql.js";
import type { DeliveryPlan } from "../providers/types.js";
import { evaluateCase } from "./invariants.js";
import { assessRaceQuality, combineVerdicts, countStatuses, summariseLatency } from "./stats.js";
import type { CaseResult, DeliveryOutcome, IdForm, InvariantResult, RaceObservation } from "./types.js";

export type { IdForm } from "./types.js";

export interface CaseSubject {
  name: string;
  fixture: string;
  round: number;
  plan: DeliveryPlan;
  expectedStatus: number;
}

export interface BeforeSnapshot {
  counts: RowCounts;
  preExisting: boolean;
}

export async function takeBeforeSnapshot(db: DbHandle, plan: DeliveryPlan, idForm: IdForm): Promise<BeforeSnapshot> {
  const counts = await countRows(db.prisma);
  if (plan.kind === "ignored") return { counts, preExisting: false };
  const found = await findStored(db, plan, idForm);
  return { counts, preExisting: found.messages.length > 0 };
}

async function findStored(db: DbHandle, plan: Extract<DeliveryPlan, { kind: "message" }>, idForm: IdForm): Promise<{ messages: StoredMessage[]; form: "namespaced" | "raw" }> {
  if (idForm === "raw") return { messages: await findMessagesByKey(db.prisma, plan.unique.key, plan.unique.rawId), form: "raw" };
  const namespaced = await findMessagesByKey(db.prisma, plan.unique.key, plan.unique.value);
  if (idForm === "namespaced" || namespaced.length > 0) return { messages: namespaced, form: "namespaced" };
  const raw = await findMessagesByKey(db.prisma, plan.unique.key, plan.unique.rawId);
  return raw.length > 0 ? { messages: raw, form: "raw" } : { messages: namespaced, form: "namespaced" };
}

export interface VerifyCaseInput {
  db: DbHandle;
  subject: CaseSubject;
  before: BeforeSnapshot;
  outcomes: DeliveryOutcome[];
  idForm: IdForm;
  /** Set for races: release spread and concurrency, judged against the thresholds. */
  race?: Omit<RaceObservation, "outcomes"> & { concurrencyCap?: number };
  afterFirst?: RowCounts;
  notes?: string[];
}

export async function verifyCase(input: VerifyCaseInput): Promise<CaseResult> {
  const { db, subject, before, outcomes } = input;
  const plan = subject.plan;
  const notes = [...(input.notes ?? [])];
  const after = await countRows(db.prisma);
  let messages: StoredMessage[] = [];
  if (plan.kind === "message") {
    const stored = await findStored(db, plan, input.idForm);
    messages = stored.messages;
    if (stored.form === "raw" && input.idForm === "auto") notes.push(`the receiver stores bare provider ids (${plan.unique.key}=${plan.unique.rawId}); verified on those`);
  }
  const jobs = await countJobsForMessages(db.prisma, messages.map((m) => m.id));
  const invariants: InvariantResult[] = evaluateCase({
    plan,
    expectedStatus: subject.expectedStatus,
    outcomes,
    preExisting: before.preExisting,
    before: before.counts,
    after,
    messages,
    jobs,
    afterFirst: input.afterFirst,
  });
  if (before.preExisting) notes.push("the message was already stored before the first delivery; every delivery must dedupe");

  const latency = summariseLatency(outcomes);
  if (input.race && plan.kind === "ignored") {
    // Nothing is written for an ignored event, so there is nothing to lose a
    // race on: the zero-row invariants above are the whole verdict.
    notes.push("ignored event: race quality not judged (nothing to contend on)");
  } else if (input.race) {
    const quality = assessRaceQuality({
      n: outcomes.length,
      spreadMs: input.race.releaseSpreadMs,
      p50Ms: latency.p50,
      peakConcurrency: input.race.peakConcurrency,
      concurrencyCap: input.race.concurrencyCap,
    });
    invariants.push({
      name: "race-quality",
      expected: `spread <= ${quality.maxSpreadMs.toFixed(2)} ms, concurrency >= ${quality.requiredConcurrency}`,
      observed: `spread ${input.race.releaseSpreadMs.toFixed(3)} ms, concurrency ${input.race.peakConcurrency} (${input.race.concurrencySource}${input.race.databaseOverlap !== undefined ? `; ${input.race.databaseOverlap} statements at once in pg_stat_activity` : ""})`,
      status: quality.ok ? "pass" : "inconclusive",
    });
    for (const reason of quality.reasons) notes.push(`inconclusive: ${reason}`);
    if (before.preExisting && plan.kind === "message") {
      invariants.push({ name: "fresh-id", expected: "no stored message before the race", observed: "already stored", status: "inconclusive" });
      notes.push("inconclusive: a race on an id that is already stored only exercises the duplicate path; drop --as-is to race a fresh id");
    }
  }
  return {
    name: subject.name,
    fixture: subject.fixture,
    provider: plan.provider,
    eventType: plan.eventType,
    round: subject.round,
    kind: plan.kind,
    uniqueValue: plan.kind === "message" ? plan.unique.value : null,
    deliveries: outcomes.length,
    invariants,
    verdict: combineVerdicts(invariants.map((i) => i.status)),
    latency,
    statusCounts: countStatuses(outcomes),
    releaseSpreadMs: input.race ? input.race.releaseSpreadMs : null,
    peakConcurrency: input.race ? input.race.peakConcurrency : null,
    notes,
    outcomes,
  };
}
