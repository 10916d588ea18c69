// The crash-window step deletes a message's jobs and requires a duplicate to
// restore them. A receiver that commits the message and its jobs in one
// transaction cannot be left in that state, so failing it would be a false
// alarm: the step is skipped when the jobs share the message row's xmin.
// Negative control: the same receiver with the jobs in a second transaction
// (a real lost-job window) is still failed by the step.
import { beforeAll, describe, expect, it } from "vitest";
import { runBinJson } from "../helpers/cli-json.js";
import { useTestDb } from "../helpers/db.js";
import { startTransactionReceiver, type TransactionMode } from "../helpers/transaction-receivers.js";
import { seedFixtureClients } from "../providers/support.js";

const db = await useTestDb(5);
const env = { DATABASE_URL: undefined };

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
});

interface RaceJson {
  verdict: string;
  cases: Array<{ verdict: string; notes: string[]; invariants: Array<{ name: string; status: string; observed: string }> }>;
}

async function race(mode: TransactionMode) {
  const receiver = await startTransactionReceiver(db.database.url, mode);
  try {
    const args = ["race", "--database-url", db.database.url, "--json", "--target", receiver.url, "--rounds", "1", "--late", "none"];
    return await runBinJson<RaceJson>(args, { env, timeoutMs: 300_000 });
  } finally {
    await receiver.close();
  }
}

const crashWindow = (json: RaceJson | undefined) => json?.cases[0]?.invariants.find((i) => i.name === "crash-window-jobs-restored");

describe("crash-window step and receivers that write message and jobs in one transaction", () => {
  it("one transaction: the step is skipped and says why; exit 0", async () => {
    const r = await race("one-transaction");
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(crashWindow(r.json)).toMatchObject({ status: "pass", observed: expect.stringMatching(/one transaction/) });
    // Notices are wrapped to the terminal width: compare with whitespace collapsed.
    expect(r.stderr.replace(/\s+/g, " ")).toMatch(/crash-window .*skipped, the message and its \d+ job\(s\) were committed in one transaction/);
    expect(r.stderr).not.toMatch(/DELETED/);
  }, 300_000);

  it("negative control: jobs in a second transaction, not re-ensured: exit 1 naming the step", async () => {
    const r = await race("two-transactions");
    expect(r.code, r.stderr.slice(-2000)).toBe(1);
    expect(crashWindow(r.json)).toMatchObject({ status: "fail" });
    expect(r.json!.cases[0]!.notes.join("\n")).toMatch(/lost-job risk/);
    expect(r.stderr).toMatch(/DELETED \d+ job row\(s\)/);
  }, 300_000);
});
