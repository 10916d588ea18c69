// `dedupe-cli verify` as a function: replay every fixture, race every
// fixture, drain the jobs the run caused, then deliver every fixture once
// more and check that nothing new is enqueued. Each stage is judged on its
// own, so a report names the stage, the fixture and the promise that broke.
// A stage that fails does not stop the later ones: one run shows everything.
import type { RunJobRow } from "../db/verify-run-sql.js";
import { drainJobs } from "../jobs/runner.js";
import { isTransientDatabaseError } from "./transient.js";
import type { DrainProgress, DrainSummary } from "../jobs/summary.js";
import type { JobHandlerMap } from "../jobs/types.js";
import { describeStrategy, describeTarget, type EngineTarget } from "./engine.js";
import { createDefaultMapping } from "./mapping-default.js";
import type { ReceiverMapping } from "./mapping.js";
import { runRace } from "./race.js";
import { describeRounds } from "./schedule.js";
import type { HarnessRunOptions } from "./run.js";
import { runReplay } from "./replay.js";
import { throwIfEngineOverload, throwIfSetupFailure } from "./classify-setup.js";
import { combineVerdicts } from "./stats.js";
import type { CaseResult, HarnessResult, InvariantResult, InvariantStatus } from "./types.js";

export type VerifyStageName = "replay" | "race" | "drain" | "late-duplicates";

/** One fixture (or race round, or fixture's jobs) within a stage. */
export interface StageCase {
  name: string;
  fixture: string;
  verdict: InvariantStatus;
  invariants: InvariantResult[];
  notes: string[];
  /** The harness's own numbers for the case (replay, race, late-duplicates). */
  details?: Omit<CaseResult, "name" | "fixture" | "verdict" | "invariants" | "notes" | "outcomes">;
}

export interface StageResult {
  name: VerifyStageName;
  verdict: InvariantStatus;
  /** False when the stage was interrupted or never started: its verdict is then at best inconclusive. */
  completed: boolean;
  durationMs: number;
  /** Headline numbers (the summary table and --json). */
  numbers: Record<string, number | string>;
  cases: StageCase[];
  /** Checks about the stage as a whole rather than one fixture. */
  checks: InvariantResult[];
  notes: string[];
}

export interface VerifyResult {
  command: "verify";
  verdict: InvariantStatus;
  mode: "in-process" | "http";
  target: string;
  strategy: string | null;
  n: number;
  /** Race rounds per fixture (a fixed count; absent under a budget). */
  rounds?: number;
  budgetMs?: number;
  paths: string[];
  drain: "in-process" | "external";
  stages: StageResult[];
  /** "<stage>/<invariant>" → cases (or stage checks) that violated it. */
  violations: Record<string, number>;
  durationMs: number;
  /** What the in-process drain did (absent with an external drain). */
  drainSummary?: DrainSummary;
}

export type VerifyDrain =
  | { kind: "in-process"; concurrency?: number; handlers?: JobHandlerMap }
  /** The user's own workers run the jobs; verify waits for them up to timeoutMs. */
  | { kind: "external"; timeoutMs: number; pollMs?: number };

export interface VerifyOptions extends Omit<HarnessRunOptions, "provider"> {
  /** Deliveries per race round, and rounds per fixture (or, with budgetMs, rounds until the time per fixture is spent). */
  n: number;
  rounds: number;
  budgetMs?: number;
  /** The last race round holds the messages table's writes (verify's default schedule; see RunRaceOptions.stallLastRound). */
  stallLastRound?: boolean;
  /** false: no race round holds the messages table's writes (--no-stall). */
  stall?: boolean;
  drain?: VerifyDrain;
  /** In-process: the pool size, which caps the concurrency a race can reach. */
  concurrencyCap?: number;
  onDrainProgress?: (progress: DrainProgress) => void;
  /** Every delivery of a stage's cases (the stage results keep none), for --report-dir. */
  onOutcomes?: (stage: VerifyStageName, cases: readonly CaseResult[]) => void;
}

export async function runVerify(options: VerifyOptions): Promise<VerifyResult> {
  const startedAt = performance.now();
  const progress = options.onProgress ?? (() => undefined);
  const target: EngineTarget = options.target ?? { kind: "in-process" };
  const mapping = options.mapping ?? createDefaultMapping();
  const drain: VerifyDrain = options.drain ?? { kind: "in-process" };
  const common: HarnessRunOptions = {
    db: options.db,
    mapping,
    paths: options.paths,
    target,
    strategy: options.strategy,
    idForm: options.idForm,
    clientsFile: options.clientsFile,
    createClients: options.createClients,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
  };
  // Message rows the run's cases found for their stored ids → the case that
  // first found them: the drain checks exactly these messages' jobs, nothing
  // else the database may hold.
  const touched = new Map<string, { name: string; fixture: string }>();
  const remember = (result: HarnessResult, stage: VerifyStageName) => {
    options.onOutcomes?.(stage, result.cases);
    for (const c of result.cases) {
      for (const id of c.messageRowIds ?? []) if (!touched.has(id)) touched.set(id, { name: c.name, fixture: c.fixture });
    }
  };

  const stages: StageResult[] = [];
  let drainSummary: DrainSummary | undefined;
  const run = async (index: number, name: VerifyStageName, header: string, body: () => Promise<StageResult>) => {
    if (options.signal?.aborted) {
      stages.push(notRun(name, "interrupted before this stage started"));
      return;
    }
    progress(`verify [${index}/4] ${name}: ${header}`);
    const stage = await body();
    if (options.signal?.aborted && stage.completed) {
      stage.completed = false;
      stage.notes.push("interrupted: the stage may not have covered every fixture");
    }
    if (!stage.completed) stage.verdict = combineVerdicts([stage.verdict, "inconclusive"]);
    stages.push(stage);
    progress(`verify [${index}/4] ${name}: ${stage.verdict.toUpperCase()} in ${(stage.durationMs / 1000).toFixed(1)} s`);
  };

  await run(1, "replay", "every fixture delivered, then delivered again", async () => {
    const result = await runReplay({ ...common, times: 2, concurrency: 1, freshIds: false, onProgress: (l) => progress(`  replay ${l}`) });
    throwIfSetupFailure(result.cases); // nothing reached the receiver's logic: exit 2, not a verdict
    remember(result, "replay");
    return fromHarness("replay", result, {
      fixtures: result.cases.length,
      deliveries: sum(result.cases.map((c) => c.deliveries)),
      "p50 ms": result.latency.p50,
    });
  });

  const rounds =
    options.budgetMs !== undefined
      ? `rounds until ${options.budgetMs} ms per fixture are spent`
      : `${options.rounds} round(s) per fixture${options.stallLastRound && options.stall !== false ? ", the last with the messages table's writes held 100 ms" : ""}`;
  await run(2, "race", `N=${options.n} identical deliveries released together, ${rounds}`, async () => {
    const result = await runRace({
      ...common,
      n: options.n,
      rounds: options.rounds,
      budgetMs: options.budgetMs,
      stallLastRound: options.stallLastRound,
      stall: options.stall,
      concurrencyCap: target.kind === "in-process" ? options.concurrencyCap : undefined,
      onProgress: (l) => progress(`  race ${l}`),
    });
    throwIfEngineOverload(result.mode, result.cases); // our own pool ran dry: exit 3, not the receiver's failure
    remember(result, "race");
    const spreads = result.cases.map((c) => c.releaseSpreadMs ?? 0);
    const concurrency = result.cases.filter((c) => c.kind === "message").map((c) => c.peakConcurrency ?? 0);
    const stage = fromHarness("race", result, {
      cases: result.cases.length,
      deliveries: sum(result.cases.map((c) => c.deliveries)),
      "max spread ms": round2(Math.max(0, ...spreads)),
      "min concurrency": concurrency.length > 0 ? Math.min(...concurrency) : 0,
      "p50 ms": result.latency.p50,
    });
    // Under a budget, how often each fixture was caught ("caught in 2 of 5 rounds").
    if (options.budgetMs !== undefined) stage.notes.push(...(result.rounds ?? []).map(describeRounds));
    return stage;
  });

  await run(3, "drain", drain.kind === "in-process" ? "running the jobs the run enqueued (built-in handlers unless --handlers)" : "waiting for your workers to finish the jobs the run enqueued", async () => {
    const stage = await drainStage(options, drain, touched, progress);
    drainSummary = stage.summary;
    return stage.result;
  });

  await run(4, "late-duplicates", "every fixture delivered once more, after its jobs ran", () => lateDuplicateStage(options, common, touched, progress));

  const verdict = combineVerdicts(stages.map((s) => s.verdict));
  return {
    command: "verify",
    verdict,
    mode: target.kind === "in-process" ? "in-process" : "http",
    target: describeTarget(target),
    strategy: describeStrategy(target, options.strategy),
    n: options.n,
    ...(options.budgetMs !== undefined ? { budgetMs: options.budgetMs } : { rounds: options.rounds }),
    paths: options.paths,
    drain: drain.kind,
    stages,
    violations: countStageViolations(stages),
    durationMs: performance.now() - startedAt,
    drainSummary,
  };
}

async function drainStage(
  options: VerifyOptions,
  drain: VerifyDrain,
  touched: Map<string, { name: string; fixture: string }>,
  progress: (line: string) => void,
): Promise<{ result: StageResult; summary?: DrainSummary }> {
  const started = performance.now();
  const ids = [...touched.keys()];
  const checks: InvariantResult[] = [];
  const notes: string[] = [];
  let summary: DrainSummary | undefined;
  let completed = true;
  const mapping = options.mapping ?? createDefaultMapping();
  if (drain.kind === "in-process") {
    // Only this run's jobs are claimed: on a shared database other people's
    // jobs (and their side effects) are not ours to run.
    summary = await drainJobs(options.db, {
      messageIds: ids,
      mode: "once",
      concurrency: drain.concurrency ?? 10,
      // A run's few jobs gain nothing from start connections; they would be
      // two more connection set-ups per verify run.
      startConnections: 0,
      handlers: drain.handlers,
      signal: options.signal,
      onProgress: options.onDrainProgress,
      onWarning: (message) => progress(`  drain warning: ${message}`),
    });
    completed = summary.stoppedBy === "drained";
    if (!completed) notes.push(`the drain stopped early (${summary.stoppedBy})`);
  } else {
    const waited = await waitForWorkers(options, mapping, ids, drain);
    if (!waited.done) notes.push(`jobs still open after ${Math.round(waited.ms / 1000)} s (--drain-timeout): are your workers running?`);
    else notes.push(`your workers finished the run's jobs within ${(waited.ms / 1000).toFixed(1)} s`);
    if (options.signal?.aborted) completed = false;
  }

  const jobs = await mapping.listJobs(options.db, ids);
  const byCase = new Map<string, { fixture: string; jobs: RunJobRow[] }>();
  for (const job of jobs) {
    const owner = touched.get(job.messageId)!;
    let entry = byCase.get(owner.name);
    if (!entry) byCase.set(owner.name, (entry = { fixture: owner.fixture, jobs: [] }));
    entry.jobs.push(job);
  }
  const cases: StageCase[] = [...byCase].map(([name, { fixture, jobs: caseJobs }]) => {
    const invariants = judgeJobs(caseJobs);
    return { name, fixture, verdict: combineVerdicts(invariants.map((i) => i.status)), invariants, notes: [] };
  });
  if (jobs.length === 0) notes.push("the run enqueued no jobs (every fixture was ignored, outbound or a bounce)");
  const open = jobs.filter((j) => j.status === "PENDING" || j.status === "RUNNING").length;
  const numbers: Record<string, number | string> = {
    jobs: jobs.length,
    "succeeded once": jobs.filter((j) => j.status === "SUCCEEDED" && j.attempts === 1).length,
    failed: jobs.filter((j) => j.status === "FAILED").length,
    open,
    retried: jobs.filter((j) => j.attempts > 1).length,
  };
  if (summary) {
    // Claims of any job in the database, not only this run's (a re-run finds its replayed messages' jobs done).
    numbers["drained"] = summary.totals.claimed;
    numbers["jobs/s"] = summary.jobsPerSecond;
  }
  const verdict = combineVerdicts([...cases.map((c) => c.verdict), ...checks.map((c) => c.status)]);
  return { result: { name: "drain", verdict, completed, durationMs: performance.now() - started, numbers, cases, checks, notes }, summary };
}

/** Polls until none of the run's jobs is PENDING or RUNNING, the timeout passes or the run is interrupted. */
async function waitForWorkers(options: VerifyOptions, mapping: ReceiverMapping, ids: string[], drain: Extract<VerifyDrain, { kind: "external" }>): Promise<{ done: boolean; ms: number }> {
  const started = performance.now();
  for (;;) {
    const open = (await mapping.listJobs(options.db, ids)).filter((j) => j.status === "PENDING" || j.status === "RUNNING").length;
    if (open === 0) return { done: true, ms: performance.now() - started };
    if (options.signal?.aborted || performance.now() - started >= drain.timeoutMs) return { done: false, ms: performance.now() - started };
    await new Promise((resolve) => setTimeout(resolve, drain.pollMs ?? 250));
  }
}

const describeJobs = (jobs: readonly RunJobRow[]) =>
  jobs
    .slice(0, 3)
    .map((j) => `${j.type} ${j.id} ${j.status} attempts ${j.attempts}${j.lastError ? ` (${j.lastError.slice(0, 120)})` : ""}`)
    .join("; ") + (jobs.length > 3 ? `; ... (${jobs.length})` : "");

/**
 * One fixture's jobs: all finished, all SUCCEEDED, each on its first attempt.
 * Jobs that fell short only because the database refused them (lastError a
 * transient database state) make an invariant inconclusive, not violated.
 */
export function judgeJobs(jobs: readonly RunJobRow[]): InvariantResult[] {
  const open = jobs.filter((j) => j.status === "PENDING" || j.status === "RUNNING");
  // Open jobs are "jobs-finished"'s to report; this one names the jobs that ended badly.
  const notSucceeded = jobs.filter((j) => j.status !== "SUCCEEDED" && !open.includes(j));
  // An unfinished job has not run yet (or is running): "jobs-finished" reports it, not this.
  const rerun = jobs.filter((j) => (j.status === "SUCCEEDED" || j.status === "FAILED") && j.attempts !== 1);
  const result = (name: string, expected: string, bad: readonly RunJobRow[], okText: string): InvariantResult => {
    if (bad.length === 0) return { name, expected, observed: okText, status: "pass" };
    if (bad.every((j) => isTransientDatabaseError(j.lastError))) {
      return { name, expected, observed: `${describeJobs(bad)}: the database refused (transient), not the receiver`, status: "inconclusive" };
    }
    return { name, expected, observed: describeJobs(bad), status: "fail" };
  };
  return [
    result("jobs-finished", "0 PENDING or RUNNING", open, "0"),
    result("jobs-succeeded", "every finished job SUCCEEDED", notSucceeded, `${jobs.length - open.length} SUCCEEDED`),
    result("jobs-ran-once", "attempts = 1 for every finished job", rerun, "all attempts = 1"),
  ];
}

async function lateDuplicateStage(
  options: VerifyOptions,
  common: HarnessRunOptions,
  touched: ReadonlyMap<string, unknown>,
  progress: (line: string) => void,
): Promise<StageResult> {
  const mapping = common.mapping ?? createDefaultMapping();
  const ids = [...touched.keys()];
  // Scoped to the run's own messages: other traffic on the database (another
  // run, the app's own users) can neither fail nor pass the stage.
  const jobsBefore = (await mapping.countJobs(options.db, ids)).reduce((s, j) => s + j.n, 0);
  // Replay's bytes again (the fixtures as they are, so each names a message
  // the replay stage stored and whose jobs have now run): one delivery each.
  const result = await runReplay({ ...common, times: 1, concurrency: 1, freshIds: false, onProgress: (l) => progress(`  late ${l}`) });
  options.onOutcomes?.("late-duplicates", result.cases);
  const jobsAfter = (await mapping.countJobs(options.db, ids)).reduce((s, j) => s + j.n, 0);
  const newMessages = new Set(result.cases.flatMap((c) => c.messageRowIds ?? []).filter((id) => !touched.has(id))).size;
  const stage = fromHarness("late-duplicates", result, {
    fixtures: result.cases.length,
    deliveries: sum(result.cases.map((c) => c.deliveries)),
    "deduped or ignored": 0,
    "new messages": newMessages,
    "new jobs": jobsAfter - jobsBefore,
  });
  let answered = 0;
  result.cases.forEach((c, i) => {
    // A message fixture must dedupe; an ignored one stays ignored (or, if
    // documented as rejected, rejected again). deduped:false means the
    // receiver took a late duplicate for a new message.
    const good = (o: (typeof c.outcomes)[number]) =>
      c.kind === "message" ? o.deduped === true : o.ignored || o.deduped === true || (o.status !== null && o.status >= 400 && o.status < 500);
    const bad = c.outcomes.filter((o) => !good(o));
    answered += c.outcomes.length - bad.length;
    const inv: InvariantResult =
      bad.length === 0
        ? { name: "late-answer-deduped", expected: c.kind === "message" ? "deduped:true" : "ignored:true", observed: "yes", status: "pass" }
        : {
            name: "late-answer-deduped",
            expected: c.kind === "message" ? "deduped:true" : "ignored:true",
            observed: bad.map((o) => `status ${o.status ?? "error"}, deduped ${o.deduped}${o.error ? `, ${o.error}` : ""}`).join("; "),
            status: "fail",
            witnesses: bad.map((o) => o.slot),
          };
    const sc = stage.cases[i]!;
    sc.invariants.push(inv);
    sc.verdict = combineVerdicts(sc.invariants.map((x) => x.status));
  });
  stage.numbers["deduped or ignored"] = answered;
  const delta = (name: string, label: "messages" | "jobs", d: number): InvariantResult => ({
    name,
    expected: `${label} +0 over the stage`,
    observed: `${label} ${d >= 0 ? "+" : ""}${d}`,
    status: d === 0 ? "pass" : "fail",
  });
  stage.checks.push(delta("late-no-new-messages", "messages", newMessages), delta("late-no-new-jobs", "jobs", jobsAfter - jobsBefore));
  stage.verdict = stageVerdict(stage);
  return stage;
}

function fromHarness(name: VerifyStageName, result: HarnessResult, numbers: Record<string, number | string>): StageResult {
  const cases = result.cases.map(({ name: caseName, fixture, verdict, invariants, notes, outcomes: _outcomes, ...details }): StageCase => ({
    name: caseName,
    fixture,
    verdict,
    invariants: [...invariants],
    notes: [...notes],
    details,
  }));
  const stage: StageResult = { name, verdict: "pass", completed: true, durationMs: result.durationMs, numbers, cases, checks: [], notes: [] };
  stage.verdict = stageVerdict(stage);
  return stage;
}

/** fail > inconclusive > pass over cases and stage checks; a stage with nothing in it proves nothing. */
function stageVerdict(stage: StageResult): InvariantStatus {
  if (stage.cases.length === 0 && stage.checks.length === 0) return "inconclusive";
  return combineVerdicts([...stage.cases.map((c) => c.verdict), ...stage.checks.map((c) => c.status)]);
}

function notRun(name: VerifyStageName, why: string): StageResult {
  return { name, verdict: "inconclusive", completed: false, durationMs: 0, numbers: {}, cases: [], checks: [], notes: [why] };
}

function countStageViolations(stages: readonly StageResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of stages) {
    for (const inv of [...s.cases.flatMap((c) => c.invariants), ...s.checks]) {
      if (inv.status === "fail") counts[`${s.name}/${inv.name}`] = (counts[`${s.name}/${inv.name}`] ?? 0) + 1;
    }
  }
  return counts;
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
const round2 = (v: number) => Math.round(v * 100) / 100;
