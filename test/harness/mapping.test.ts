// The mapping's pure parts: stored-id derivation, expected job keys, answer
// conventions and identifier quoting; and the key-agnostic job rule, which
// must fail on a second job of one type (negative control) and pass on one.
import { describe, expect, it } from "vitest";
import { quoteIdent } from "../../src/db/verify-mapping-sql.js";
import { dedupeConfigSchema, type DedupeConfig } from "../../src/harness/config-schema.js";
import { evaluateCase, type CaseEvidence } from "../../src/harness/invariants.js";
import { createReceiverMapping } from "../../src/harness/mapping.js";
import type { DeliveryOutcome } from "../../src/harness/types.js";
import { buildMessagePlan } from "../helpers/plan.js";

const plan = buildMessagePlan({
  provider: "instantly",
  eventType: "reply_received",
  client: { by: "instantlyWorkspaceId", value: "ws" },
  unique: { key: "emailBisonReplyId", rawId: "e-1", scope: "ws", value: "instantly:ws:e-1" },
  jobTypes: ["INSTANTLY_INBOUND_POST_PROCESS"],
});
const url = new URL("http://app/hooks/instantly");
const schema = { messages: { table: "m", id: "id", leadId: "lead_id" }, leads: { table: "l", id: "id", clientId: "ws" }, clients: { table: "c", id: "id" } };
const mappingOf = (config: Omit<DedupeConfig, "schema">) => createReceiverMapping(dedupeConfigSchema.parse({ schema, ...config }), { conventions: false });

describe("mapping", () => {
  it("derives stored ids bare, namespaced or by function; a throwing function names its key", () => {
    expect(mappingOf({ providers: { instantly: { storedId: { column: "k", derive: "bare" } } } }).storedIdLookups(plan, {}, url, "auto")).toEqual([{ column: "k", value: "e-1", form: "raw" }]);
    expect(mappingOf({ providers: { instantly: { storedId: { column: "k", derive: "namespaced" } } } }).storedIdLookups(plan, {}, url, "auto")[0]!.value).toBe("instantly:ws:e-1");
    const fn = mappingOf({ providers: { instantly: { storedId: { column: "k", derive: (p, ctx) => `x_${(p as { a: string }).a}_${ctx.rawId}` } } } });
    expect(fn.storedIdLookups(plan, { a: "A" }, url, "auto")[0]!.value).toBe("x_A_e-1");
    const throwing = mappingOf({ providers: { instantly: { events: { reply_received: { storedId: { column: "k", derive: () => { throw new Error("boom"); } } } } } } });
    expect(() => throwing.storedIdLookups(plan, {}, url, "auto")).toThrow(/config key providers\.instantly\.events\.reply_received\.storedId\.derive: the function threw: boom/);
  });

  it("builds job keys from a template; key 'any' is key-agnostic; no jobs config is not judged", () => {
    const message = { id: "m1", clientId: "c1", leadId: "l1" };
    const keyed = mappingOf({ providers: { instantly: { jobs: { types: ["pp"], key: "{type}:{storedId}:{clientId}" } } } });
    expect(keyed.expectedJobs(plan, {}, url, message, "S")?.keys).toEqual(["pp:S:c1"]);
    expect(mappingOf({ providers: { instantly: { jobs: { types: ["pp"] } } } }).expectedJobs(plan, {}, url, message, "S")?.keys).toBeUndefined();
    expect(mappingOf({}).expectedJobs(plan, {}, url, message, "S")).toBeUndefined();
  });

  it("reads answers by JSON path; a missing deduped is a first delivery only when configured", () => {
    const lenient = mappingOf({ answer: { deduped: "r.dup", messageId: "r.id", missingDedupedMeansCreated: true } });
    expect(lenient.readAnswer(200, '{"r":{"id":7}}')).toEqual({ deduped: false, ignored: false, messageId: "7", error: null });
    expect(lenient.readAnswer(200, '{"r":{"dup":true}}').deduped).toBe(true);
    const strict = mappingOf({ answer: { deduped: "r.dup" } });
    expect(strict.readAnswer(200, '{"r":{}}').error).toMatch(/answer\.deduped/);
    expect(mappingOf({ answer: "none" }).answerless).toBe(true);
  });

  it("quotes identifiers so a mapping value cannot leave them", () => {
    expect(quoteIdent('a"; DROP TABLE x; --')).toBe('"a""; DROP TABLE x; --"');
  });
});

const answer = (slot: number, deduped: boolean | null): DeliveryOutcome => ({ slot, releasedAt: slot, respondedAt: slot + 1, status: 200, deduped, ignored: false, messageId: null, error: null, transportError: false });
const counts = { clients: 1, leads: 0, messages: 0, aiDrafts: 0, jobs: 0 };
function evidence(jobs: CaseEvidence["jobs"], outcomes = [answer(0, false), answer(1, true)]): CaseEvidence {
  return {
    plan,
    expectedStatus: 200,
    outcomes,
    preExisting: false,
    before: counts,
    after: { ...counts, leads: 1, messages: 1, jobs: jobs.reduce((s, j) => s + j.n, 0) },
    messages: [{ id: "m1", clientId: "c1", leadId: "l1" }],
    jobs,
    expectedJobs: { types: ["pp"], source: "test" },
  };
}
const failedNames = (e: CaseEvidence) => evaluateCase(e).filter((i) => i.status === "fail").map((i) => i.name);

describe("key-agnostic jobs", () => {
  it("one job per message and type passes", () => {
    expect(failedNames(evidence([{ dedupeKey: "anything", type: "pp", n: 1 }]))).toEqual([]);
  });
  it("two jobs of one type (different keys), a missing type, or an unexpected type fail", () => {
    expect(failedNames(evidence([{ dedupeKey: "a", type: "pp", n: 1 }, { dedupeKey: "b", type: "pp", n: 1 }]))).toContain("one-job-per-key");
    expect(failedNames(evidence([]))).toContain("one-job-per-key");
    expect(failedNames(evidence([{ dedupeKey: "a", type: "pp", n: 1 }, { dedupeKey: "b", type: "other", n: 1 }]))).toContain("one-job-per-key");
    expect(failedNames(evidence([{ dedupeKey: "a", type: "pp", n: 2 }]))).toContain("one-job-per-key");
  });
  it("an answer that carries nothing is not judged on deduped; the database still is", () => {
    const e = { ...evidence([{ dedupeKey: "a", type: "pp", n: 1 }], [answer(0, null), answer(1, null)]), answersJudged: false };
    expect(evaluateCase(e).map((i) => i.name)).not.toContain("first-delivery-once");
    expect(failedNames({ ...e, messages: [...e.messages, { id: "m2", clientId: "c1", leadId: "l1" }] })).toContain("one-message-row");
  });
});
