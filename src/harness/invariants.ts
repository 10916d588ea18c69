// The promises a receiver must keep for N deliveries of one provider
// message, checked against the database (never against the receiver's own
// account of itself) and against each delivery's answer. Each invariant
// names the deliveries (slots) that witnessed a violation.
import { buildJobDedupeKey } from "../core/jobs.js";
import type { RowCounts } from "../db/sql.js";
import type { JobKeyCount, StoredMessage } from "../db/verify-sql.js";
import type { DeliveryPlan } from "../providers/types.js";
import type { ExpectedJobs, StoredIdLookup } from "./mapping.js";
import { countStatuses } from "./stats.js";
import type { DeliveryOutcome, InvariantResult } from "./types.js";

export interface CaseEvidence {
  plan: DeliveryPlan;
  expectedStatus: number;
  outcomes: readonly DeliveryOutcome[];
  /** The message was already stored before the first delivery (a re-run, or a fixture repeating another's id). */
  preExisting: boolean;
  before: RowCounts;
  after: RowCounts;
  /** Messages carrying the case's stored id, after the run. */
  messages: readonly StoredMessage[];
  /** Jobs of those messages, by dedupeKey. */
  jobs: readonly JobKeyCount[];
  /** Counts right after the first of several sequential deliveries (replay), to show the duplicates wrote nothing. */
  afterFirst?: RowCounts;
  /** The jobs a new message must have (default: the plan's types, keyed clientId:messageId:type). */
  expectedJobs?: ExpectedJobs;
  /** False when the config names no jobs for this provider/event: one-job-per-key is not judged. */
  jobsJudged?: boolean;
  /** False when the answer carries nothing (answer: "none"): first/duplicate answers are not judged. */
  answersJudged?: boolean;
  /** Where the message was looked for (named in the expectation). */
  lookup?: StoredIdLookup;
}

const slotsWhere = (outcomes: readonly DeliveryOutcome[], test: (o: DeliveryOutcome) => boolean) =>
  outcomes.filter(test).map((o) => o.slot);

function check(name: string, expected: string, observed: string, ok: boolean, witnesses: number[] = []): InvariantResult {
  return ok ? { name, expected, observed, status: "pass" } : { name, expected, observed, status: "fail", witnesses };
}

function describeDeltas(before: RowCounts, after: RowCounts): Record<keyof RowCounts, number> {
  return {
    clients: after.clients - before.clients,
    leads: after.leads - before.leads,
    messages: after.messages - before.messages,
    aiDrafts: after.aiDrafts - before.aiDrafts,
    jobs: after.jobs - before.jobs,
  };
}

const formatDeltas = (d: Record<string, number>) =>
  Object.entries(d)
    .map(([k, v]) => `${k} ${v >= 0 ? "+" : ""}${v}`)
    .join(", ");

export function evaluateCase(evidence: CaseEvidence): InvariantResult[] {
  const { plan, outcomes, expectedStatus } = evidence;
  const n = outcomes.length;
  const results: InvariantResult[] = [];

  const wrongStatus = slotsWhere(outcomes, (o) => o.status !== expectedStatus);
  results.push(
    check("status", `${n} x ${expectedStatus}`, summariseStatuses(outcomes), wrongStatus.length === 0, wrongStatus),
  );
  const fiveXx = slotsWhere(outcomes, (o) => o.status !== null && o.status >= 500);
  results.push(check("no-5xx", "0", String(fiveXx.length), fiveXx.length === 0, fiveXx));
  const transport = slotsWhere(outcomes, (o) => o.transportError);
  results.push(check("no-transport-errors", "0", transport.length === 0 ? "0" : `${transport.length} (${outcomes.find((o) => o.transportError)?.error})`, transport.length === 0, transport));

  const deltas = describeDeltas(evidence.before, evidence.after);
  if (plan.kind === "ignored") {
    results.push(check("no-message-rows", "messages +0", `messages ${deltas.messages >= 0 ? "+" : ""}${deltas.messages}`, deltas.messages === 0));
    results.push(check("no-job-rows", "jobs +0", `jobs ${deltas.jobs >= 0 ? "+" : ""}${deltas.jobs}`, deltas.jobs === 0));
    const clean = Object.values(deltas).every((v) => v === 0);
    results.push(check("no-unexplained-rows", formatDeltas({ clients: 0, leads: 0, messages: 0, aiDrafts: 0, jobs: 0 }), formatDeltas(deltas), clean));
    return results;
  }

  const accepted = outcomes.filter((o) => o.deduped !== null);
  const messageRows = evidence.messages.length;
  const where = evidence.lookup ? `${evidence.lookup.column}=${evidence.lookup.value}` : `${plan.unique.key}=${plan.unique.value}`;
  results.push(check("one-message-row", `1 Message with ${where}`, `${messageRows}`, messageRows === 1));

  if (evidence.answersJudged !== false) results.push(...checkAnswers(evidence, outcomes));

  const rowId = evidence.messages[0]?.id;
  const wrongId = slotsWhere(accepted, (o) => o.messageId !== null && o.messageId !== rowId);
  results.push(check("answers-name-the-row", `messageId ${rowId ?? "(none)"}`, wrongId.length === 0 ? "all match" : `${wrongId.length} differ`, wrongId.length === 0 && rowId !== undefined, wrongId));

  const expected = evidence.expectedJobs ?? builtinJobs(evidence);
  if (evidence.jobsJudged !== false) results.push(checkJobs(expected, evidence));

  const newMessages = evidence.preExisting ? 0 : 1;
  const expectedTypes = evidence.jobsJudged === false ? undefined : expected.types.length;
  const newJobs = evidence.preExisting ? 0 : (expectedTypes ?? 0);
  // A receiver whose own workers run during the race may already have
  // post-processed the new message into its one draft (the built-in inbound
  // job does): that draft is explained; any more are not.
  const newDrafts = expected.types.length > 0 ? newMessages : 0;
  const deltaOk =
    deltas.clients === 0 &&
    deltas.aiDrafts >= 0 &&
    deltas.aiDrafts <= newDrafts &&
    deltas.messages === newMessages &&
    // Jobs a configured app enqueues without being named in the config are not judged.
    (expectedTypes === undefined || deltas.jobs === newJobs) &&
    deltas.leads >= 0 &&
    deltas.leads <= newMessages;
  results.push(
    check(
      "no-unexplained-rows",
      formatDeltas({ clients: 0, leads: newMessages, messages: newMessages, aiDrafts: newDrafts, jobs: newJobs })
        .replace(`leads +${newMessages}`, `leads +0..${newMessages}`)
        .replace(`aiDrafts +${newDrafts}`, newDrafts > 0 ? `aiDrafts +0..${newDrafts}` : "aiDrafts +0"),
      formatDeltas(deltas),
      deltaOk,
    ),
  );

  if (evidence.afterFirst) {
    const rest = describeDeltas(evidence.afterFirst, evidence.after);
    const clean = Object.values(rest).every((v) => v === 0);
    results.push(check("duplicates-write-nothing", "+0 rows after the first delivery", formatDeltas(rest), clean, clean ? [] : outcomes.slice(1).map((o) => o.slot)));
  }
  return results;
}

/** One deduped:false and the rest deduped:true (none false when the message was already stored). */
function checkAnswers(evidence: CaseEvidence, outcomes: readonly DeliveryOutcome[]): InvariantResult[] {
  const n = outcomes.length;
  const accepted = outcomes.filter((o) => o.deduped !== null);
  const firsts = slotsWhere(outcomes, (o) => o.deduped === false);
  const expectedFirsts = evidence.preExisting ? 0 : 1;
  const notDeduped = slotsWhere(outcomes, (o) => o.deduped !== true);
  const expectedDeduped = n - expectedFirsts;
  const dedupedCount = accepted.filter((o) => o.deduped === true).length;
  return [
    check("first-delivery-once", `${expectedFirsts} answer deduped:false`, String(firsts.length), firsts.length === expectedFirsts, firsts.length > expectedFirsts ? firsts : []),
    check(
      "duplicates-deduped",
      `${expectedDeduped} answers deduped:true`,
      String(dedupedCount),
      dedupedCount === expectedDeduped,
      // The single legitimate first delivery is not a witness.
      firsts.length === expectedFirsts ? notDeduped.filter((s) => !firsts.includes(s)) : notDeduped,
    ),
  ];
}

/** dedupe-cli's own jobs: the plan's types, keyed clientId:messageId:type (none expected unless exactly one row). */
function builtinJobs(evidence: CaseEvidence): ExpectedJobs {
  const plan = evidence.plan as Extract<DeliveryPlan, { kind: "message" }>;
  const m = evidence.messages.length === 1 ? evidence.messages[0]! : undefined;
  return { types: [...plan.jobTypes], keys: m ? plan.jobTypes.map((t) => buildJobDedupeKey(m.clientId, m.id, t)) : [], source: "built-in" };
}

/**
 * Keyed: every expected key present once and nothing else. Key-agnostic
 * (keys undefined): exactly one job per listed type, no other type, and no
 * dedupe key twice.
 */
function checkJobs(expected: ExpectedJobs, evidence: CaseEvidence): InvariantResult {
  const totalJobs = evidence.jobs.reduce((s, j) => s + j.n, 0);
  const duplicated = evidence.jobs.filter((j) => j.n > 1).map((j) => j.dedupeKey);
  let missing: string[];
  let unexpected: string[];
  if (expected.keys) {
    const keys = expected.keys;
    const byKey = new Set(evidence.jobs.map((j) => j.dedupeKey));
    missing = keys.filter((k) => !byKey.has(k));
    unexpected = evidence.jobs.filter((j) => !keys.includes(j.dedupeKey)).map((j) => j.dedupeKey);
  } else {
    const perType = new Map<string, number>();
    for (const j of evidence.jobs) perType.set(j.type, (perType.get(j.type) ?? 0) + j.n);
    const expectNone = evidence.messages.length !== 1;
    missing = expectNone ? [] : expected.types.filter((t) => !perType.has(t));
    unexpected = [...perType].flatMap(([t, n]) => (expectNone || !expected.types.includes(t) ? [t] : n > 1 ? [`${t} x${n}`] : []));
  }
  const ok = missing.length + duplicated.length + unexpected.length === 0;
  const rule = expected.keys ? "1 per dedupeKey" : "1 per message and type, no dedupeKey twice";
  return check(
    "one-job-per-key",
    `${expected.types.length} jobs (${expected.types.join(", ") || "none"}), ${rule}`,
    ok ? `${totalJobs} jobs, ${rule}` : `${totalJobs} jobs; missing ${missing.length}, duplicated ${duplicated.length}, unexpected ${unexpected.length}${unexpected.length ? ` (${unexpected.slice(0, 3).join(", ")})` : ""}`,
    ok,
  );
}

const summariseStatuses = (outcomes: readonly DeliveryOutcome[]) =>
  Object.entries(countStatuses(outcomes))
    .map(([k, v]) => `${v} x ${k}`)
    .join(", ");
