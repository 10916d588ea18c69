// The promises a receiver must keep for N deliveries of one provider
// message, checked against the database (never against the receiver's own
// account of itself) and against each delivery's answer. Each invariant
// names the deliveries (slots) that witnessed a violation.
import { buildJobDedupeKey } from "../core/jobs.js";
import type { RowCounts } from "../db/sql.js";
import type { JobKeyCount, StoredMessage } from "../db/verify-sql.js";
import type { DeliveryPlan } from "../providers/types.js";
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
  results.push(check("one-message-row", `1 Message with ${plan.unique.key}=${plan.unique.value}`, `${messageRows}`, messageRows === 1));

  const firsts = slotsWhere(outcomes, (o) => o.deduped === false);
  const expectedFirsts = evidence.preExisting ? 0 : 1;
  results.push(
    check(
      "first-delivery-once",
      `${expectedFirsts} answer deduped:false`,
      String(firsts.length),
      firsts.length === expectedFirsts,
      firsts.length > expectedFirsts ? firsts : [],
    ),
  );
  const notDeduped = slotsWhere(outcomes, (o) => o.deduped !== true);
  const expectedDeduped = n - expectedFirsts;
  const dedupedCount = accepted.filter((o) => o.deduped === true).length;
  results.push(
    check(
      "duplicates-deduped",
      `${expectedDeduped} answers deduped:true`,
      String(dedupedCount),
      dedupedCount === expectedDeduped,
      // The single legitimate first delivery is not a witness.
      firsts.length === expectedFirsts ? notDeduped.filter((s) => !firsts.includes(s)) : notDeduped,
    ),
  );

  const rowId = evidence.messages[0]?.id;
  const wrongId = slotsWhere(accepted, (o) => o.messageId !== null && o.messageId !== rowId);
  results.push(check("answers-name-the-row", `messageId ${rowId ?? "(none)"}`, wrongId.length === 0 ? "all match" : `${wrongId.length} differ`, wrongId.length === 0 && rowId !== undefined, wrongId));

  const expectedKeys = evidence.messages.length === 1 ? plan.jobTypes.map((t) => buildJobDedupeKey(evidence.messages[0]!.clientId, evidence.messages[0]!.id, t)) : [];
  const byKey = new Map(evidence.jobs.map((j) => [j.dedupeKey, j.n]));
  const missing = expectedKeys.filter((k) => !byKey.has(k));
  const duplicated = evidence.jobs.filter((j) => j.n > 1).map((j) => j.dedupeKey);
  const unexpected = evidence.jobs.filter((j) => !expectedKeys.includes(j.dedupeKey)).map((j) => j.dedupeKey);
  const totalJobs = evidence.jobs.reduce((s, j) => s + j.n, 0);
  results.push(
    check(
      "one-job-per-key",
      `${plan.jobTypes.length} jobs (${plan.jobTypes.join(", ") || "none"}), 1 per dedupeKey`,
      missing.length + duplicated.length + unexpected.length === 0
        ? `${totalJobs} jobs, 1 per dedupeKey`
        : `${totalJobs} jobs; missing ${missing.length}, duplicated ${duplicated.length}, unexpected ${unexpected.length}`,
      missing.length + duplicated.length + unexpected.length === 0,
    ),
  );

  const newMessages = evidence.preExisting ? 0 : 1;
  const newJobs = evidence.preExisting ? 0 : plan.jobTypes.length;
  // A receiver whose own workers run during the race may already have
  // post-processed the new message into its one draft (the built-in inbound
  // job does): that draft is explained; any more are not.
  const newDrafts = plan.jobTypes.length > 0 ? newMessages : 0;
  const deltaOk =
    deltas.clients === 0 &&
    deltas.aiDrafts >= 0 &&
    deltas.aiDrafts <= newDrafts &&
    deltas.messages === newMessages &&
    deltas.jobs === newJobs &&
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

const summariseStatuses = (outcomes: readonly DeliveryOutcome[]) =>
  Object.entries(countStatuses(outcomes))
    .map(([k, v]) => `${v} x ${k}`)
    .join(", ");
