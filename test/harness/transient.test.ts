// verify's drain verdict: a job the database refused is the environment's
// fault (inconclusive), a job the handler failed is a violation.
import { describe, expect, it } from "vitest";
import type { RunJobRow } from "../../src/db/verify-run-sql.js";
import { judgeJobs } from "../../src/harness/verify-run.js";
import { isTransientDatabaseError } from "../../src/harness/transient.js";

const job = (over: Partial<RunJobRow>): RunJobRow => ({ id: "j", type: "EMAIL_INBOUND_POST_PROCESS", status: "SUCCEEDED", attempts: 1, messageId: "m", lastError: null, ...over });
const byName = (jobs: RunJobRow[]) => Object.fromEntries(judgeJobs(jobs).map((i) => [i.name, i.status]));

describe("judgeJobs and transient database errors", () => {
  it("53300 (too many clients) during the drain: inconclusive, never fail", () => {
    const refused = job({ status: "FAILED", attempts: 5, lastError: "sorry, too many clients already (53300)" });
    expect(byName([refused])).toEqual({ "jobs-finished": "pass", "jobs-succeeded": "inconclusive", "jobs-ran-once": "inconclusive" });
    const retried = job({ status: "PENDING", attempts: 1, lastError: "Connection terminated unexpectedly" });
    expect(byName([retried])["jobs-finished"]).toBe("inconclusive");
  });

  it("negative control: a handler's own error is a violation", () => {
    const broken = job({ status: "FAILED", attempts: 5, lastError: "TypeError: cannot read properties of undefined" });
    expect(byName([broken])).toEqual({ "jobs-finished": "pass", "jobs-succeeded": "fail", "jobs-ran-once": "fail" });
    // One real failure among transient ones still fails.
    expect(byName([broken, job({ status: "FAILED", attempts: 5, lastError: "53300" })])["jobs-succeeded"]).toBe("fail");
  });

  it("recognises the database's transient states by their stored text", () => {
    for (const text of ["remaining connection slots are reserved", "the database system is starting up", "P2024 timed out fetching a connection", "deadlock detected"]) {
      expect(isTransientDatabaseError(text), text).toBe(true);
    }
    expect(isTransientDatabaseError("duplicate key value violates unique constraint")).toBe(false);
    expect(isTransientDatabaseError(null)).toBe(false);
  });
});
