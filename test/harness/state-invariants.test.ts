// The state invariants and the steps' pure helpers, each with the case that
// must fail beside the one that must pass.
import { describe, expect, it } from "vitest";
import type { JobState } from "../../src/db/verify-state-sql.js";
import { rekeyLeadIdentity } from "../../src/harness/identity.js";
import { waitUntilSettled } from "../../src/harness/settle.js";
import { checkLeadIdentity, compareJobStates } from "../../src/harness/state-invariants.js";

const job = (over: Partial<JobState> = {}): JobState => ({
  id: "j1",
  type: "EMAIL_INBOUND_POST_PROCESS",
  dedupeKey: "c:m:EMAIL_INBOUND_POST_PROCESS",
  messageId: "m",
  status: "SUCCEEDED",
  attempts: 1,
  runAt: "2026-01-01 00:00:00",
  lockedBy: null,
  version: "100",
  ...over,
});

const statusOf = (results: ReturnType<typeof compareJobStates>, name: string) => results.find((r) => r.name === name)!;

describe("compareJobStates", () => {
  it("passes jobs a duplicate left alone", () => {
    const r = compareJobStates([job()], [job()], "the duplicate", false);
    expect(r.every((i) => i.status === "pass")).toBe(true);
  });

  it("fails a SUCCEEDED job re-armed to PENDING, naming the job and field", () => {
    const r = compareJobStates([job()], [job({ status: "PENDING", version: "101" })], "the duplicate", true);
    expect(statusOf(r, "finished-stays-finished").status).toBe("fail");
    expect(statusOf(r, "finished-stays-finished").observed).toContain("j1: status SUCCEEDED -> PENDING");
    expect(statusOf(r, "duplicate-leaves-jobs-alone").status).toBe("fail");
  });

  it("fails a RUNNING job's lock stripped, even when workers may run", () => {
    const r = compareJobStates([job({ status: "RUNNING", lockedBy: "w1" })], [job({ status: "RUNNING", lockedBy: null, version: "101" })], "the duplicate", true);
    expect(statusOf(r, "duplicate-leaves-jobs-alone").observed).toContain("lockedBy w1 -> null");
  });

  it("fails a job rewritten in place (row version only) and a re-scheduled one", () => {
    expect(statusOf(compareJobStates([job()], [job({ version: "101" })], "d", false), "duplicate-leaves-jobs-alone").observed).toContain("rewritten in place");
    expect(statusOf(compareJobStates([job({ status: "PENDING" })], [job({ status: "PENDING", runAt: "2026-01-02", version: "9" })], "d", true), "duplicate-leaves-jobs-alone").status).toBe("fail");
  });

  it("does not blame the duplicate for a worker claiming or finishing a job (workers may run)", () => {
    const r = compareJobStates([job({ status: "PENDING", attempts: 0 })], [job({ status: "SUCCEEDED", attempts: 1, version: "200" })], "d", true);
    expect(r.every((i) => i.status === "pass")).toBe(true);
    // Without workers (in-process), the same change is the duplicate's.
    expect(statusOf(compareJobStates([job({ status: "PENDING", attempts: 0 })], [job({ status: "SUCCEEDED", attempts: 1, version: "200" })], "d", false), "duplicate-leaves-jobs-alone").status).toBe("fail");
  });
});

describe("checkLeadIdentity", () => {
  it("passes one lead and fails two, naming both ids", () => {
    expect(checkLeadIdentity(["a"], "email=x", true).status).toBe("pass");
    const two = checkLeadIdentity(["a", "b"], "email=x", true);
    expect(two.status).toBe("fail");
    expect(two.observed).toBe("2 leads: a, b");
    expect(checkLeadIdentity([], "email=x", true).status).toBe("fail");
    expect(checkLeadIdentity([], "email=x", false).status).toBe("pass");
  });
});

describe("rekeyLeadIdentity", () => {
  it("replaces every string carrying the identity, case-insensitively for email", () => {
    const body = { lead: { email: "Jane@Example.com" }, reply: { from: "jane@example.com", to: "me@example.com" } };
    const out = rekeyLeadIdentity(body, { key: "email", value: "jane@example.com" })!;
    expect(out.value).toMatch(/@dedupe\.invalid$/);
    expect(out.body).toEqual({ lead: { email: out.value }, reply: { from: out.value, to: "me@example.com" } });
  });

  it("matches phones by digits, and returns undefined when nothing carries the identity", () => {
    const out = rekeyLeadIdentity({ phone: "+1 (555) 010-1234" }, { key: "phone", value: "+15550101234" })!;
    expect(out.value).toMatch(/^\+1555\d{7}$/);
    expect(rekeyLeadIdentity({ phone: "+1 555 999 0000" }, { key: "phone", value: "+15550101234" })).toBeUndefined();
  });
});

describe("waitUntilSettled", () => {
  it("returns once two reads agree, and reports not settled when reads keep changing until the timeout", async () => {
    const values = [1, 2, 3, 3];
    let i = 0;
    const settled = await waitUntilSettled(async () => values[Math.min(i++, values.length - 1)]!, String, { windowMs: 1, timeoutMs: 10_000 });
    expect(settled).toMatchObject({ value: 3, settled: true });
    let n = 0;
    const moving = await waitUntilSettled(async () => n++, String, { windowMs: 5, timeoutMs: 20 });
    expect(moving.settled).toBe(false);
  });

  it("reads once with a zero window", async () => {
    let reads = 0;
    await waitUntilSettled(async () => reads++, String, { windowMs: 0, timeoutMs: 0 });
    expect(reads).toBe(1);
  });
});
