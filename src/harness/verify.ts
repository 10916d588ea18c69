// Before/after evidence for one case, read from the database the receiver
// writes to, and the case verdict built from it.
import type { DbHandle } from "../db/client.js";
import type { RowCounts } from "../db/sql.js";
import { countMappedDrafts, countMappedTotals } from "../db/verify-mapping-sql.js";
import type { JobState } from "../db/verify-state-sql.js";
import type { JobKeyCount, StoredMessage } from "../db/verify-sql.js";
import type { DeliveryPlan } from "../providers/types.js";
import { evaluateCase } from "./invariants.js";
import { IN_PROCESS_SETTLE, waitUntilSettled, type Settled, type SettleOptions } from "./settle.js";
import { checkLeadIdentity, compareJobStates } from "./state-invariants.js";
import type { ExpectedJobs, ReceiverMapping, StoredIdLookup } from "./mapping.js";
import { absoluteSpreadBound, assessRaceQuality, combineVerdicts, countStatuses, summariseLatency } from "./stats.js";
import type { CaseResult, DeliveryOutcome, InvariantResult, RaceObservation } from "./types.js";

export type { IdForm } from "./types.js";

export interface CaseSubject {
  name: string;
  fixture: string;
  round: number;
  plan: DeliveryPlan;
  expectedStatus: number;
  /** Where the case's message should be, in the order to look (prepareCase computes them). */
  lookups: readonly StoredIdLookup[];
  /** The jobs the receiver must have enqueued for the stored message (undefined: not judged). */
  expectJobs?: (message: StoredMessage, storedId: string) => ExpectedJobs | undefined;
}

/** A case's evidence at one instant: its message rows and the rows counted in its scope. */
export interface CaseSnapshot {
  counts: RowCounts;
  messages: StoredMessage[];
  /** The lookup that found the rows (the first one when none did). */
  lookup: StoredIdLookup | undefined;
  /** Jobs of the messages by dedupe key, and each job's state. */
  jobs: JobKeyCount[];
  jobStates: JobState[];
  /** Leads carrying the case's lead identity (undefined: the identity column is not mapped). */
  leadIds: string[] | undefined;
}

export interface BeforeSnapshot {
  counts: RowCounts;
  preExisting: boolean;
  /** Jobs of an already stored message (a re-run, verify's late duplicates), to judge what the deliveries did to them. */
  jobStates: JobState[];
}

/**
 * Counts scoped to the case: its message rows (by stored id), their jobs and
 * drafts, the leads carrying its lead identity, the clients its fixture
 * matches. Nothing another run (or the app's other traffic) writes under
 * other ids can move them. An ignored event has no scope: whole tables are
 * counted, which the harness lock keeps other dedupe-cli runs out of. All of
 * it is read in one REPEATABLE READ snapshot: counts and rows read by
 * separate statements disagreed whenever the receiver wrote in between.
 */
export async function snapshotCase(db: DbHandle, mapping: ReceiverMapping, plan: DeliveryPlan, lookups: readonly StoredIdLookup[]): Promise<CaseSnapshot> {
  return mapping.readSnapshot(db, async (tx) => {
    if (plan.kind === "ignored") return { counts: await countMappedTotals(tx.prisma, mapping.schema), messages: [], lookup: undefined, jobs: [], jobStates: [], leadIds: undefined };
    let found: { messages: StoredMessage[]; lookup: StoredIdLookup | undefined } = { messages: [], lookup: lookups[0] };
    for (const lookup of lookups) {
      const messages = await mapping.findMessages(tx, lookup);
      if (messages.length > 0) {
        found = { messages, lookup };
        break;
      }
    }
    const ids = found.messages.map((m) => m.id);
    // One connection: the statements of a snapshot run one after another.
    const jobs = await mapping.countJobs(tx, ids);
    const jobStates = await mapping.listJobStates(tx, ids);
    const aiDrafts = await countMappedDrafts(tx.prisma, mapping.schema, ids);
    // Judged per client (the message's): the counts keep the unscoped lead count the deltas were built on.
    const clientId = found.messages[0]?.clientId;
    const leadIds = clientId ? await mapping.listLeadIds(tx, plan, clientId) : undefined;
    const leads = await mapping.countLeads(tx, plan);
    const clients = await mapping.findClientIds(tx, plan);
    const counts: RowCounts = { clients: clients?.length ?? 0, leads: leads ?? 0, messages: found.messages.length, aiDrafts, jobs: jobs.reduce((s, j) => s + j.n, 0) };
    return { counts, ...found, jobs, jobStates, leadIds };
  });
}

/** What "the rows stopped changing" compares: which rows exist, not how far workers have taken them. */
export function fingerprintSnapshot(snap: CaseSnapshot): string {
  return JSON.stringify([snap.counts, snap.messages.map((m) => m.id), snap.jobStates.map((j) => j.id), snap.leadIds]);
}

/** The case's snapshot once its rows stop changing (see settle.ts). */
export function settleCase(db: DbHandle, mapping: ReceiverMapping, subject: Pick<CaseSubject, "plan" | "lookups">, settle: SettleOptions): Promise<Settled<CaseSnapshot>> {
  return waitUntilSettled(() => snapshotCase(db, mapping, subject.plan, subject.lookups), fingerprintSnapshot, settle);
}

export async function takeBeforeSnapshot(db: DbHandle, mapping: ReceiverMapping, subject: Pick<CaseSubject, "plan" | "lookups">): Promise<BeforeSnapshot> {
  const snap = await snapshotCase(db, mapping, subject.plan, subject.lookups);
  return { counts: snap.counts, preExisting: snap.messages.length > 0, jobStates: snap.jobStates };
}

/**
 * No config, and not one 2xx answer the built-in convention can read (say
 * `{"received": true}`): the answers are a convention the harness does not
 * know, not a verdict. With a config, its `answer` decides.
 */
export function areAnswersUnreadable(mapping: ReceiverMapping, outcomes: readonly DeliveryOutcome[]): boolean {
  if (mapping.file || mapping.kind !== "builtin") return false;
  const ok = outcomes.filter((o) => o.status !== null && o.status >= 200 && o.status < 300);
  return ok.length > 0 && ok.every((o) => o.deduped === null);
}

export interface VerifyCaseInput {
  db: DbHandle;
  mapping: ReceiverMapping;
  subject: CaseSubject;
  before: BeforeSnapshot;
  outcomes: DeliveryOutcome[];
  /** Set for races: release spread and concurrency, judged against the thresholds. */
  race?: Omit<RaceObservation, "outcomes"> & { concurrencyCap?: number };
  afterFirst?: RowCounts;
  notes?: string[];
  /** How long the rows must hold still before they are judged (default: one read). */
  settle?: SettleOptions;
  /** Jobs as they were before duplicate deliveries of a stored message: judged unchanged by them. */
  duplicates?: { jobsBefore: JobState[]; step: string; workersMayRun: boolean };
}

export async function verifyCase(input: VerifyCaseInput): Promise<CaseResult> {
  const { db, subject, before, outcomes } = input;
  const plan = subject.plan;
  const notes = [...(input.notes ?? [])];
  const settled = await settleCase(db, input.mapping, subject, input.settle ?? IN_PROCESS_SETTLE);
  const snap = settled.value;
  const after = snap.counts;
  const messages = snap.messages;
  if (plan.kind === "message" && snap.lookup && messages.length > 0 && snap.lookup.form === "raw" && subject.lookups.length > 1) {
    notes.push(`the receiver stores bare provider ids (${snap.lookup.column}=${snap.lookup.value}); verified on those`);
  }
  const jobs = snap.jobs;
  const expectedJobs = messages.length === 1 && snap.lookup ? subject.expectJobs?.(messages[0]!, snap.lookup.value) : undefined;
  if (plan.kind === "message" && !subject.expectJobs) notes.push("jobs not judged: dedupe.config names no jobs for this provider/event");
  const unreadable = plan.kind === "message" && !input.mapping.answerless && areAnswersUnreadable(input.mapping, outcomes);
  if (unreadable) {
    notes.push(
      "no answer says deduped true/false and no dedupe.config describes the answers: first and duplicate deliveries judged from the database alone (describe them with `answer` in a dedupe.config to judge them too)",
    );
  }
  if (plan.kind === "message" && input.mapping.answerless) notes.push("the answer carries nothing (answer: \"none\"): first and duplicate deliveries judged from the database alone");
  const invariants: InvariantResult[] = evaluateCase({
    plan,
    expectedStatus: subject.expectedStatus,
    outcomes,
    preExisting: before.preExisting,
    before: before.counts,
    after,
    messages,
    jobs,
    expectedJobs: subject.expectJobs ? (expectedJobs ?? { types: [], keys: [], source: "" }) : undefined,
    jobsJudged: plan.kind === "message" ? subject.expectJobs !== undefined : true,
    answersJudged: !input.mapping.answerless && !unreadable,
    lookup: snap.lookup,
    afterFirst: input.afterFirst,
  });
  if (before.preExisting) notes.push("the message was already stored before the first delivery; every delivery must dedupe");
  if (plan.kind === "message" && snap.leadIds !== undefined && messages.length > 0) {
    invariants.push(checkLeadIdentity(snap.leadIds, `${plan.lead.key}=${plan.lead.value}`, input.mapping.conventions));
  }
  if (input.duplicates && plan.kind === "message" && input.duplicates.jobsBefore.length > 0) {
    invariants.push(...compareJobStates(input.duplicates.jobsBefore, snap.jobStates, input.duplicates.step, input.duplicates.workersMayRun));
  }
  if ((input.settle?.windowMs ?? 0) > 0) notes.push(`settled: rows unchanged over ${input.settle!.windowMs} ms, ${settled.settledMs} ms after the last answer`);
  if (!settled.settled) {
    invariants.push({ name: "settled", expected: `rows unchanged over ${input.settle!.windowMs} ms`, observed: `still changing after ${settled.settledMs} ms`, status: "inconclusive" });
    notes.push("inconclusive: the case's rows were still changing at --settle-timeout; judged on the last read");
  }

  const latency = summariseLatency(outcomes);
  if (input.race && plan.kind === "ignored") {
    // Nothing is written for an ignored event, so there is nothing to lose a
    // race on: the zero-row invariants above are the whole verdict.
    notes.push("ignored event: race quality not judged (nothing to contend on)");
  } else if (input.race) {
    // A round in waves is judged per wave: each wave must be released at
    // once and overlap itself; the gap between waves is the schedule's.
    const waves = input.race.waveSizes ?? [outcomes.length];
    const judgedN = waves.length > 1 ? Math.max(...waves) : outcomes.length;
    const quality = assessRaceQuality({
      n: judgedN,
      spreadMs: input.race.releaseSpreadMs,
      p50Ms: latency.p50,
      peakConcurrency: input.race.peakConcurrency,
      concurrencyCap: input.race.concurrencyCap,
      absoluteSpreadMs: absoluteSpreadBound(input.race.concurrencySource === "http-overlap" ? "http" : "in-process", judgedN),
    });
    invariants.push({
      name: "race-quality",
      expected: `spread <= ${quality.maxSpreadMs.toFixed(2)} ms, concurrency >= ${quality.requiredConcurrency}`,
      observed: `spread ${input.race.releaseSpreadMs.toFixed(3)} ms${waves.length > 1 ? ` (within a wave of ${waves.length})` : ""}, concurrency ${input.race.peakConcurrency} (${input.race.concurrencySource}${input.race.databaseOverlap !== undefined ? `; ${input.race.databaseOverlap} statements at once in pg_stat_activity` : ""})`,
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
    messageRowIds: messages.map((m) => m.id),
    jobStates: snap.jobStates,
    leadIds: snap.leadIds,
    settledMs: settled.settledMs,
    release: input.race?.release,
  };
}
