// --report-dir: a failure a developer can replay. Per failed case, one JSON
// file with the schedule it ran (race: rounds or budget, N, release and its
// offsets, late offsets; replay: deliveries and concurrency), every delivery
// and its answer, the offending rows (messages, leads, jobs with their
// states) and a one-line command that runs just that fixture again. Ids are
// random per round (no seed): the command re-runs the same schedule on
// fresh ids, which is what made the failure reproducible to begin with.
// A passing run writes nothing, not even the directory.
import fs from "node:fs/promises";
import path from "node:path";
import type { CaseResult, DeliveryOutcome, HarnessResult, InvariantResult } from "./types.js";

/** How the failed run was scheduled, per command (what its re-run command repeats). */
export type ReportSchedule =
  | { command: "race"; n: number; rounds?: number; budgetMs?: number; lateMs: number[] }
  | { command: "replay"; times: number; concurrency: number; freshIds: boolean }
  | { command: "verify"; n: number; rounds?: number; budgetMs?: number };

export interface ReportDirContext {
  /** Flags that re-create the run's target and database (--target/--url, --config, --database-url placeholder). */
  rerunFlags: string[];
  schedule: ReportSchedule;
}

/** One failed case as a report file sees it (verify's stage cases carry no outcomes of their own). */
export interface FailedCase {
  case: Pick<CaseResult, "name" | "fixture" | "verdict" | "invariants" | "notes"> & Partial<CaseResult>;
  outcomes: readonly DeliveryOutcome[];
  /** verify: the stage the case failed in. */
  stage?: string;
}

// "$DATABASE_URL" stays a variable for the shell to expand; anything else is quoted when it needs to be.
const quote = (arg: string) =>
  arg.startsWith("$") ? `"${arg}"` : /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;

const roundsFlags = (s: { rounds?: number; budgetMs?: number }) => (s.budgetMs !== undefined ? ["--budget", `${s.budgetMs}ms`] : ["--rounds", String(s.rounds ?? 1)]);

/** The one-line command that runs just this fixture again, the way it failed. */
export function buildRerunCommand(fixture: string, ctx: ReportDirContext): string {
  const s = ctx.schedule;
  const args =
    s.command === "race"
      ? ["race", "--fixture", fixture, "--n", String(s.n), ...roundsFlags(s)]
      : s.command === "replay"
        ? ["replay", fixture, "--times", String(s.times), "--concurrency", String(s.concurrency), ...(s.freshIds ? ["--fresh-ids"] : [])]
        : ["verify", fixture, "--n", String(s.n), ...roundsFlags(s)];
  return ["dedupe-cli", ...args, ...ctx.rerunFlags].map(quote).join(" ");
}

function describeCase(failed: FailedCase, ctx: ReportDirContext) {
  const c = failed.case;
  const first = Math.min(...failed.outcomes.map((o) => o.releasedAt));
  const failedInvariants: InvariantResult[] = c.invariants.filter((i) => i.status === "fail");
  return {
    case: c.name,
    ...(failed.stage ? { stage: failed.stage } : {}),
    fixture: c.fixture,
    verdict: c.verdict,
    failed: failedInvariants,
    schedule: {
      ...ctx.schedule,
      round: c.round ?? 1,
      deliveries: failed.outcomes.length,
      release: c.release ?? (c.releaseSpreadMs != null ? { kind: "all" } : null),
      releaseSpreadMs: c.releaseSpreadMs ?? null,
      releaseOffsetsMs: failed.outcomes.map((o) => Number((o.releasedAt - first).toFixed(3))),
      seed: null,
    },
    deliveries: failed.outcomes,
    rows: { storedId: c.uniqueValue ?? null, messages: c.messageRowIds ?? [], leads: c.leadIds ?? [], jobs: c.jobStates ?? [] },
    invariants: c.invariants,
    notes: c.notes,
    rerun: buildRerunCommand(c.fixture, ctx),
  };
}

/** Writes one file per failed case; returns the files written (none, and no directory, when nothing failed). */
export async function writeFailedCases(dir: string, failed: readonly FailedCase[], ctx: ReportDirContext): Promise<string[]> {
  const written: string[] = [];
  for (const f of failed) {
    if (written.length === 0) await fs.mkdir(dir, { recursive: true });
    const base = `${f.stage ? `${f.stage}-` : ""}${f.case.name}`.replace(/[^\w.-]+/g, "_");
    const file = path.join(dir, `${base}.json`);
    await fs.writeFile(file, `${JSON.stringify(describeCase(f, ctx), null, 2)}\n`);
    written.push(file);
  }
  return written;
}

/** race and replay: every failed case of the run. */
export function writeReportDir(dir: string, result: HarnessResult, ctx: ReportDirContext): Promise<string[]> {
  return writeFailedCases(
    dir,
    result.cases.filter((c) => c.verdict === "fail").map((c) => ({ case: c, outcomes: c.outcomes })),
    ctx,
  );
}
