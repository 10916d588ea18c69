// The invariant checks on hand-made evidence: each must fail, and name the
// witnessing slots, when its promise is broken.
import { describe, expect, it } from "vitest";
import { buildJobDedupeKey } from "../../src/core/jobs.js";
import { evaluateCase, type CaseEvidence } from "../../src/harness/invariants.js";
import { renderJunit } from "../../src/harness/junit.js";
import { buildHarnessResult } from "../../src/harness/result.js";
import type { DeliveryOutcome } from "../../src/harness/types.js";
import { buildMessagePlan } from "../helpers/plan.js";

const plan = buildMessagePlan();
const clientId = "00000000-0000-0000-0000-00000000000c";
const messageId = "00000000-0000-0000-0000-00000000000a";
const counts = { clients: 1, leads: 0, messages: 0, aiDrafts: 0, jobs: 0 };

const answer = (slot: number, deduped: boolean, status = 200): DeliveryOutcome => ({
  slot,
  releasedAt: slot,
  respondedAt: slot + 5,
  status,
  deduped: status === 200 ? deduped : null,
  ignored: false,
  messageId: status === 200 ? messageId : null,
  error: status === 200 ? null : `HTTP ${status}`,
  transportError: false,
});

type Evidence = Omit<CaseEvidence, "outcomes"> & { outcomes: DeliveryOutcome[] };

function goodEvidence(): Evidence {
  return {
    plan,
    expectedStatus: 200,
    outcomes: [answer(0, false), ...Array.from({ length: 9 }, (_, i) => answer(i + 1, true))],
    preExisting: false,
    before: counts,
    after: { ...counts, leads: 1, messages: 1, jobs: 2 },
    messages: [{ id: messageId, clientId, leadId: "l" }],
    jobs: plan.jobTypes.map((t) => ({ dedupeKey: buildJobDedupeKey(clientId, messageId, t), type: t, n: 1 })),
  };
}

const failed = (e: Evidence) => evaluateCase(e).filter((i) => i.status === "fail");

describe("invariants", () => {
  it("a correct run passes every invariant", () => {
    expect(failed(goodEvidence())).toEqual([]);
  });

  it("the new message's one draft (a receiver's worker ran already) is explained; a second is not", () => {
    const one = goodEvidence();
    one.after = { ...one.after, aiDrafts: 1 };
    expect(failed(one)).toEqual([]);
    const two = goodEvidence();
    two.after = { ...two.after, aiDrafts: 2 };
    expect(failed(two).map((i) => i.name)).toEqual(["no-unexplained-rows"]);
  });

  it("two first deliveries: names both slots", () => {
    const e = goodEvidence();
    e.outcomes[4] = answer(4, false);
    const f = failed(e);
    expect(f.map((i) => i.name)).toEqual(["first-delivery-once", "duplicates-deduped"]);
    expect(f[0]!.witnesses).toEqual([0, 4]);
  });

  it("a 500 on a duplicate fails status and no-5xx with its slot", () => {
    const e = goodEvidence();
    e.outcomes[7] = answer(7, true, 500);
    const f = failed(e);
    expect(f.map((i) => i.name)).toEqual(["status", "no-5xx", "duplicates-deduped"]);
    expect(f[1]!.witnesses).toEqual([7]);
  });

  it("an extra job with a foreign dedupeKey fails the job and row-delta invariants", () => {
    const e = goodEvidence();
    e.jobs = [...e.jobs, { dedupeKey: "random", type: "LEAD_SCORING_POST_PROCESS", n: 1 }];
    e.after = { ...e.after, jobs: 3 };
    expect(failed(e).map((i) => i.name)).toEqual(["one-job-per-key", "no-unexplained-rows"]);
  });

  it("no message row, or rows for ignored events, fail", () => {
    const e = goodEvidence();
    e.messages = [];
    e.jobs = [];
    expect(failed(e).map((i) => i.name)).toContain("one-message-row");
    const ignored: Evidence = { ...goodEvidence(), plan: { kind: "ignored", provider: "emailbison", eventType: "EMAIL_OPENED", reason: "x" } };
    expect(failed(ignored).map((i) => i.name)).toEqual(["no-message-rows", "no-job-rows", "no-unexplained-rows"]);
  });

  it("junit reports one testcase per invariant and failures as <failure>", () => {
    const e = goodEvidence();
    e.outcomes[4] = answer(4, false);
    const invariants = evaluateCase(e);
    const result = buildHarnessResult({
      command: "race",
      mode: "in-process",
      target: "t",
      strategy: null,
      n: 10,
      startedAt: performance.now(),
      cases: [
        {
          name: "emailbison/lead_replied.json#1 <&>",
          fixture: "f",
          provider: "emailbison",
          eventType: "LEAD_REPLIED",
          round: 1,
          kind: "message",
          uniqueValue: "v",
          deliveries: 10,
          invariants,
          verdict: "fail",
          latency: { p50: 1, p95: 1, p99: 1, max: 1 },
          statusCounts: { "200": 10 },
          releaseSpreadMs: 0.1,
          peakConcurrency: 10,
          notes: [],
          outcomes: e.outcomes,
        },
      ],
    });
    const xml = renderJunit(result);
    expect(xml.match(/<testcase /g)).toHaveLength(invariants.length);
    expect(xml.match(/<failure /g)).toHaveLength(2);
    expect(xml).toContain("#1 &lt;&amp;&gt;");
    expect(xml).toContain("witness slots 0, 4");
    expect(result.violations).toEqual({ "first-delivery-once": 1, "duplicates-deduped": 1 });
  });
});
