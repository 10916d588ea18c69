// --report-dir: a failure a developer can replay. Per failed case, one JSON
// file with the schedule it ran (rounds, N, release offsets, late offsets),
// every delivery and its answer, the offending rows (messages, leads, jobs
// with their states) and a one-line command that races just that fixture
// again. Ids are random per round (no seed): the command re-runs the same
// schedule on fresh ids, which is what made the failure reproducible to
// begin with.
import fs from "node:fs/promises";
import path from "node:path";
import type { CaseResult, HarnessResult } from "./types.js";

export interface ReportDirContext {
  command: "race" | "replay" | "verify";
  /** Flags that re-create the run's target and database (--target/--url, --config, --database-url placeholder). */
  rerunFlags: string[];
  n: number;
  /** A fixed round count, or (race) the time budget per fixture the rounds ran under. */
  rounds?: number;
  budgetMs?: number;
  lateMs: number[];
}

// "$DATABASE_URL" stays a variable for the shell to expand; anything else is quoted when it needs to be.
const quote = (arg: string) =>
  arg.startsWith("$") ? `"${arg}"` : /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;

function describeCase(c: CaseResult, ctx: ReportDirContext) {
  const first = Math.min(...c.outcomes.map((o) => o.releasedAt));
  return {
    case: c.name,
    fixture: c.fixture,
    verdict: c.verdict,
    failed: c.invariants.filter((i) => i.status === "fail"),
    schedule: {
      round: c.round,
      rounds: ctx.rounds ?? null,
      budgetMs: ctx.budgetMs ?? null,
      n: c.deliveries,
      release: c.release ?? { kind: "all" },
      lateMs: ctx.lateMs,
      releaseSpreadMs: c.releaseSpreadMs,
      releaseOffsetsMs: c.outcomes.map((o) => Number((o.releasedAt - first).toFixed(3))),
      seed: null,
    },
    deliveries: c.outcomes,
    rows: { storedId: c.uniqueValue, messages: c.messageRowIds ?? [], leads: c.leadIds ?? [], jobs: c.jobStates ?? [] },
    invariants: c.invariants,
    notes: c.notes,
    rerun: ["dedupe-cli", "race", "--fixture", c.fixture, "--n", String(ctx.n), ...(ctx.budgetMs !== undefined ? ["--budget", `${ctx.budgetMs}ms`] : ["--rounds", String(ctx.rounds ?? 1)]), ...ctx.rerunFlags].map(quote).join(" "),
  };
}

/** Writes one file per failed case; returns the files written. */
export async function writeReportDir(dir: string, result: HarnessResult, ctx: ReportDirContext): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const c of result.cases.filter((x) => x.verdict === "fail")) {
    const file = path.join(dir, `${c.name.replace(/[^\w.-]+/g, "_")}.json`);
    await fs.writeFile(file, `${JSON.stringify(describeCase(c, ctx), null, 2)}\n`);
    written.push(file);
  }
  return written;
}
